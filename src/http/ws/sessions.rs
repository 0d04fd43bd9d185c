//! Open websocket connections, counted so shutdown can wait for their close frames: axum's
//! graceful shutdown stops tracking a connection once it is upgraded.

use std::sync::Arc;
use tokio::sync::watch;

/// Cheap to clone; clones share the count.
#[derive(Clone, Debug)]
pub struct Sessions(Arc<watch::Sender<usize>>);

impl Default for Sessions {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

/// Counts one connection until dropped.
pub(crate) struct SessionGuard(Arc<watch::Sender<usize>>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.send_modify(|open| *open = open.saturating_sub(1));
    }
}

impl Sessions {
    pub(crate) fn enter(&self) -> SessionGuard {
        self.0.send_modify(|open| *open += 1);
        SessionGuard(Arc::clone(&self.0))
    }

    #[must_use]
    pub fn open(&self) -> usize {
        *self.0.borrow()
    }

    /// Resolves once no connection is open.
    pub async fn all_closed(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = open.wait_for(|open| *open == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiting_ends_when_the_last_session_closes() {
        let sessions = Sessions::default();
        let guard = sessions.enter();
        assert_eq!(sessions.open(), 1);
        let waiting = tokio::spawn({
            let sessions = sessions.clone();
            async move { sessions.all_closed().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished());
        drop(guard);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("finished")
            .expect("joined");
        assert_eq!(sessions.open(), 0);
    }
}
