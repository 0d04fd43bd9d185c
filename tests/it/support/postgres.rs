//! Fresh PostgreSQL databases for tests: one migrated template per test run, copied with
//! `CREATE DATABASE … TEMPLATE` for every case, and dropped `WITH (FORCE)` when the case ends.
//!
//! Databases are created and dropped by an "admin" thread with its own Tokio runtime: each
//! `#[tokio::test]` has its own runtime, and a connection made on one dies with it, so nothing
//! shared may live on a test's runtime. That thread also holds a session advisory lock named
//! after the run for as long as the process lives. The template cannot be dropped at the end
//! (a test binary has no exit hook), so each run starts by dropping the databases of earlier
//! runs whose lock is gone from `pg_locks`; runs still going (another engineer's, another CI
//! job's) hold theirs, and their databases are left alone.

use super::StoreHandle;
use escrowgrid::adapters::seaorm::{PgStore, PoolSettings};
use escrowgrid::ports::Store;
use sea_orm::sqlx::{self, Connection as _, PgConnection};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::mpsc as sync_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, mpsc, oneshot};
use uuid::Uuid;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const DATABASE_PREFIX: &str = "escrowgrid_t_";
const TEMPLATE_PREFIX: &str = "escrowgrid_tpl_";
/// First key of every run's liveness lock; the second is the run number.
const RUN_LOCK_CLASS: i32 = 0x6567_7274; // "egrt"

/// One case's database: the store on it, and what PostgreSQL-only tests need besides.
/// Dropping it drops the database.
pub(crate) struct TestDb {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) pg: PgStore,
    pub(crate) url: String,
    // Last, because fields drop in order: the pool above closes its connections first, so the
    // DROP rarely has sessions to terminate (PostgreSQL re-checks those only every 100 ms).
    _cleanup: Cleanup,
}

impl StoreHandle for TestDb {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }
}

impl Deref for TestDb {
    type Target = Arc<dyn Store>;

    fn deref(&self) -> &Self::Target {
        &self.store
    }
}

/// Drops a case's database and waits for it. Blocking is fine: the admin thread has its own
/// runtime, so it never waits on the caller's. A failure only leaves a database for the next
/// run's cleanup, so it must not panic (this may run while a failed assertion unwinds).
fn drop_database(admin: &mpsc::UnboundedSender<Command>, name: &str) {
    let (reply, done) = sync_mpsc::channel();
    let sent = admin.send(Command::Drop {
        name: name.to_owned(),
        reply,
    });
    if sent.is_ok() {
        match done.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: could not drop {name}: {error}"),
            Err(_) => eprintln!("warning: timed out dropping {name}"),
        }
    }
}

/// A new, migrated, empty database with a `PgStore` on it; `None` (after a loud banner) when
/// PostgreSQL is not reachable and `CI` is unset.
///
/// # Panics
/// When PostgreSQL is unreachable under `CI`, or a database cannot be created.
pub(crate) async fn fresh_store() -> Option<TestDb> {
    let (admin, name, url) = create_database(true).await?;
    let settings = PoolSettings {
        max_connections: 5,
        min_connections: 0,
        ..PoolSettings::default()
    };
    // Made before connecting, so a failed connect still drops the database.
    let cleanup = Cleanup {
        name: name.clone(),
        admin: admin.commands.clone(),
    };
    let started = Instant::now();
    let pg = PgStore::connect(&url, settings)
        .await
        .unwrap_or_else(|error| panic!("cannot open {name}: {error}"));
    if timings() {
        eprintln!("test-db: connected to {name} in {:?}", started.elapsed());
    }
    Some(TestDb {
        store: Arc::new(pg.clone()),
        pg,
        url,
        _cleanup: cleanup,
    })
}

/// A database with no schema at all, for tests of migrating itself; dropped with the handle.
pub(crate) struct EmptyDb {
    pub(crate) url: String,
    _cleanup: Cleanup,
}

/// `None` under the same conditions as [`fresh_store`].
pub(crate) async fn empty_database() -> Option<EmptyDb> {
    let (admin, name, url) = create_database(false).await?;
    Some(EmptyDb {
        url,
        _cleanup: Cleanup {
            name,
            admin: admin.commands.clone(),
        },
    })
}

async fn create_database(from_template: bool) -> Option<(&'static Admin, String, String)> {
    let admin = match ADMIN.get_or_init(Admin::start).await {
        Ok(admin) => admin,
        Err(reason) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL is required under CI but is not reachable: {reason}"
            );
            eprintln!("SKIPPED (postgres): {reason}");
            return None;
        }
    };
    let name = format!(
        "{DATABASE_PREFIX}{:08x}_{}",
        admin.run,
        &Uuid::now_v7().simple().to_string()[20..]
    );
    let (reply, created) = oneshot::channel();
    admin
        .commands
        .send(Command::Create {
            name: name.clone(),
            from_template,
            reply,
        })
        .expect("the admin thread is running");
    created
        .await
        .expect("the admin thread answers")
        .unwrap_or_else(|error| panic!("cannot create test database {name}: {error}"));
    let url = with_database(&admin.url, &name);
    Some((admin, name, url))
}

/// Drops its database when it goes out of scope, however the case ends.
struct Cleanup {
    name: String,
    admin: mpsc::UnboundedSender<Command>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        drop_database(&self.admin, &self.name);
    }
}

/// `ESCROWGRID_TEST_DB_TIMINGS=1` prints how long each database step takes (with `--nocapture`).
fn timings() -> bool {
    std::env::var_os("ESCROWGRID_TEST_DB_TIMINGS").is_some()
}

/// The admin URL (`DATABASE_URL` or the local default).
pub(crate) fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with `application_name` set, so an app's sessions can be told apart in
/// `pg_stat_activity`.
pub(crate) fn with_application_name(url: &str, application: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={application}")
}

/// `url` with its database name replaced, keeping any `?query` options.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

static ADMIN: OnceCell<Result<Admin, String>> = OnceCell::const_new();

enum Command {
    /// From the run's migrated template, or empty (`from_template: false`).
    Create {
        name: String,
        from_template: bool,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Drop {
        name: String,
        reply: sync_mpsc::Sender<Result<(), String>>,
    },
}

struct Admin {
    url: String,
    run: u32,
    commands: mpsc::UnboundedSender<Command>,
}

impl Admin {
    /// Starts the admin thread and waits until the run's template is migrated.
    async fn start() -> Result<Self, String> {
        let url = admin_url();
        // Below 2^31 so it fits the int4 key of `pg_advisory_lock(int4, int4)`.
        let run = rand::random::<u32>() & 0x7fff_ffff;
        let (commands, inbox) = mpsc::unbounded_channel();
        let (ready, started) = oneshot::channel();
        let thread_url = url.clone();
        std::thread::Builder::new()
            .name("test-db-admin".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready.send(Err(format!("cannot start a runtime: {error}")));
                        return;
                    }
                };
                runtime.block_on(serve(thread_url, run, inbox, ready));
            })
            .map_err(|error| format!("cannot start the admin thread: {error}"))?;
        match started.await {
            Ok(Ok(())) => Ok(Self { url, run, commands }),
            Ok(Err(reason)) => {
                // Straight to the process's stderr: libtest captures `eprintln!` of passing
                // tests, and a skip nobody sees is how a broken store ships.
                let _ = std::io::stderr().write_all(banner(&url, &reason).as_bytes());
                Err(reason)
            }
            Err(_) => Err("the admin thread died while starting".to_owned()),
        }
    }
}

fn banner(url: &str, reason: &str) -> String {
    let url = redacted(url);
    let line = "*".repeat(78);
    format!(
        "\n{line}\n*** SKIPPED: PostgreSQL not reachable at {url}; set DATABASE_URL\n\
         *** ({reason})\n*** PostgreSQL contract cases and postgres_only tests did NOT run.\n{line}\n"
    )
}

/// `url` without its password, fit for a log.
fn redacted(url: &str) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let Some(at) = url[authority..].find('@').map(|i| authority + i) else {
        return url.to_owned();
    };
    match url[authority..at].find(':') {
        Some(colon) => format!("{}:***{}", &url[..authority + colon], &url[at..]),
        None => url.to_owned(),
    }
}

/// The admin thread's life: take the run lock, clear dead runs' leftovers, migrate the
/// template, then create and drop databases on request until the process exits.
async fn serve(
    url: String,
    run: u32,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let started = Instant::now();
    let setup = async {
        let mut lock = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url))
            .await
            .map_err(|_| "connect timed out after 5s".to_owned())?
            .map_err(|error| error.to_string())?;
        sqlx::query("SELECT pg_advisory_lock($1, $2)")
            .bind(RUN_LOCK_CLASS)
            .bind(i32::try_from(run).map_err(|e| e.to_string())?)
            .execute(&mut lock)
            .await
            .map_err(|error| format!("cannot take the run lock: {error}"))?;
        let mut options = ConnectOptions::new(url.as_str());
        options
            .max_connections(4)
            .min_connections(0)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(60))
            .sqlx_logging(false);
        let admin = Database::connect(options)
            .await
            .map_err(|error| error.to_string())?;
        drop_dead_runs(&admin, run).await?;
        let template = format!("{TEMPLATE_PREFIX}{run:08x}");
        execute(&admin, &format!(r#"CREATE DATABASE "{template}""#)).await?;
        let store = PgStore::connect(&with_database(&url, &template), PoolSettings::default())
            .await
            .map_err(|error| format!("cannot migrate the template: {error}"))?;
        // CREATE DATABASE … TEMPLATE refuses a template that anyone is connected to.
        store.close().await.map_err(|error| error.to_string())?;
        Ok::<_, String>((admin, lock, template))
    }
    .await;
    let (admin, lock, template) = match setup {
        Ok(parts) => parts,
        Err(reason) => {
            let _ = ready.send(Err(reason));
            return;
        }
    };
    if timings() {
        eprintln!(
            "test-db: template {template} ready in {:?}",
            started.elapsed()
        );
    }
    let _ = ready.send(Ok(()));
    // Held (never used again) so the run lock lasts exactly as long as this process.
    let _lock = lock;
    while let Some(command) = inbox.recv().await {
        let admin = admin.clone();
        let template = template.clone();
        // Each command on its own task, so concurrent cases create their databases in parallel.
        tokio::spawn(async move {
            match command {
                Command::Create {
                    name,
                    from_template,
                    reply,
                } => {
                    let started = Instant::now();
                    let sql = if from_template {
                        format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#)
                    } else {
                        format!(r#"CREATE DATABASE "{name}""#)
                    };
                    let result = execute(&admin, &sql).await;
                    if timings() {
                        eprintln!("test-db: created {name} in {:?}", started.elapsed());
                    }
                    let _ = reply.send(result);
                }
                Command::Drop { name, reply } => {
                    let started = Instant::now();
                    wait_for_sessions_to_end(&admin, &name).await;
                    let result = execute(
                        &admin,
                        &format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
                    )
                    .await;
                    if timings() {
                        eprintln!("test-db: dropped {name} in {:?}", started.elapsed());
                    }
                    let _ = reply.send(result);
                }
            }
        });
    }
}

/// Gives the case's just-closed sessions a moment to exit: DROP … WITH (FORCE) would terminate
/// them too, but then waits in 100 ms steps, which adds up over hundreds of cases.
async fn wait_for_sessions_to_end(admin: &DatabaseConnection, name: &str) {
    for _ in 0..20 {
        let sessions = admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 AS present FROM pg_stat_activity WHERE datname = $1 LIMIT 1",
                [name.into()],
            ))
            .await;
        if !matches!(sessions, Ok(Some(_))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn execute(admin: &DatabaseConnection, sql: &str) -> Result<(), String> {
    admin
        .execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map(drop)
        .map_err(|error| format!("{sql}: {error}"))
}

/// Drops the databases of earlier runs whose process is gone. `pg_locks` is cluster-wide, so a
/// run counts as alive whichever database its lock connection is on; and since a run takes its
/// lock before creating anything, no live run's database can look abandoned.
async fn drop_dead_runs(admin: &DatabaseConnection, own_run: u32) -> Result<(), String> {
    let rows = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            r"SELECT datname::text AS name FROM pg_database
              WHERE datname LIKE 'escrowgrid\_t\_%' OR datname LIKE 'escrowgrid\_tpl\_%'",
        ))
        .await
        .map_err(|error| error.to_string())?;
    let names: Vec<String> = rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "name").ok())
        .collect();
    let runs: BTreeSet<u32> = names
        .iter()
        .filter_map(|name| run_of(name))
        .filter(|run| *run != own_run)
        .collect();
    for run in runs {
        let alive = admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 AS alive FROM pg_locks WHERE locktype = 'advisory' \
                 AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2",
                [i64::from(RUN_LOCK_CLASS).into(), i64::from(run).into()],
            ))
            .await
            .map_err(|error| error.to_string())?
            .is_some();
        if alive {
            continue;
        }
        for name in names.iter().filter(|name| run_of(name) == Some(run)) {
            // Best effort: a leftover that will not go away must not stop this run.
            if let Err(error) = execute(
                admin,
                &format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
            )
            .await
            {
                eprintln!("warning: could not drop leftover {name}: {error}");
            }
        }
    }
    Ok(())
}

/// The run number in `escrowgrid_t_<run>_<id>` or `escrowgrid_tpl_<run>`.
fn run_of(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix(TEMPLATE_PREFIX)
        .or_else(|| name.strip_prefix(DATABASE_PREFIX))?;
    let hex = rest.split('_').next()?;
    (hex.len() == 8)
        .then(|| u32::from_str_radix(hex, 16).ok())
        .flatten()
}

#[test]
fn run_numbers_parse_and_urls_rewrite() {
    assert_eq!(run_of("escrowgrid_tpl_0000002a"), Some(42));
    assert_eq!(run_of("escrowgrid_t_0000002a_0123456789ab"), Some(42));
    assert_eq!(run_of("escrowgrid_t_other"), None);
    assert_eq!(
        with_database("postgres://u@h:5432/test?sslmode=disable", "x"),
        "postgres://u@h:5432/x?sslmode=disable"
    );
    assert_eq!(
        redacted("postgres://u:secret@h/db"),
        "postgres://u:***@h/db"
    );
    assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
}

/// A raw session holding every institution row FOR UPDATE: each position write checks its
/// rows' foreign keys to the institution (FOR KEY SHARE) inside its transaction, so it parks
/// there until `release`.
pub(crate) async fn park_writes(url: &str) -> PgConnection {
    let mut connection = PgConnection::connect(url).await.expect("connects");
    sqlx::raw_sql("BEGIN; SELECT 1 FROM institutions FOR UPDATE")
        .execute(&mut connection)
        .await
        .expect("locked");
    connection
}

pub(crate) async fn release_writes(connection: &mut PgConnection) {
    sqlx::raw_sql("ROLLBACK")
        .execute(connection)
        .await
        .expect("unlocked");
}
