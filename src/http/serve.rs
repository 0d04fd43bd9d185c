//! The accept loop: hyper's HTTP/1 connections under the connection caps and time limits of
//! `ClientSettings`, with graceful shutdown and websocket upgrades. (`axum::serve` can neither
//! cap connections nor close one whose request head never completes.)
//!
//! Per connection: a complete request head must arrive within `header_timeout` of the
//! connection opening or of the first byte after a response; between requests it may sit
//! idle for `keep_alive_timeout`. Past either it is closed; a request in flight is never
//! cut off here (the request timeout bounds it).

use super::clients::{ClientLimits, ConnectionPermit, Peer};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};
use tower::ServiceExt as _;

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// connection finish the request it is on, and returns once they are all closed (upgraded
/// websockets are not waited for: they have their own shutdown).
///
/// # Errors
/// Never at present; the signature leaves room for fatal listener errors.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Arc<ClientLimits>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let (closing, closing_watch) = watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    accept_error(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Over a cap: closed at once, before a task or a buffer is spent on it.
        let Some(permit) = limits.open_connection(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            permit,
            router.clone(),
            Arc::clone(&limits),
            closing_watch.clone(),
            open.clone(),
        ));
    }
    drop(listener);
    let _ = closing.send(true);
    drop(open);
    let _ = all_closed.recv().await;
    Ok(())
}

/// Per-connection errors (the peer gave up) are routine; others (out of file descriptors)
/// are logged and retried after a pause, so a full table does not spin the loop.
async fn accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed");
    sleep(Duration::from_millis(100)).await;
}

/// Where a connection is between requests, for its time limits.
struct Phase {
    /// When the current wait began: the connection opened, a response was sent, or the
    /// next request's first byte arrived.
    since: Instant,
    in_flight: usize,
    /// Bytes of a request head have arrived since the last response.
    head_started: bool,
    /// At least one request was answered: the wait after it is keep-alive idleness.
    served: bool,
}

/// The phase, and a wake-up for the connection task whenever it changes deadlines.
struct Shared {
    phase: Mutex<Phase>,
    changed: Notify,
}

type Activity = Arc<Shared>;

fn phase(activity: &Activity) -> std::sync::MutexGuard<'_, Phase> {
    activity
        .phase
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// `None` while a request is in flight.
fn deadline(activity: &Activity, limits: &ClientLimits) -> Option<(Instant, bool)> {
    let phase = phase(activity);
    if phase.in_flight > 0 {
        return None;
    }
    let settings = limits.settings();
    let waiting_for_head = phase.head_started || !phase.served;
    let limit = if waiting_for_head {
        settings.header_timeout
    } else {
        settings.keep_alive_timeout
    };
    Some((phase.since + limit, waiting_for_head))
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    permit: ConnectionPermit,
    router: Router,
    limits: Arc<ClientLimits>,
    mut closing: watch::Receiver<bool>,
    _open: mpsc::Sender<()>,
) {
    let activity: Activity = Arc::new(Shared {
        phase: Mutex::new(Phase {
            since: Instant::now(),
            in_flight: 0,
            head_started: false,
            served: false,
        }),
        changed: Notify::new(),
    });
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: Arc::clone(&activity),
        _permit: permit,
    });
    let service_activity = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let router = router.clone();
        let request_done = InFlight::begin(&service_activity);
        request.extensions_mut().insert(Peer(peer));
        async move {
            let response = router.oneshot(request).await;
            drop(request_done);
            response
        }
    });
    let connection = http1::Builder::new()
        // Enforced below, per phase; hyper's own timer would also cut idle keep-alives.
        .header_read_timeout(None)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutting_down = false;
    let far = Duration::from_secs(3600);
    loop {
        // In flight: nothing to enforce until the response (which notifies).
        let (wake, waiting_for_head) =
            deadline(&activity, &limits).unwrap_or((Instant::now() + far, false));
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = closing.wait_for(|closing| *closing), if !shutting_down => {
                // Idle: nothing to finish. Busy: answer the request, then close.
                if deadline(&activity, &limits).is_some() {
                    return;
                }
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
            () = activity.changed.notified() => {}
            () = sleep_until(wake.min(Instant::now() + far)) => {
                // Re-read: a request may have started since the deadline was taken.
                if deadline(&activity, &limits).is_some_and(|(at, _)| at <= Instant::now()) {
                    let counter = if waiting_for_head {
                        &limits.counters.connections_timed_out_head
                    } else {
                        &limits.counters.connections_timed_out_idle
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    // Dropping the connection closes the socket; no request is in flight.
                    return;
                }
            }
        }
    }
}

/// Marks a request in flight from its complete head until its response is handed to hyper.
struct InFlight(Activity);

impl InFlight {
    fn begin(activity: &Activity) -> Self {
        let mut phase = phase(activity);
        phase.in_flight += 1;
        phase.head_started = false;
        drop(phase);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut phase = phase(&self.0);
        phase.in_flight = phase.in_flight.saturating_sub(1);
        phase.served = true;
        phase.since = Instant::now();
        drop(phase);
        self.0.changed.notify_one();
    }
}

/// The socket, noting when a new request head starts arriving, and holding the
/// connection's place under the caps for as long as the socket lives (through an upgrade).
struct Tracked {
    inner: TcpStream,
    activity: Activity,
    _permit: ConnectionPermit,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut phase = phase(&this.activity);
            if phase.in_flight == 0 && !phase.head_started {
                phase.head_started = true;
                phase.since = Instant::now();
                drop(phase);
                this.activity.changed.notify_one();
            }
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
