//! A fresh PostgreSQL database per run, created and dropped with `psql`: a benchmark must not
//! start from someone's leftover rows, and `psql` keeps a database driver out of this crate.

use crate::error::{Context as _, Error, Result};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) struct BenchDb {
    admin_url: String,
    name: String,
    url: String,
    keep: bool,
}

impl BenchDb {
    /// Creates `escrowgrid_bench_<unix seconds>_<pid>` next to the database `admin_url` names.
    pub(crate) fn create(admin_url: &str, keep: bool) -> Result<Self> {
        Self::create_tagged(admin_url, "", keep)
    }

    /// `create`, with `tag` after `escrowgrid_bench_` (e.g. `pgbench_`), for scratch
    /// databases created in the same second as the bench database.
    pub(crate) fn create_tagged(admin_url: &str, tag: &str, keep: bool) -> Result<Self> {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let name = format!("escrowgrid_bench_{tag}{seconds}_{}", std::process::id());
        let url = with_database(admin_url, &name)?;
        psql(admin_url, &format!("CREATE DATABASE {name}")).context(format!(
            "creating database {name} (is PostgreSQL running at {admin_url}? set --database-url)"
        ))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
            keep,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` in the bench database itself.
    pub(crate) fn execute(&self, sql: &str) -> Result<String> {
        psql(&self.url, sql)
    }

    /// The database server's clock, as text `last_statements` accepts.
    pub(crate) fn clock(&self) -> Result<String> {
        Ok(psql(&self.admin_url, "SELECT clock_timestamp()")?
            .trim()
            .to_owned())
    }

    /// The statements the bench database's other sessions started at or after `since` (a
    /// `clock` reading), newest first: what the server just ran, exactly as it sent it, with
    /// its `$n` placeholders (pg_stat_activity keeps each session's latest statement).
    pub(crate) fn last_statements(&self, since: &str) -> Result<Vec<String>> {
        let query = format!(
            "SELECT query FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid() AND query_start >= '{}'::timestamptz ORDER BY query_start DESC",
            self.name,
            since.replace('\'', "''")
        );
        // NUL-separated: a statement may span lines.
        let out = psql_with(&self.admin_url, &query, &["-0"])?;
        Ok(out
            .split('\0')
            .map(str::trim)
            .filter(|statement| !statement.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Process ids of the backends connected to the bench database: their CPU time is the
    /// database's share of the work, which the server's own CPU time does not include.
    pub(crate) fn backend_pids(&self) -> Vec<u32> {
        let query = format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{}'",
            self.name
        );
        psql(&self.admin_url, &query)
            .map(|out| {
                out.lines()
                    .filter_map(|line| line.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("bench: kept database {} ({})", self.name, self.url);
            return;
        }
        // FORCE (PostgreSQL 13+) ends connections a crashed server may have left behind.
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = psql(&self.admin_url, &drop) {
            eprintln!("bench: could not drop database {}: {error}", self.name);
        }
    }
}

fn psql(url: &str, sql: &str) -> Result<String> {
    psql_with(url, sql, &[])
}

fn psql_with(url: &str, sql: &str, extra: &[&str]) -> Result<String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(extra)
        .args(["-d", url, "-c", sql])
        .output()
        .context("running psql (install the PostgreSQL client)")?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "psql {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The same server and credentials, another database: replaces the URL's path, keeping any
/// `?options`.
fn with_database(url: &str, database: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base
        .find("://")
        .map(|index| index + 3)
        .ok_or_else(|| Error::msg(format!("--database-url {url:?} is not a postgres:// URL")))?;
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |index| authority_start + index);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_and_options_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b").ok(),
            Some("postgres://postgres@127.0.0.1:5432/b".to_owned())
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "b").ok(),
            Some("postgresql://u:p@h/b?sslmode=disable".to_owned())
        );
        assert_eq!(
            with_database("postgres://h:1", "b").ok(),
            Some("postgres://h:1/b".to_owned())
        );
    }
}
