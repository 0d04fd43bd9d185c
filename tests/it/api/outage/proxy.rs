//! A TCP proxy between the app and PostgreSQL, so a test can "stop" the database without
//! touching the shared server: `stop` closes every proxied connection and the listening
//! socket (new connections are refused), `restart` listens again on the same port.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) struct PgProxy {
    address: SocketAddr,
    up: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PgProxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("the proxy listens");
        let address = listener.local_addr().expect("a local address");
        let (up, watch) = watch::channel(true);
        let task = tokio::spawn(serve(listener, address, upstream, watch));
        Self { address, up, task }
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// PostgreSQL "goes down": open connections are closed, new ones refused.
    pub(crate) fn stop(&self) {
        self.up.send_replace(false);
    }

    /// PostgreSQL "comes back" on the same address.
    pub(crate) fn restart(&self) {
        self.up.send_replace(true);
    }
}

async fn serve(
    listener: TcpListener,
    address: SocketAddr,
    upstream: SocketAddr,
    mut up: watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    loop {
        match listener.take() {
            Some(open) => {
                let for_pipes = up.clone();
                tokio::select! {
                    accepted = open.accept() => {
                        if let Ok((client, _)) = accepted {
                            tokio::spawn(pipe(client, upstream, for_pipes));
                        }
                        listener = Some(open);
                    }
                    // Dropping the listener makes connection attempts fail with "refused".
                    _ = up.wait_for(|up| !*up) => {}
                }
            }
            None => {
                if up.wait_for(|up| *up).await.is_err() {
                    return;
                }
                // The port was ours a moment ago; SO_REUSEADDR (set by tokio) lets it rebind.
                listener = loop {
                    match TcpListener::bind(address).await {
                        Ok(open) => break Some(open),
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                };
            }
        }
    }
}

async fn pipe(mut client: TcpStream, upstream: SocketAddr, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        // Both sockets drop here: the app sees its connection end, and PostgreSQL aborts the
        // session's open transaction, as when the server process dies.
        _ = up.wait_for(|up| !*up) => {}
    }
}

/// `url` with its host and port replaced by `address`, and the host and port it named.
pub(crate) async fn redirect(url: &str, address: SocketAddr) -> (String, SocketAddr) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let target = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let upstream = tokio::net::lookup_host(target.as_str())
        .await
        .expect("the database host resolves")
        .next()
        .expect("an address");
    let redirected = format!(
        "{}{}{address}{}",
        &url[..scheme_end],
        &authority[..host_start],
        &rest[authority_end..]
    );
    (redirected, upstream)
}
