//! PostgreSQL's own rate in the same run, as the anchor the server's read rates are read
//! against: `pgbench -S` (its built-in primary-key select) on a scratch database, and the
//! server's own point-read statement, captured from `pg_stat_activity`, replayed by pgbench on
//! the bench database. The ratio of the server's `point` req/s to these tps is the number that
//! survives a change of machine.

use crate::error::{Context as _, Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The table the replayed statement draws its ids from: a copy of `positions` with a dense
/// integer key, because pgbench can only draw random integers and the ids are UUIDs.
pub(crate) const IDS_TABLE: &str = "bench_point_ids";

/// `pgbench` on PATH, else the newest /usr/lib/postgresql/<major>/bin/pgbench.
pub(crate) fn find(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pgbench"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(std::result::Result::ok)
            .filter_map(|entry| {
                let major = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin/pgbench");
                bin.is_file().then_some((major, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    })
}

/// What one pgbench run reported.
#[derive(Debug)]
pub(crate) struct Run {
    /// The command as run (database URL included), for the report.
    pub(crate) command: String,
    pub(crate) tps: f64,
    pub(crate) transactions: u64,
    pub(crate) failed: u64,
    pub(crate) latency_average_ms: Option<f64>,
    pub(crate) elapsed: Duration,
}

/// Runs pgbench with `args` (the database last) and parses its summary.
pub(crate) fn run(bin: &Path, args: &[String]) -> Result<Run> {
    let command = std::iter::once(bin.display().to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("bench: running {command}");
    let started = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .output()
        .context(format!("running {}", bin.display()))?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::msg(format!(
            "{command} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let summary = parse(&stdout).ok_or_else(|| {
        Error::msg(format!(
            "{command}: no `tps = …` line in its output:\n{stdout}"
        ))
    })?;
    Ok(Run {
        command,
        tps: summary.tps,
        transactions: summary.transactions,
        failed: summary.failed,
        latency_average_ms: summary.latency_average_ms,
        elapsed,
    })
}

/// Initialises `url` as a scale-1 pgbench database (100 000 accounts).
pub(crate) fn initialise(bin: &Path, url: &str) -> Result<()> {
    let args: Vec<String> = ["-i", "-s", "1", "-q", url]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let out = Command::new(bin)
        .args(&args)
        .output()
        .context(format!("running {} -i", bin.display()))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "pgbench -i failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

struct Summary {
    tps: f64,
    transactions: u64,
    failed: u64,
    latency_average_ms: Option<f64>,
}

fn parse(stdout: &str) -> Option<Summary> {
    let mut tps = None;
    let mut transactions = 0;
    let mut failed = 0;
    let mut latency_average_ms = None;
    for line in stdout.lines().map(str::trim) {
        let first_number =
            |rest: &str| -> Option<f64> { rest.split_whitespace().next()?.parse().ok() };
        if let Some(rest) = line.strip_prefix("tps = ") {
            // PostgreSQL ≤ 13 prints two tps lines; the one without connection time is last.
            tps = first_number(rest).or(tps);
        } else if let Some(rest) = line.strip_prefix("number of transactions actually processed:") {
            transactions = rest.split('/').next()?.trim().parse().ok()?;
        } else if let Some(rest) = line.strip_prefix("number of failed transactions:") {
            failed = first_number(rest).map_or(0, |value| value as u64);
        } else if let Some(rest) = line.strip_prefix("latency average =") {
            latency_average_ms = first_number(rest);
        }
    }
    Some(Summary {
        tps: tps?,
        transactions,
        failed,
        latency_average_ms,
    })
}

/// A pgbench script replaying `statement` (as the server sent it, with `$n` placeholders) for
/// a random one of `rows` ids: every `$n` becomes the same row's value of the column it is
/// compared with, read from `IDS_TABLE` by its dense key. The extra subselect is one index
/// probe of a small table inside the same statement, so the replay is, if anything, slower
/// than the server's own statement: the ratio it gives is not flattering to the server.
pub(crate) fn script(statement: &str, rows: u64) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(statement.len() + 128);
    let mut rest = statement.trim().trim_end_matches(';');
    let mut replaced = 0;
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            continue;
        }
        let before = &rest[..at];
        let (column, array) = column_before(&format!("{out}{before}")).ok_or_else(|| {
            format!(
                "cannot tell which column ${} of the statement is compared with: {statement}",
                &rest[at + 1..at + 1 + digits]
            )
        })?;
        out.push_str(before);
        let select = format!("SELECT \"{column}\" FROM {IDS_TABLE} WHERE k = :k");
        if array {
            out.push_str(&format!("ARRAY({select})"));
        } else {
            out.push_str(&format!("({select})"));
        }
        rest = &rest[at + 1 + digits..];
        replaced += 1;
    }
    out.push_str(rest);
    if replaced == 0 {
        return Err(format!("the statement has no $n parameter: {statement}"));
    }
    Ok(format!("\\set k random(1, {rows})\n{out};\n"))
}

/// For the text before a placeholder, the column it is compared with (`"col" = $n`,
/// `"t"."col" IN ($n)`, `"col" = ANY($n)`), and whether the placeholder is an array.
fn column_before(prefix: &str) -> Option<(String, bool)> {
    let mut text = prefix.trim_end();
    let mut array = false;
    if let Some(inner) = text.strip_suffix('(') {
        let inner = inner.trim_end();
        let upper = inner.to_ascii_uppercase();
        if upper.ends_with("ANY") {
            array = true;
            text = inner[..inner.len() - 3].trim_end().strip_suffix('=')?;
        } else if upper.ends_with(" IN") {
            text = &inner[..inner.len() - 3];
        } else {
            return None;
        }
    } else {
        text = text.strip_suffix('=')?;
    }
    let text = text.trim_end();
    let column = match text.strip_suffix('"') {
        Some(quoted) => &quoted[quoted.rfind('"')? + 1..],
        None => {
            let start = text
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |index| index + 1);
            &text[start..]
        }
    };
    (!column.is_empty()).then(|| (column.to_owned(), array))
}

#[cfg(test)]
mod tests {
    use super::{parse, script};

    #[test]
    fn placeholders_become_the_same_rows_columns() {
        let statement = r#"SELECT "positions"."id", "positions"."state" FROM "positions" WHERE "positions"."institution_id" = $2 AND "positions"."id" = ANY($1)"#;
        let expected = "\\set k random(1, 400)\nSELECT \"positions\".\"id\", \"positions\".\"state\" FROM \"positions\" WHERE \"positions\".\"institution_id\" = (SELECT \"institution_id\" FROM bench_point_ids WHERE k = :k) AND \"positions\".\"id\" = ANY(ARRAY(SELECT \"id\" FROM bench_point_ids WHERE k = :k));\n";
        assert_eq!(script(statement, 400).as_deref(), Ok(expected));
        let listed = r#"SELECT * FROM "positions" WHERE "positions"."id" IN ($1)"#;
        assert_eq!(
            script(listed, 3).as_deref(),
            Ok(
                "\\set k random(1, 3)\nSELECT * FROM \"positions\" WHERE \"positions\".\"id\" IN ((SELECT \"id\" FROM bench_point_ids WHERE k = :k));\n"
            )
        );
        assert!(script(r#"SELECT * FROM "positions" LIMIT $1"#, 3).is_err());
        assert!(script("SELECT 1", 3).is_err());
    }

    #[test]
    fn summary_lines_are_read() {
        let out = "transaction type: <builtin: select only>\nnumber of clients: 16\nnumber of transactions actually processed: 165432\nnumber of failed transactions: 0 (0.000%)\nlatency average = 0.967 ms\ninitial connection time = 12.3 ms\ntps = 16543.123456 (without initial connection time)\n";
        let summary = parse(out).expect("a tps line");
        assert!((summary.tps - 16543.123456).abs() < 1e-6);
        assert_eq!((summary.transactions, summary.failed), (165432, 0));
        assert_eq!(summary.latency_average_ms, Some(0.967));
        assert!(parse("no summary").is_none());
    }
}
