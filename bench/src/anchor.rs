//! The `pgbench` workload: PostgreSQL's own rate in the same run, as the anchor the server's
//! point reads are read against (`report::ratios`). Two rows: `pgbench -S` on a scratch
//! pgbench database, and the server's own point-read statement, captured from
//! pg_stat_activity, replayed by pgbench on the bench database.

use crate::RunInfo;
use crate::args::Args;
use crate::client::Api;
use crate::error::{Context as _, Error, Result};
use crate::meter::{Costs, Meter};
use crate::pgbench;
use crate::postgres::BenchDb;
use crate::queries;
use crate::report::{self, Record};
use crate::seed::SeedData;
use serde_json::{Value, json};

/// `pgbench -S` on a scratch database and the server's point-read statement replayed on the
/// bench database, each for `--seconds` with `--clients` clients on one pgbench thread.
pub(crate) async fn run(
    args: &Args,
    api: &Api,
    db: &BenchDb,
    data: &SeedData,
    meter: &Meter<'_>,
    info: &RunInfo,
) -> Vec<Record> {
    let unavailable = |workload: &'static str, reason: String| {
        eprintln!("bench: {workload} unavailable: {reason}");
        Record::unavailable(
            "postgres",
            workload,
            args.clients,
            reason,
            info.seed,
            info.machine.clone(),
            info.commit.clone(),
        )
    };
    let Some(bin) = pgbench::find(args.pgbench_bin.as_deref()) else {
        let reason = "pgbench not found (install postgresql-contrib or pass --pgbench-bin)";
        return vec![
            unavailable(report::PGBENCH_SELECT_ONLY, reason.to_owned()),
            unavailable(report::PGBENCH_POINT_STATEMENT, reason.to_owned()),
        ];
    };
    let common = |extra: &[&str], url: &str| -> Vec<String> {
        extra
            .iter()
            .map(|arg| (*arg).to_owned())
            .chain([
                "-M".to_owned(),
                "prepared".to_owned(),
                "-c".to_owned(),
                args.clients.to_string(),
                "-j".to_owned(),
                "1".to_owned(),
                "-T".to_owned(),
                args.seconds.to_string(),
                url.to_owned(),
            ])
            .collect()
    };
    let mut records = Vec::new();

    // The physical anchor: pgbench's own primary-key select.
    let select_only = async {
        let scratch = BenchDb::create_tagged(&args.database_url, "pgbench_", false)?;
        pgbench::initialise(&bin, scratch.url())?;
        let reading = meter.start().await?;
        let run = pgbench::run(&bin, &common(&["-S"], scratch.url()))?;
        let costs = meter.finish(reading).await?;
        Ok::<_, Error>((run, costs, json!({})))
    };
    records.push(match select_only.await {
        Ok((run, costs, detail)) => {
            pgbench_record(report::PGBENCH_SELECT_ONLY, args, run, costs, detail, info)
        }
        Err(error) => unavailable(report::PGBENCH_SELECT_ONLY, error.to_string()),
    });

    // The server's own statement, as it sent it for `position(id)`.
    let replay = async {
        let statement = point_statement(api, db, data).await?;
        eprintln!("bench: the server's point-read statement: {statement}");
        db.execute(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} AS SELECT (row_number() OVER (ORDER BY id))::int AS k, * FROM positions; ALTER TABLE {table} ADD PRIMARY KEY (k); ANALYZE {table}",
            table = pgbench::IDS_TABLE
        ))?;
        let rows = db.execute(&format!("SELECT count(*) FROM {}", pgbench::IDS_TABLE))?;
        let rows: u64 = rows
            .trim()
            .parse()
            .context(format!("counting {}", pgbench::IDS_TABLE))?;
        let script = pgbench::script(&statement, rows).map_err(Error::msg)?;
        let script_path = args.out.with_file_name("pgbench-point.sql");
        std::fs::write(&script_path, &script)
            .context(format!("writing {}", script_path.display()))?;
        let path = script_path.display().to_string();
        let reading = meter.start().await?;
        let run = pgbench::run(&bin, &common(&["-n", "-f", &path], db.url()));
        let costs = meter.finish(reading).await?;
        let _ = db.execute(&format!("DROP TABLE IF EXISTS {}", pgbench::IDS_TABLE));
        Ok::<_, Error>((
            run?,
            costs,
            json!({ "statement": statement, "script": script }),
        ))
    };
    records.push(match replay.await {
        Ok((run, costs, detail)) => pgbench_record(
            report::PGBENCH_POINT_STATEMENT,
            args,
            run,
            costs,
            detail,
            info,
        ),
        Err(error) => unavailable(report::PGBENCH_POINT_STATEMENT, error.to_string()),
    });
    records
}

/// Sends `position(id) { id }` alone and reads back, from pg_stat_activity, the statement the
/// server ran on `positions` for it.
async fn point_statement(api: &Api, db: &BenchDb, data: &SeedData) -> Result<String> {
    let id = data
        .positions
        .first()
        .ok_or_else(|| Error::msg("no position was seeded"))?;
    let since = db.clock()?;
    let _: Value = api.must(queries::POSITION_ID, json!({ "id": id })).await?;
    let statements = db.last_statements(&since)?;
    statements
        .iter()
        .find(|statement| {
            statement
                .trim_start()
                .to_ascii_uppercase()
                .starts_with("SELECT")
                && statement.contains("positions")
        })
        .cloned()
        .ok_or_else(|| {
            Error::msg(format!(
                "no SELECT on positions among the server's statements since {since}: {statements:?}"
            ))
        })
}

fn pgbench_record(
    workload: &'static str,
    args: &Args,
    run: pgbench::Run,
    costs: Costs,
    mut detail: Value,
    info: &RunInfo,
) -> Record {
    // pgbench's backends connect after the first reading and are gone by the second, so the
    // meter cannot see their CPU: say "not measured" rather than 0.
    let costs = Costs {
        db_cpu_seconds: None,
        ..costs
    };
    detail["command"] = json!(run.command);
    detail["latency_average_ms"] = json!(run.latency_average_ms);
    detail["pgbench_process_seconds"] = json!(run.elapsed.as_secs_f64());
    Record {
        store: "postgres",
        workload,
        key: None,
        status: "ok".to_owned(),
        clients: args.clients,
        seconds: args.seconds as f64,
        requests: run.transactions,
        errors: run.failed,
        requests_per_second: run.tps,
        latency_ms: None,
        error_latency_ms: None,
        // One SELECT per transaction by construction of both scripts.
        statements_per_request: Some(1.0),
        costs: Some(costs),
        error_samples: Vec::new(),
        detail,
        seed: info.seed,
        machine: info.machine.clone(),
        commit: info.commit.clone(),
    }
}
