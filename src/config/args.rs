//! The command line: every setting is a flag and an environment variable (`--max-aliases` /
//! `MAX_ALIASES`), grouped by topic in `escrowgrid serve --help`, each with its default.

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "escrowgrid",
    version,
    about = "GraphQL gateway for escrow positions"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub args: SettingsArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations to DATABASE_URL and exit.
    Migrate,
    /// Print the GraphQL SDL and exit.
    PrintSchema,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

const SERVER: &str = "Server";
const DATABASE: &str = "Database";
const LIMITS: &str = "Query limits";
const RATE: &str = "Rate limiting";
const TIMEOUTS: &str = "Timeouts and shutdown";
const WEBSOCKET: &str = "WebSocket sessions";
const OBSERVABILITY: &str = "Observability";
const CLIENTS: &str = "Clients without a valid key, connections";
const PERSISTED: &str = "Persisted documents";
const TRACING: &str = "Tracing";

/// Raw flags and environment; `global` so they work before or after the subcommand.
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1", global = true, help_heading = SERVER)]
    pub bind: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 4000, global = true, help_heading = SERVER)]
    pub port: u16,
    /// Root API key (at least 32 characters); unset means a random one, printed once at start.
    #[arg(
        long,
        env = "ROOT_API_KEY",
        global = true,
        hide_env_values = true,
        help_heading = SERVER
    )]
    pub root_api_key: Option<String>,
    /// How long an institution key that authenticated is trusted without a lookup, in
    /// milliseconds; 0 looks every request's key up. Revocations evict at once on the revoking
    /// instance and on the others when PostgreSQL's notification arrives; this bounds the
    /// delay only if that notification is lost.
    #[arg(
        long,
        env = "AUTH_CACHE_TTL_MS",
        default_value_t = 1_000,
        global = true,
        help_heading = SERVER
    )]
    pub auth_cache_ttl_ms: u64,
    /// Institution keys kept in the authentication cache.
    #[arg(
        long,
        env = "AUTH_CACHE_CAPACITY",
        default_value_t = 10_000,
        global = true,
        help_heading = SERVER
    )]
    pub auth_cache_capacity: usize,
    /// Comma-separated origins allowed by CORS (e.g. https://app.example.com); none by default.
    #[arg(long, env = "CORS_ALLOW_ORIGINS", global = true, help_heading = SERVER)]
    pub cors_allow_origin: Option<String>,
    /// Serve GraphiQL to browsers at GET /graphql (switch off in production).
    #[arg(
        long,
        env = "GRAPHIQL",
        default_value_t = true,
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = SERVER
    )]
    pub graphiql: bool,

    /// postgres://… URL; unset means the in-memory store.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        help_heading = DATABASE
    )]
    pub database_url: Option<String>,
    /// Maximum pooled PostgreSQL connections [default: 16].
    #[arg(long, env = "DB_MAX_CONNECTIONS", global = true, help_heading = DATABASE)]
    pub db_max_connections: Option<u32>,
    /// Pooled connections opened before the server says ready, and kept open [default: all
    /// of DB_MAX_CONNECTIONS].
    #[arg(long, env = "DB_MIN_CONNECTIONS", global = true, help_heading = DATABASE)]
    pub db_min_connections: Option<u32>,
    /// How long a query waits for a pooled connection, in milliseconds [default: 5000].
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", global = true, help_heading = DATABASE)]
    pub db_acquire_timeout_ms: Option<u64>,
    /// PostgreSQL statement_timeout in milliseconds; 0 keeps the server's [default: 10000].
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_MS", global = true, help_heading = DATABASE)]
    pub db_statement_timeout_ms: Option<u64>,

    /// Parsed GraphQL documents kept, so a text seen before is neither parsed nor checked
    /// again; 0 switches the cache off.
    #[arg(
        long,
        env = "DOCUMENT_CACHE_ENTRIES",
        default_value_t = 1_000,
        global = true,
        help_heading = LIMITS
    )]
    pub document_cache_entries: usize,
    /// Bytes of document text the cache may hold in all.
    #[arg(
        long,
        env = "DOCUMENT_CACHE_BYTES",
        default_value_t = 16 * 1024 * 1024,
        global = true,
        help_heading = LIMITS
    )]
    pub document_cache_bytes: usize,

    /// A JSON manifest `{ "<sha256>": "<document>" }` of trusted documents, which requests may
    /// name by hash (`extensions.persistedQuery.sha256Hash`).
    #[arg(long, env = "TRUSTED_DOCUMENTS", global = true, help_heading = PERSISTED)]
    pub trusted_documents: Option<std::path::PathBuf>,
    /// Refuse every document that is not in TRUSTED_DOCUMENTS (PERSISTED_QUERY_NOT_IN_LIST),
    /// over HTTP and websockets; clients can no longer register documents.
    #[arg(
        long,
        env = "TRUSTED_DOCUMENTS_ONLY",
        default_value_t = false,
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = PERSISTED
    )]
    pub trusted_documents_only: bool,
    /// Let the root key send any document while TRUSTED_DOCUMENTS_ONLY is on.
    #[arg(
        long,
        env = "TRUSTED_DOCUMENTS_EXEMPT_ROOT",
        default_value_t = false,
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = PERSISTED
    )]
    pub trusted_documents_exempt_root: bool,
    /// Seconds a shared cache (a CDN) may keep a successful GET read, keyed by `Vary` on the
    /// caller's key headers; 0 answers every request `Cache-Control: no-store`.
    #[arg(long, env = "GET_CACHE_MAX_AGE_SECONDS", default_value_t = 0, global = true, help_heading = PERSISTED)]
    pub get_cache_max_age_seconds: u64,

    /// Deepest field nesting a document may reach (1 to 32).
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 15, global = true, help_heading = LIMITS)]
    pub max_query_depth: usize,
    /// Highest cost a document may have; a connection costs `first` × its selection.
    #[arg(
        long,
        env = "MAX_QUERY_COMPLEXITY",
        default_value_t = 250_000,
        global = true,
        help_heading = LIMITS
    )]
    pub max_query_complexity: usize,
    /// Aliases per document.
    #[arg(long, env = "MAX_ALIASES", default_value_t = 30, global = true, help_heading = LIMITS)]
    pub max_aliases: usize,
    /// Root fields per operation.
    #[arg(long, env = "MAX_ROOT_FIELDS", default_value_t = 20, global = true, help_heading = LIMITS)]
    pub max_root_fields: usize,
    /// Lexical tokens per document, checked before parsing (values in variables do not count).
    #[arg(
        long,
        env = "MAX_QUERY_TOKENS",
        default_value_t = 10_000,
        global = true,
        help_heading = LIMITS
    )]
    pub max_query_tokens: usize,
    /// Items in one GraphQL input list (e.g. `states`, `allowedCurrencies`; JSON values excluded).
    #[arg(
        long,
        env = "MAX_INPUT_LIST_LENGTH",
        default_value_t = 200,
        global = true,
        help_heading = LIMITS
    )]
    pub max_input_list_length: usize,
    /// Rows of `Position.events` and `Position.ledgerEvents` one response may hold, all
    /// positions together (each list counts the position's `version`).
    #[arg(
        long,
        env = "MAX_LIST_ROWS",
        default_value_t = 50_000,
        global = true,
        help_heading = LIMITS
    )]
    pub max_list_rows: usize,
    /// Operations in one batched POST (a JSON array).
    #[arg(long, env = "MAX_BATCH_SIZE", default_value_t = 20, global = true, help_heading = LIMITS)]
    pub max_batch_size: usize,
    /// Request body size in bytes; larger bodies get 413.
    #[arg(
        long,
        env = "MAX_BODY_BYTES",
        default_value_t = 1_048_576,
        global = true,
        help_heading = LIMITS
    )]
    pub max_body_bytes: usize,
    /// Answer introspection (`__schema`, `__type`); switch off in production.
    #[arg(
        long,
        env = "INTROSPECTION",
        default_value_t = true,
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = LIMITS
    )]
    pub introspection: bool,
    /// Suggest field names ("Did you mean …?") in validation errors; switch off in production.
    #[arg(
        long,
        env = "FIELD_SUGGESTIONS",
        default_value_t = true,
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = LIMITS
    )]
    pub field_suggestions: bool,

    /// Operations per second each institution key earns; 0 switches per-key limiting off.
    #[arg(
        long,
        env = "RATE_LIMIT_PER_SECOND",
        default_value_t = 50.0,
        global = true,
        help_heading = RATE
    )]
    pub rate_limit_per_second: f64,
    /// Operations an institution key may spend at once (at least MAX_BATCH_SIZE).
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 100, global = true, help_heading = RATE)]
    pub rate_limit_burst: u32,
    /// Operations per second for the root key; 0 (the default) exempts it.
    #[arg(
        long,
        env = "ROOT_RATE_LIMIT_PER_SECOND",
        default_value_t = 0.0,
        global = true,
        help_heading = RATE
    )]
    pub root_rate_limit_per_second: f64,
    /// Operations the root key may spend at once, when it is limited.
    #[arg(
        long,
        env = "ROOT_RATE_LIMIT_BURST",
        default_value_t = 100,
        global = true,
        help_heading = RATE
    )]
    pub root_rate_limit_burst: u32,

    /// How long one HTTP GraphQL request may take, in milliseconds; then 504.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_MS",
        default_value_t = 30_000,
        global = true,
        help_heading = TIMEOUTS
    )]
    pub request_timeout_ms: u64,
    /// On SIGTERM/SIGINT, how long requests in flight get to finish, in milliseconds.
    #[arg(
        long,
        env = "SHUTDOWN_TIMEOUT_MS",
        default_value_t = 20_000,
        global = true,
        help_heading = TIMEOUTS
    )]
    pub shutdown_timeout_ms: u64,
    /// On SIGTERM/SIGINT, how long to keep serving with /ready at 503 before refusing new
    /// connections, so a load balancer stops sending traffic first (part of the timeout).
    #[arg(
        long,
        env = "SHUTDOWN_DRAIN_MS",
        default_value_t = 0,
        global = true,
        help_heading = TIMEOUTS
    )]
    pub shutdown_drain_ms: u64,

    /// How long a client may take to send connection_init, in milliseconds.
    #[arg(
        long,
        env = "WS_INIT_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true,
        help_heading = WEBSOCKET
    )]
    pub ws_init_timeout_ms: u64,
    /// How often the server pings each socket, in milliseconds.
    #[arg(
        long,
        env = "WS_PING_INTERVAL_MS",
        default_value_t = 15_000,
        global = true,
        help_heading = WEBSOCKET
    )]
    pub ws_ping_interval_ms: u64,
    /// Silence after which a socket counts as dead, in milliseconds (above the ping interval).
    #[arg(
        long,
        env = "WS_IDLE_TIMEOUT_MS",
        default_value_t = 45_000,
        global = true,
        help_heading = WEBSOCKET
    )]
    pub ws_idle_timeout_ms: u64,
    /// How long one frame may take to reach a slow reader, in milliseconds.
    #[arg(
        long,
        env = "WS_SEND_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true,
        help_heading = WEBSOCKET
    )]
    pub ws_send_timeout_ms: u64,
    /// Messages queued per socket before its subscriptions wait (they catch up from the log).
    #[arg(long, env = "WS_SEND_BUFFER", default_value_t = 256, global = true, help_heading = WEBSOCKET)]
    pub ws_send_buffer: usize,
    /// Operations one socket may run at once; one more is refused (TOO_MANY_SUBSCRIPTIONS).
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = 100, global = true, help_heading = WEBSOCKET)]
    pub ws_max_subscriptions: usize,
    /// Bytes a socket reads at a time (larger messages arrive in more reads).
    #[arg(long, env = "WS_READ_BUFFER_BYTES", default_value_t = 8192, global = true, help_heading = WEBSOCKET)]
    pub ws_read_buffer_bytes: usize,
    /// Bytes a socket gathers before writing them out (a flush always writes).
    #[arg(long, env = "WS_WRITE_BUFFER_BYTES", default_value_t = 8192, global = true, help_heading = WEBSOCKET)]
    pub ws_write_buffer_bytes: usize,

    /// Comma-separated proxy addresses or CIDR blocks (e.g. 10.0.0.0/8) whose Forwarded /
    /// X-Forwarded-For headers are believed; none by default (the TCP peer is the client).
    #[arg(long, env = "TRUSTED_PROXIES", global = true, help_heading = CLIENTS)]
    pub trusted_proxies: Option<String>,
    /// Failed authentications (no key, malformed, unknown or revoked) each client address
    /// earns per second; past its burst it gets 429 before any lookup. 0 switches it off.
    #[arg(
        long,
        env = "UNAUTHENTICATED_RATE_LIMIT_PER_SECOND",
        default_value_t = 5.0,
        global = true,
        help_heading = CLIENTS
    )]
    pub unauthenticated_rate_limit_per_second: f64,
    /// Failed authentications a client address may make at once.
    #[arg(
        long,
        env = "UNAUTHENTICATED_RATE_LIMIT_BURST",
        default_value_t = 100,
        global = true,
        help_heading = CLIENTS
    )]
    pub unauthenticated_rate_limit_burst: u32,
    /// Open TCP connections overall (websockets included); more are closed on accept.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4096, global = true, help_heading = CLIENTS)]
    pub max_connections: usize,
    /// Open TCP connections per client address (trusted proxies are exempt).
    #[arg(
        long,
        env = "MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 256,
        global = true,
        help_heading = CLIENTS
    )]
    pub max_connections_per_client: usize,
    /// Open websockets per client address; more are closed with 4429.
    #[arg(long, env = "WS_MAX_PER_CLIENT", default_value_t = 256, global = true, help_heading = CLIENTS)]
    pub ws_max_per_client: usize,
    /// Websockets not yet authenticated, overall; more are closed with 4429.
    #[arg(
        long,
        env = "WS_MAX_UNAUTHENTICATED",
        default_value_t = 1024,
        global = true,
        help_heading = CLIENTS
    )]
    pub ws_max_unauthenticated: usize,
    /// How long a connection may take to send a complete request head, in milliseconds.
    #[arg(
        long,
        env = "HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true,
        help_heading = CLIENTS
    )]
    pub http_header_timeout_ms: u64,
    /// How long a keep-alive connection may sit idle between requests, in milliseconds.
    #[arg(
        long,
        env = "HTTP_KEEP_ALIVE_TIMEOUT_MS",
        default_value_t = 60_000,
        global = true,
        help_heading = CLIENTS
    )]
    pub http_keep_alive_timeout_ms: u64,
    /// How long reading a request body may take, in milliseconds; then 408.
    #[arg(
        long,
        env = "HTTP_BODY_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true,
        help_heading = CLIENTS
    )]
    pub http_body_timeout_ms: u64,
    /// How often refused attempts counted in memory are written as one audit row per group
    /// (reason, caller, client address), in milliseconds.
    #[arg(
        long,
        env = "REFUSAL_AUDIT_INTERVAL_MS",
        default_value_t = 60_000,
        global = true,
        help_heading = CLIENTS
    )]
    pub refusal_audit_interval_ms: u64,
    /// Refusal groups remembered between writes; past it new ones are counted as one.
    #[arg(
        long,
        env = "REFUSAL_AUDIT_MAX_GROUPS",
        default_value_t = 10_000,
        global = true,
        help_heading = CLIENTS
    )]
    pub refusal_audit_max_groups: usize,

    /// OpenTelemetry collector (OTLP over HTTP with protobuf), e.g. http://127.0.0.1:4318:
    /// spans go to <url>/v1/traces. Unset, nothing is exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true, help_heading = TRACING)]
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of exported spans.
    #[arg(
        long,
        env = "OTEL_SERVICE_NAME",
        default_value = "escrowgrid",
        global = true,
        help_heading = TRACING
    )]
    pub otel_service_name: String,

    /// Log format; defaults to pretty on a terminal and json otherwise (filter with RUST_LOG).
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true, help_heading = OBSERVABILITY)]
    pub log_format: Option<LogFormat>,
    /// A second address (e.g. 0.0.0.0:9464) serving /metrics without a key, for Prometheus on a
    /// private network; /metrics on the main port always needs the root key.
    #[arg(long, env = "METRICS_ADDR", global = true, help_heading = OBSERVABILITY)]
    pub metrics_addr: Option<String>,
    /// Distinct operation names the metrics keep as labels; later ones count as "other".
    #[arg(
        long,
        env = "METRICS_MAX_OPERATION_NAMES",
        default_value_t = 100,
        global = true,
        help_heading = OBSERVABILITY
    )]
    pub metrics_max_operation_names: usize,
}
