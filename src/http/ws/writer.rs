//! A socket's write half, shared by its session and the subscription groups its operations
//! belong to. A group writes its output straight to the socket when nothing waits before it
//! and the socket takes the frame at once; otherwise the output goes to the session's queue,
//! as before. Writing at once saves, per delivery, a queue hand-off, a wake-up of the
//! session's task and a turn of its loop, which cost more than the write itself
//! (docs/benchmarks.md, "Fan-out without a task per delivery").
//!
//! Order. The socket is `behind` from the moment a message is queued until the session has
//! sent everything queued and flushed it; while it is behind, every output is queued. Both
//! sides decide under the one lock, so a direct write never overtakes a queued message, and
//! a frame is always whole on the wire: writes are serialized by the lock.
//!
//! Slow readers. A direct write never waits: a frame the socket does not take at once stays
//! in the write buffer, the socket is behind, and the session finishes the flush under
//! `WS_SEND_TIMEOUT_MS` like every other frame.

use super::session::Outgoing;
use crate::http::AppState;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures::SinkExt as _;
use futures::stream::SplitSink;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc::{self, error::TrySendError};

pub(super) type Sink = SplitSink<WebSocket, Message>;

struct WriterState {
    /// `None` once the session has ended.
    sink: Option<Sink>,
    behind: bool,
}

pub(super) struct SocketWriter {
    state: Mutex<WriterState>,
    /// Where the session takes queued messages from.
    queue: mpsc::Sender<Outgoing>,
    app: AppState,
}

/// What became of a group's output.
pub(super) enum Offered {
    /// Written to the socket, whole.
    Written,
    /// Left to the session: queued behind earlier messages, or buffered for it to flush.
    Queued,
    /// The queue is full: the member must catch up on its own.
    Full,
    /// The socket is gone.
    Gone,
}

impl SocketWriter {
    pub(super) fn new(sink: Sink, queue: mpsc::Sender<Outgoing>, app: AppState) -> Self {
        Self {
            state: Mutex::new(WriterState {
                sink: Some(sink),
                behind: false,
            }),
            queue,
            app,
        }
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A group's output for this socket: its whole `next` message (`frame` shares its bytes
    /// with every member whose message is the same).
    pub(super) fn offer(&self, frame: &Utf8Bytes, event: bool) -> Offered {
        let mut state = self.lock();
        if !state.behind {
            let Some(sink) = state.sink.as_mut() else {
                return Offered::Gone;
            };
            // Nobody is woken by this context: what the socket does not take now, the session
            // takes over (its own polls register its own waker).
            let mut cx = Context::from_waker(Waker::noop());
            match sink.poll_ready_unpin(&mut cx) {
                Poll::Ready(Ok(())) => {
                    if sink.start_send_unpin(Message::Text(frame.clone())).is_err() {
                        return Offered::Gone;
                    }
                    if event {
                        self.app.metrics().event_delivered();
                    }
                    return match sink.poll_flush_unpin(&mut cx) {
                        Poll::Ready(Ok(())) => Offered::Written,
                        Poll::Ready(Err(_)) => Offered::Gone,
                        Poll::Pending => {
                            state.behind = true;
                            // The frame is in the buffer; the session flushes it. A full
                            // queue flushes anyway, with the next message it sends.
                            match self.queue.try_send(Outgoing::Flush) {
                                Err(TrySendError::Closed(_)) => Offered::Gone,
                                Ok(()) | Err(TrySendError::Full(_)) => Offered::Queued,
                            }
                        }
                    };
                }
                Poll::Ready(Err(_)) => return Offered::Gone,
                Poll::Pending => {}
            }
        }
        state.behind = true;
        let message = Outgoing::Frame {
            text: frame.clone(),
            event,
        };
        match self.queue.try_send(message) {
            Ok(()) => Offered::Queued,
            Err(TrySendError::Full(_)) => Offered::Full,
            Err(TrySendError::Closed(_)) => Offered::Gone,
        }
    }

    /// Writes `message` and flushes, with the lock held only while polling; `message = None`
    /// flushes what is buffered. `false` when the socket failed.
    pub(super) async fn send(&self, message: Option<Message>) -> bool {
        let mut pending = message;
        std::future::poll_fn(|cx| {
            let mut state = self.lock();
            let Some(sink) = state.sink.as_mut() else {
                return Poll::Ready(false);
            };
            if pending.is_some() {
                match sink.poll_ready_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(_)) => return Poll::Ready(false),
                    Poll::Ready(Ok(())) => {}
                }
                if let Some(message) = pending.take()
                    && sink.start_send_unpin(message).is_err()
                {
                    return Poll::Ready(false);
                }
            }
            sink.poll_flush_unpin(cx).map(|flushed| flushed.is_ok())
        })
        .await
    }

    /// Called by the session after it sent a queued message: once the queue is empty (its
    /// send flushed everything), groups may write directly again.
    pub(super) fn caught_up(&self, queue: &mpsc::Receiver<Outgoing>) {
        let mut state = self.lock();
        if queue.is_empty() {
            state.behind = false;
        }
    }

    /// The session ended: later outputs find the socket gone.
    pub(super) fn close(&self) -> Option<Sink> {
        self.lock().sink.take()
    }
}
