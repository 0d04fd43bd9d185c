//! Proves the migrations against a real PostgreSQL: up twice is a no-op, the schema and its named
//! constraints exist, and down removes everything. Needs DATABASE_URL; skips loudly without it
//! (and fails under CI, where a silent skip would hide a broken migration).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use migration::{Migrator, MigratorTrait};

const TABLES: [&str; 11] = [
    "institutions",
    "asset_templates",
    "assets",
    "positions",
    "position_events",
    "ledger_events",
    "audit_events",
    "api_keys",
    "policies",
    "idempotency_records",
    "server_secrets",
];

// The adapter maps violations by these names, so a rename must fail here first.
const CONSTRAINTS: [&str; 38] = [
    "institutions_pkey",
    "asset_templates_pkey",
    "asset_templates_institution_id_fkey",
    "asset_templates_code_check",
    "asset_templates_vertical_check",
    "asset_templates_region_check",
    "assets_pkey",
    "assets_institution_id_fkey",
    "assets_template_id_fkey",
    "positions_pkey",
    "positions_institution_id_fkey",
    "positions_asset_id_fkey",
    "positions_currency_check",
    "positions_amount_check",
    "positions_released_amount_check",
    "positions_state_check",
    "positions_version_check",
    "position_events_pkey",
    "position_events_seq_key",
    "position_events_position_id_fkey",
    "position_events_position_version_key",
    "position_events_from_state_check",
    "position_events_to_state_check",
    "position_events_release_amount_check",
    "position_events_version_check",
    "ledger_events_pkey",
    "ledger_events_seq_key",
    "ledger_events_institution_id_fkey",
    "ledger_events_position_id_fkey",
    "ledger_events_kind_check",
    "audit_events_pkey",
    "api_keys_pkey",
    "api_keys_institution_id_fkey",
    "api_keys_role_check",
    "api_keys_key_hash_key",
    "policies_institution_region_key",
    "policies_amount_range_check",
    "idempotency_records_pkey",
];

#[tokio::test(flavor = "multi_thread")]
async fn up_twice_is_a_no_op_and_down_removes_everything() {
    let Ok(base_url) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "DATABASE_URL must be set under CI; refusing to skip the migration test"
        );
        eprintln!(
            "\n*** SKIPPED: DATABASE_URL unset; migration/tests/up_twice.rs did not run ***\n"
        );
        return;
    };

    let name = unique_database_name();
    let admin = Database::connect(base_url.as_str())
        .await
        .expect("connect to DATABASE_URL");
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
        .await
        .expect("create the scratch database");

    // Run the checks in their own task so a failed assertion still lets us drop the database.
    let outcome = tokio::spawn(exercise(with_database(&base_url, &name))).await;

    admin
        .execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .await
        .expect("drop the scratch database");
    admin.close().await.expect("close the admin connection");

    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn exercise(url: String) {
    let db = Database::connect(url.as_str())
        .await
        .expect("connect to the scratch database");

    Migrator::up(&db, None).await.expect("first up");
    Migrator::up(&db, None).await.expect("second up is a no-op");
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .expect("list pending migrations")
            .is_empty()
    );

    // Lost bookkeeping must not break a re-run either: that is what the IF NOT EXISTS guards are for.
    db.execute_unprepared("DELETE FROM seaql_migrations")
        .await
        .expect("forget applied migrations");
    Migrator::up(&db, None)
        .await
        .expect("up over an existing schema");

    assert_eq!(existing_tables(&db).await, sorted(&TABLES));
    let constraints = strings(
        &db,
        "SELECT conname AS name FROM pg_constraint c \
         JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'",
    )
    .await;
    for expected in CONSTRAINTS {
        assert!(
            constraints.iter().any(|c| c == expected),
            "missing constraint {expected}"
        );
    }
    let triggers = strings(
        &db,
        "SELECT tgname AS name FROM pg_trigger WHERE tgrelid = 'position_events'::regclass AND NOT tgisinternal",
    )
    .await;
    // Events are announced after commit by the server, not by a trigger inside the write.
    assert_eq!(triggers, Vec::<String>::new());

    inserts_follow_the_constraints(&db).await;

    Migrator::down(&db, None).await.expect("down");
    assert_eq!(existing_tables(&db).await, Vec::<String>::new());
    let functions = strings(
        &db,
        "SELECT proname AS name FROM pg_proc WHERE proname = 'escrowgrid_notify_position_event'",
    )
    .await;
    assert!(
        functions.is_empty(),
        "down left the trigger function behind"
    );

    db.close().await.expect("close the scratch connection");
}

/// A smoke test that the constraints bite under the names the adapter expects, and that the
/// identity column numbers events without the caller supplying `seq`.
async fn inserts_follow_the_constraints(db: &DatabaseConnection) {
    db.execute_unprepared(
        "INSERT INTO institutions VALUES ('00000000-0000-7000-8000-000000000001', 'Bank', '[\"US\"]', '[]', now(), now());
         INSERT INTO asset_templates VALUES ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001',
             'CONSTR_ESCROW', 'Escrow', 'CONSTRUCTION', 'US', '{\"currency\":\"USD\"}', now(), now());
         INSERT INTO assets VALUES ('00000000-0000-7000-8000-000000000003', '00000000-0000-7000-8000-000000000001',
             '00000000-0000-7000-8000-000000000002', 'Tower A', NULL, now(), now());
         INSERT INTO positions (id, institution_id, asset_id, holder_reference, currency, amount, state, version, created_at, updated_at)
             VALUES ('00000000-0000-7000-8000-000000000004', '00000000-0000-7000-8000-000000000001',
             '00000000-0000-7000-8000-000000000003', 'holder-1', 'USD', 100.5, 'CREATED', 1, now(), now());
         INSERT INTO position_events (id, position_id, institution_id, asset_id, from_state, to_state, version, at)
             VALUES ('00000000-0000-7000-8000-000000000005', '00000000-0000-7000-8000-000000000004',
             '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000003', NULL, 'CREATED', 1, now());",
    )
    .await
    .expect("insert a valid chain of rows");

    let seqs = strings(db, "SELECT seq::text AS name FROM position_events").await;
    assert_eq!(seqs, vec!["1".to_owned()]);

    let violations = [
        (
            "positions_amount_check",
            "UPDATE positions SET amount = 0",
        ),
        (
            "positions_currency_check",
            "UPDATE positions SET currency = 'usd'",
        ),
        (
            "position_events_position_version_key",
            "INSERT INTO position_events (id, position_id, institution_id, asset_id, from_state, to_state, version, at)
             VALUES ('00000000-0000-7000-8000-000000000006', '00000000-0000-7000-8000-000000000004',
             '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000003', 'CREATED', 'FUNDED', 1, now())",
        ),
        (
            "policies_amount_range_check",
            "INSERT INTO policies VALUES ('00000000-0000-7000-8000-000000000007', '00000000-0000-7000-8000-000000000001',
             'US', 10, 5, NULL, now(), now())",
        ),
    ];
    for (constraint, sql) in violations {
        let error = db
            .execute_unprepared(sql)
            .await
            .expect_err(&format!("{constraint} should reject: {sql}"));
        assert!(
            error.to_string().contains(constraint),
            "expected {constraint}, got {error}"
        );
    }
}

async fn existing_tables(db: &DatabaseConnection) -> Vec<String> {
    let mut tables = strings(
        db,
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'",
    )
    .await;
    tables.sort();
    tables
}

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("run a catalogue query")
        .iter()
        .map(|row| {
            row.try_get::<String>("", "name")
                .expect("read a text column")
        })
        .collect()
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
    names.sort();
    names
}

fn unique_database_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "escrowgrid_migration_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `DATABASE_URL` with its database name replaced, keeping any `?query` options.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}
