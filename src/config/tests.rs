//! The command line's behaviour: defaults, every flag read, every bad value named.

use super::build::{cors_origins, pool_config};
use super::{Cli, Command, ConfigError, MIN_ROOT_KEY_LEN, Settings, SettingsArgs};
use crate::graphql::SchemaOptions;
use crate::http::HttpSettings;
use crate::service::{ApiKeyToken, Quota, RateLimitConfig};
use clap::Parser as _;
use sha2::Digest as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Parses `list` as the command line. Every setting is given as a flag, so variables in
/// the environment running the tests cannot change the outcome (flags win over env).
fn args(list: &[&str]) -> SettingsArgs {
    let mut argv = vec!["escrowgrid"];
    argv.extend_from_slice(list);
    Cli::parse_from(argv).args
}

fn refused(list: &[&str]) -> ConfigError {
    args(list).into_settings().expect_err("must be refused")
}

#[test]
fn short_root_key_is_refused_with_its_length() {
    let error = refused(&["--root-api-key", "short"]);
    assert_eq!(error, ConfigError::RootKeyTooShort(5));
    assert!(error.to_string().contains("ROOT_API_KEY"));
}

#[test]
fn missing_root_key_is_generated() {
    // An empty flag wins over any ROOT_API_KEY in the environment running the tests.
    let settings = args(&["--root-api-key", ""])
        .into_settings()
        .expect("valid");
    assert!(settings.root_key.generated);
    assert!(settings.root_key.token.expose().len() >= MIN_ROOT_KEY_LEN);
}

#[test]
fn foreign_database_scheme_is_named() {
    let error = refused(&["--database-url", "mysql://u:secret@h/db"]);
    assert_eq!(error, ConfigError::DatabaseUrl("mysql".into()));
    assert!(!error.to_string().contains("secret"));
}

#[test]
fn cors_origins_are_split_and_checked() {
    assert_eq!(
        cors_origins("https://a.example, http://localhost:3000").expect("valid"),
        vec!["https://a.example", "http://localhost:3000"]
    );
    assert_eq!(
        cors_origins("https://a.example/path").expect_err("must be refused"),
        ConfigError::CorsOrigin("https://a.example/path".into())
    );
}

#[test]
fn flags_work_after_the_subcommand() {
    let cli = Cli::parse_from(["escrowgrid", "serve", "--port", "5000", "--bind", "0.0.0.0"]);
    assert_eq!(cli.command, Some(Command::Serve));
    let settings = cli.args.into_settings().expect("valid");
    assert_eq!(settings.port, 5000);
    assert_eq!(settings.bind, IpAddr::from([0, 0, 0, 0]));
}

#[test]
fn zero_statement_timeout_switches_it_off() {
    let pool = pool_config(None, None, None, Some(0)).expect("valid");
    assert_eq!(pool.statement_timeout, Some(None));
    assert!(pool_config(Some(0), None, None, None).is_err());
}

#[test]
fn the_pool_minimum_defaults_to_the_whole_pool_and_may_not_exceed_it() {
    let pool = pool_config(Some(8), None, None, None).expect("valid");
    assert_eq!(pool.min_connections, None, "None: all of the maximum");
    assert_eq!(
        pool_config(Some(8), Some(2), None, None)
            .expect("valid")
            .min_connections,
        Some(2)
    );
    let message = refused(&["--db-max-connections=4", "--db-min-connections=5"]).to_string();
    assert!(message.contains("DB_MIN_CONNECTIONS"), "{message}");
}

#[test]
fn bad_bind_address_is_named() {
    let error = refused(&["--bind", "localhost"]);
    assert_eq!(error, ConfigError::Bind("localhost".into()));
}

/// The defaults `--help` shows are the ones the code uses, except rate limiting, which
/// `Settings::new` leaves off for tests.
#[test]
fn command_line_defaults_match_the_built_in_ones() {
    let from_cli = Cli::parse_from(["escrowgrid"])
        .args
        .into_settings()
        .expect("the defaults are valid");
    let built_in = Settings::new(ApiKeyToken::generate());
    assert_eq!(from_cli.schema, built_in.schema);
    assert_eq!(from_cli.http, built_in.http);
    assert_eq!(from_cli.shutdown, built_in.shutdown);
    assert_eq!(from_cli.metrics, built_in.metrics);
    assert_eq!(
        format!("{:?}", from_cli.websocket),
        format!("{:?}", built_in.websocket)
    );
    assert_eq!(
        from_cli.rate_limit,
        RateLimitConfig {
            per_key: Some(Quota {
                per_second: 50.0,
                burst: 100
            }),
            ..RateLimitConfig::default()
        }
    );
}

#[test]
fn every_knob_is_read_from_its_flag() {
    let settings = args(&[
        "--max-query-depth=7",
        "--max-query-complexity=99",
        "--max-aliases=3",
        "--max-root-fields=4",
        "--max-query-tokens=500",
        "--max-input-list-length=9",
        "--max-list-rows=40",
        "--max-batch-size=5",
        "--max-body-bytes=4096",
        "--introspection=false",
        "--field-suggestions=off",
        "--graphiql=no",
        "--rate-limit-per-second=2.5",
        "--rate-limit-burst=6",
        "--root-rate-limit-per-second=10",
        "--root-rate-limit-burst=20",
        "--request-timeout-ms=1500",
        "--shutdown-timeout-ms=3000",
        "--shutdown-drain-ms=1000",
        "--ws-init-timeout-ms=100",
        "--ws-ping-interval-ms=200",
        "--ws-idle-timeout-ms=600",
        "--ws-send-timeout-ms=300",
        "--ws-send-buffer=8",
        "--ws-max-subscriptions=3",
        "--metrics-addr=127.0.0.1:9464",
        "--metrics-max-operation-names=7",
        "--get-cache-max-age-seconds=30",
    ])
    .into_settings()
    .expect("valid");
    assert_eq!(
        settings.schema,
        SchemaOptions {
            max_depth: 7,
            max_complexity: 99,
            max_aliases: 3,
            max_root_fields: 4,
            max_tokens: 500,
            max_input_list_length: 9,
            max_list_rows: 40,
            introspection: false,
            suggestions: false,
        }
    );
    assert_eq!(
        settings.http,
        HttpSettings {
            max_body_bytes: 4096,
            max_batch_size: 5,
            request_timeout: Duration::from_millis(1500),
            graphiql: false,
            get_cache_max_age: Duration::from_secs(30),
        }
    );
    assert_eq!(
        settings.rate_limit.per_key,
        Some(Quota {
            per_second: 2.5,
            burst: 6
        })
    );
    assert_eq!(
        settings.rate_limit.root,
        Some(Quota {
            per_second: 10.0,
            burst: 20
        })
    );
    assert_eq!(settings.shutdown.drain, Duration::from_millis(1000));
    assert_eq!(settings.websocket.idle_timeout, Duration::from_millis(600));
    assert_eq!(settings.websocket.send_buffer, 8);
    assert_eq!(settings.websocket.max_subscriptions, 3);
    assert_eq!(
        settings.metrics.listen,
        Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
    );
    assert_eq!(settings.metrics.max_operation_names, 7);
}

#[test]
fn a_zero_rate_switches_limiting_off() {
    let settings = args(&["--rate-limit-per-second=0"])
        .into_settings()
        .expect("valid");
    assert_eq!(settings.rate_limit.per_key, None);
}

#[test]
fn websocket_buffers_are_configurable_and_a_zero_read_buffer_is_refused() {
    let defaults = args(&[]).into_settings().expect("valid");
    assert_eq!(defaults.websocket.read_buffer_bytes, 8192);
    assert_eq!(defaults.websocket.write_buffer_bytes, 8192);
    let settings = args(&["--ws-read-buffer-bytes=4096", "--ws-write-buffer-bytes=0"])
        .into_settings()
        .expect("valid");
    assert_eq!(settings.websocket.read_buffer_bytes, 4096);
    assert_eq!(settings.websocket.write_buffer_bytes, 0);
    let message = refused(&["--ws-read-buffer-bytes=0"]).to_string();
    assert!(message.contains("WS_READ_BUFFER_BYTES"), "{message}");
}

#[test]
fn the_document_cache_is_configurable_and_zero_entries_switch_it_off() {
    let settings = args(&["--document-cache-entries=0", "--document-cache-bytes=4096"])
        .into_settings()
        .expect("valid");
    assert_eq!(settings.document_cache.max_entries, 0);
    assert_eq!(settings.document_cache.max_bytes, 4096);
    let message = refused(&["--document-cache-bytes=0"]).to_string();
    assert!(message.contains("DOCUMENT_CACHE_BYTES"), "{message}");
}

#[test]
fn the_authentication_cache_is_configurable_and_zero_switches_it_off() {
    let defaults = args(&[]).into_settings().expect("valid");
    assert_eq!(defaults.key_cache.ttl, Duration::from_secs(1));
    assert_eq!(defaults.key_cache.capacity, 10_000);
    let settings = args(&["--auth-cache-ttl-ms=0", "--auth-cache-capacity=5"])
        .into_settings()
        .expect("valid");
    assert_eq!(settings.key_cache.ttl, Duration::ZERO);
    assert_eq!(settings.key_cache.capacity, 5);
    let message = refused(&["--auth-cache-capacity=0"]).to_string();
    assert!(message.contains("AUTH_CACHE_CAPACITY"), "{message}");
}

#[test]
fn bad_values_are_refused_naming_the_setting_and_the_value() {
    for (flags, named, value) in [
        (vec!["--max-query-depth=0"], "MAX_QUERY_DEPTH", "0"),
        (vec!["--max-query-depth=40"], "MAX_QUERY_DEPTH", "40"),
        (vec!["--max-query-tokens=0"], "MAX_QUERY_TOKENS", "0"),
        (vec!["--max-batch-size=0"], "MAX_BATCH_SIZE", "0"),
        (vec!["--max-list-rows=0"], "MAX_LIST_ROWS", "0"),
        (vec!["--max-body-bytes=10"], "MAX_BODY_BYTES", "10"),
        (
            vec!["--rate-limit-per-second=-1"],
            "RATE_LIMIT_PER_SECOND",
            "-1",
        ),
        (
            vec!["--rate-limit-per-second=NaN"],
            "RATE_LIMIT_PER_SECOND",
            "NaN",
        ),
        (
            vec!["--rate-limit-burst=5", "--max-batch-size=20"],
            "RATE_LIMIT_BURST",
            "5",
        ),
        (vec!["--request-timeout-ms=0"], "REQUEST_TIMEOUT_MS", "0"),
        (
            vec!["--shutdown-timeout-ms=1000", "--shutdown-drain-ms=1000"],
            "SHUTDOWN_DRAIN_MS",
            "1000",
        ),
        (
            vec!["--ws-ping-interval-ms=1000", "--ws-idle-timeout-ms=900"],
            "WS_IDLE_TIMEOUT_MS",
            "900",
        ),
        (vec!["--ws-send-buffer=0"], "WS_SEND_BUFFER", "0"),
        (vec!["--metrics-addr=nowhere"], "METRICS_ADDR", "nowhere"),
    ] {
        let message = refused(&flags).to_string();
        assert!(
            message.contains(named) && message.contains(value),
            "{flags:?}: {message}"
        );
    }
}

#[test]
fn help_documents_every_setting_with_its_variable() {
    use clap::CommandFactory as _;
    let shown = Cli::command()
        .try_get_matches_from(["escrowgrid", "serve", "--help"])
        .expect_err("--help stops parsing");
    assert_eq!(shown.kind(), clap::error::ErrorKind::DisplayHelp);
    let help = shown.to_string();
    for variable in [
        "BIND",
        "PORT",
        "DATABASE_URL",
        "ROOT_API_KEY",
        "CORS_ALLOW_ORIGINS",
        "GRAPHIQL",
        "DB_MAX_CONNECTIONS",
        "DB_ACQUIRE_TIMEOUT_MS",
        "DB_STATEMENT_TIMEOUT_MS",
        "MAX_QUERY_DEPTH",
        "MAX_QUERY_COMPLEXITY",
        "MAX_ALIASES",
        "MAX_ROOT_FIELDS",
        "MAX_QUERY_TOKENS",
        "MAX_INPUT_LIST_LENGTH",
        "MAX_LIST_ROWS",
        "MAX_BATCH_SIZE",
        "MAX_BODY_BYTES",
        "INTROSPECTION",
        "FIELD_SUGGESTIONS",
        "RATE_LIMIT_PER_SECOND",
        "RATE_LIMIT_BURST",
        "ROOT_RATE_LIMIT_PER_SECOND",
        "ROOT_RATE_LIMIT_BURST",
        "REQUEST_TIMEOUT_MS",
        "SHUTDOWN_TIMEOUT_MS",
        "SHUTDOWN_DRAIN_MS",
        "WS_INIT_TIMEOUT_MS",
        "WS_PING_INTERVAL_MS",
        "WS_IDLE_TIMEOUT_MS",
        "WS_SEND_TIMEOUT_MS",
        "WS_SEND_BUFFER",
        "WS_MAX_SUBSCRIPTIONS",
        "LOG_FORMAT",
        "METRICS_ADDR",
        "METRICS_MAX_OPERATION_NAMES",
        "TRUSTED_DOCUMENTS",
        "TRUSTED_DOCUMENTS_ONLY",
        "TRUSTED_DOCUMENTS_EXEMPT_ROOT",
        "GET_CACHE_MAX_AGE_SECONDS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SERVICE_NAME",
    ] {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "--help lacks {variable}"
        );
    }
}

/// A manifest file in the temporary directory, removed when dropped.
struct Manifest(std::path::PathBuf);

impl Manifest {
    fn new(json: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("escrowgrid-manifest-{}.json", uuid::Uuid::now_v7()));
        std::fs::write(&path, json).expect("the temporary directory is writable");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for Manifest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_trusted_documents_manifest_is_loaded_and_a_bad_one_is_refused_naming_the_file() {
    let document = "{ viewer { role } }";
    let good = Manifest::new(
        &serde_json::json!({ hex::encode(sha2::Sha256::digest(document)): document }).to_string(),
    );
    let settings = args(&[
        "--trusted-documents",
        good.path(),
        "--trusted-documents-only",
        "true",
    ])
    .into_settings()
    .expect("valid");
    assert_eq!(
        settings
            .persisted
            .trusted
            .as_ref()
            .map(|trusted| trusted.len()),
        Some(1)
    );
    assert!(settings.persisted.trusted_only);
    assert!(
        !settings.persisted.exempt_root,
        "the root key is not exempt by default"
    );

    let wrong = Manifest::new(&serde_json::json!({ "00".repeat(32): document }).to_string());
    for (path, reason) in [
        (wrong.path(), "is not the SHA-256 of its document"),
        ("/nonexistent/manifest.json", "No such file"),
    ] {
        let error = refused(&["--trusted-documents", path]);
        let message = error.to_string();
        assert!(
            message.contains("TRUSTED_DOCUMENTS")
                && message.contains(path)
                && message.contains(reason),
            "{message}"
        );
    }
    assert_eq!(
        refused(&["--trusted-documents-only", "true"]),
        ConfigError::TrustedDocumentsMissing
    );
}
