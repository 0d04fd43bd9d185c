//! Tells every instance's listener that position events have committed: one `pg_notify` after
//! the commit, from a task of its own, instead of a NOTIFY inside the writing transaction.
//!
//! Why not inside: PostgreSQL serializes the commits of all transactions that sent a NOTIFY
//! under one cluster-wide lock held through the commit's WAL flush, so with the NOTIFY in the
//! write every position write in the cluster committed (and fsynced) one after the other.
//! Sent afterwards, from a session with `synchronous_commit = off`, the lock is held only for
//! the notification's own in-memory commit, and the writes commit together (group commit).
//!
//! Nothing depends on a notification for correctness: it only wakes listeners early. The
//! payload is the newest committed writer's transaction id (so a burst of commits costs one
//! notification, not one each), and a listener that hears nothing (this process died between
//! commit and notify, the notifying connection broke) still reads the log on its safety poll.

use super::PgStore;
use super::listener::EVENTS_CHANNEL;
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Pause before trying again after a failed notification (the connection is down: the
/// listeners of other instances catch up on their safety poll meanwhile).
const RETRY_DELAY: Duration = Duration::from_millis(200);
/// How long `shutdown` waits for the last commits to be announced.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(crate) struct Notifier {
    /// The newest committed writer's transaction id; 0 before any.
    committed: watch::Sender<i64>,
    /// The newest transaction id announced.
    announced: watch::Receiver<i64>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Notifier {
    /// `sender` must be a store whose sessions run with `synchronous_commit = off`.
    pub(crate) fn spawn(sender: PgStore) -> Self {
        let (committed, pending) = watch::channel(0_i64);
        let (announce, announced) = watch::channel(0_i64);
        let task = tokio::spawn(announce_commits(sender, pending, announce));
        Self {
            committed,
            announced,
            task: Mutex::new(Some(task)),
        }
    }

    /// A position write of transaction `txn` has committed.
    pub(crate) fn committed(&self, txn: i64) {
        self.committed.send_if_modified(|newest| {
            let newer = txn > *newest;
            if newer {
                *newest = txn;
            }
            newer
        });
    }

    /// Announces what has committed so far (waiting at most `FLUSH_LIMIT`), then stops.
    pub(crate) async fn shutdown(&self) {
        let target = *self.committed.borrow();
        let mut announced = self.announced.clone();
        let flushed = tokio::time::timeout(FLUSH_LIMIT, async {
            announced
                .wait_for(|announced| *announced >= target)
                .await
                .is_ok()
        })
        .await;
        if flushed != Ok(true) {
            tracing::warn!(
                "stopping before the last commits were announced; listeners will find them on their next poll"
            );
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            // Between notifications it only waits, so stopping it cuts no statement short.
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

async fn announce_commits(
    sender: PgStore,
    mut pending: watch::Receiver<i64>,
    announce: watch::Sender<i64>,
) {
    let mut announced = 0_i64;
    loop {
        let newest = *pending.borrow_and_update();
        if newest <= announced {
            if pending.changed().await.is_err() {
                return;
            }
            continue;
        }
        let notify = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [EVENTS_CHANNEL.into(), newest.to_string().into()],
        );
        match sender.connection().execute_raw(notify).await {
            Ok(_) => {
                announced = newest;
                announce.send_replace(announced);
            }
            Err(error) => {
                tracing::warn!(%error, "could not announce committed events; retrying");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}
