//! The database-wide consistency check, run directly against PostgreSQL after an outage or a
//! shutdown: every write is whole (its position change, event, ledger row and audit row are
//! all there, or none is) and every idempotency key points at a stored version.

use sea_orm::sqlx::{self, Connection as _, PgConnection, Row as _};

/// Per position: its version, state and the rows that must match them.
const POSITIONS: &str = r"
SELECT p.id::text AS id, p.version::bigint AS version, p.state AS state,
  (SELECT count(*) FROM position_events e WHERE e.position_id = p.id) AS events,
  (SELECT coalesce(max(e.version), 0)::bigint FROM position_events e
     WHERE e.position_id = p.id) AS top,
  (SELECT e.to_state FROM position_events e WHERE e.position_id = p.id
     ORDER BY e.version DESC LIMIT 1) AS last_state,
  (SELECT count(*) FROM ledger_events l WHERE l.position_id = p.id) AS ledger,
  (SELECT count(*) FROM audit_events a WHERE a.resource_id = p.id AND a.outcome = 'SUCCESS'
     AND a.action IN ('createPosition', 'transitionPosition')) AS audits
FROM positions p";

/// Rows that must not exist, each named by what it would mean.
const ORPHANS: [(&str, &str); 5] = [
    (
        "an event without its ledger row",
        r"SELECT count(*) FROM position_events e WHERE NOT EXISTS (
            SELECT 1 FROM ledger_events l WHERE l.position_id = e.position_id
              AND l.new_state = e.to_state AND (l.payload->>'version')::int = e.version)",
    ),
    (
        "a ledger row without its event",
        r"SELECT count(*) FROM ledger_events l WHERE NOT EXISTS (
            SELECT 1 FROM position_events e WHERE e.position_id = l.position_id
              AND e.to_state = l.new_state AND e.version = (l.payload->>'version')::int)",
    ),
    (
        "an event without its audit row",
        r"SELECT count(*) FROM position_events e WHERE NOT EXISTS (
            SELECT 1 FROM audit_events a WHERE a.resource_id = e.position_id
              AND a.outcome = 'SUCCESS' AND (a.payload->>'version')::int = e.version)",
    ),
    (
        "a successful write's audit row without its event",
        r"SELECT count(*) FROM audit_events a WHERE a.outcome = 'SUCCESS'
            AND a.action IN ('createPosition', 'transitionPosition') AND NOT EXISTS (
              SELECT 1 FROM position_events e WHERE e.position_id = a.resource_id
                AND e.version = (a.payload->>'version')::int)",
    ),
    (
        "an idempotency key pointing at no stored version",
        r"SELECT count(*) FROM idempotency_records r WHERE NOT EXISTS (
            SELECT 1 FROM position_events e WHERE e.position_id = r.position_id
              AND e.version = (r.response->>'version')::int)",
    ),
];

/// What the check found: the positions it looked at and every violation.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) positions: usize,
    pub(crate) events: i64,
    pub(crate) violations: Vec<String>,
}

pub(crate) async fn check(url: &str) -> Report {
    let mut db = PgConnection::connect(url)
        .await
        .expect("the consistency check connects");
    let rows = sqlx::query(POSITIONS)
        .fetch_all(&mut db)
        .await
        .expect("positions are readable");
    let mut violations = Vec::new();
    let mut events_total = 0;
    for row in &rows {
        let id: String = row.get("id");
        let version: i64 = row.get("version");
        let state: String = row.get("state");
        let events: i64 = row.get("events");
        let top: i64 = row.get("top");
        let last_state: Option<String> = row.get("last_state");
        let ledger: i64 = row.get("ledger");
        let audits: i64 = row.get("audits");
        events_total += events;
        if events != version || top != version {
            violations.push(format!(
                "position {id} is at version {version} with {events} events (highest {top})"
            ));
        }
        if ledger != version {
            violations.push(format!(
                "position {id} is at version {version} with {ledger} ledger rows"
            ));
        }
        if audits != version {
            violations.push(format!(
                "position {id} is at version {version} with {audits} audit rows"
            ));
        }
        if last_state.as_deref() != Some(state.as_str()) {
            violations.push(format!(
                "position {id} is {state} but its last event went to {last_state:?}"
            ));
        }
    }
    for (meaning, sql) in ORPHANS {
        let found: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut db)
            .await
            .unwrap_or_else(|error| panic!("{meaning}: {error}"));
        if found > 0 {
            violations.push(format!("{found} × {meaning}"));
        }
    }
    Report {
        positions: rows.len(),
        events: events_total,
        violations,
    }
}

/// The stored version and state of `position`.
pub(crate) async fn stored(url: &str, position: &str) -> Option<(i64, String)> {
    let mut db = PgConnection::connect(url).await.expect("connects");
    sqlx::query("SELECT version::bigint AS version, state FROM positions WHERE id = $1::uuid")
        .bind(position)
        .fetch_optional(&mut db)
        .await
        .expect("readable")
        .map(|row| (row.get("version"), row.get("state")))
}

/// Whether a write with this idempotency key committed.
pub(crate) async fn key_stored(url: &str, key: &str) -> bool {
    let mut db = PgConnection::connect(url).await.expect("connects");
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM idempotency_records WHERE key = $1)",
    )
    .bind(key)
    .fetch_one(&mut db)
    .await
    .expect("readable")
}
