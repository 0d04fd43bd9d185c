//! Slow clients are cut off: an incomplete request head, an idle keep-alive connection, a
//! trickled body; and the connection and websocket caps close what is over them at once.

use super::super::ws_support::{Dialect, WsClient};
use super::{ATTACKER, Abused, WAIT, spawn};
use reqwest::StatusCode;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

const HALF_OPEN: &[u8] = b"POST /graphql HTTP/1.1\r\nHost: x\r\n";

async fn connect_from(local: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(IpAddr::from(local), 0))
        .expect("binds to a loopback address");
    socket.connect(server).await.expect("connects")
}

/// Reads until the server closes; returns what it sent. Panics after `WAIT` (a hang).
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open past {WAIT:?}"
    );
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_on_time_and_keep_nobody_out() {
    const CAP: usize = 8;
    let app: Abused = spawn(|settings| {
        settings.clients.header_timeout = Duration::from_millis(300);
        settings.clients.max_connections_per_client = CAP;
    })
    .await;
    let mut half_open = Vec::new();
    for _ in 0..CAP {
        let mut stream = connect_from(ATTACKER, app.address).await;
        stream.write_all(HALF_OPEN).await.expect("sends");
        half_open.push(stream);
    }
    // The address is at its cap: one more connection is closed at once, unanswered.
    let mut over = connect_from(ATTACKER, app.address).await;
    let _ = over.write_all(HALF_OPEN).await;
    assert!(until_closed(&mut over).await.is_empty());
    app.wait_for_metric(
        "escrowgrid_connections_refused_total{cap=\"per_client\"}",
        1,
    )
    .await;
    // Another client is answered meanwhile.
    let response = app.viewer(&app.client, Some(&app.root_key), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Each half-open connection is closed (hyper answers nothing for an incomplete head).
    for stream in &mut half_open {
        until_closed(stream).await;
    }
    app.wait_for_metric(
        "escrowgrid_connections_timed_out_total{phase=\"header\"}",
        CAP as u64,
    )
    .await;
    // Their places are free again.
    let mut stream = connect_from(ATTACKER, app.address).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("sends");
    let answer = until_closed(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_its_timeout() {
    let app = spawn(|settings| {
        settings.clients.header_timeout = Duration::from_secs(60);
        settings.clients.keep_alive_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = connect_from(ATTACKER, app.address).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("sends");
    let answer = until_closed(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    app.wait_for_metric("escrowgrid_connections_timed_out_total{phase=\"idle\"}", 1)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408() {
    let app = spawn(|settings| {
        settings.clients.body_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = connect_from(ATTACKER, app.address).await;
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-API-Key: {}\r\nContent-Length: 100\r\n\r\n{{\"query\":",
        app.root_key
    );
    stream.write_all(head.as_bytes()).await.expect("sends");
    let answer = until_closed(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_over_the_per_client_cap_are_closed_with_4429() {
    let app = spawn(|settings| {
        settings.clients.max_websockets_per_client = 2;
    })
    .await;
    let url = format!("ws://{}/graphql/ws", app.address);
    let _first = WsClient::connect(&url, Dialect::TransportWs).await;
    let _second = WsClient::connect(&url, Dialect::TransportWs).await;
    let mut third = WsClient::connect(&url, Dialect::TransportWs).await;
    third.expect_close(4429).await;
    app.wait_for_metric("escrowgrid_websockets_refused_total", 1)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_from_a_throttled_address_is_closed_with_4429() {
    let app = spawn(|settings| {
        settings.clients.unauthenticated = Some(escrowgrid::service::Quota {
            per_second: 0.001,
            burst: 1,
        });
    })
    .await;
    // The root key authenticates once, before the address is throttled.
    let response = app.viewer(&app.client, Some(&app.root_key), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let url = format!("ws://{}/graphql/ws", app.address);
    let mut first = WsClient::connect(&url, Dialect::TransportWs).await;
    first
        .send_init(serde_json::json!({"apiKey": "egk_nope"}))
        .await;
    first.expect_close(4403).await;
    let mut second = WsClient::connect(&url, Dialect::TransportWs).await;
    second
        .send_init(serde_json::json!({"apiKey": "egk_nope"}))
        .await;
    second.expect_close(4429).await;
    // A key that worked before is still let in.
    let mut third = WsClient::connect(&url, Dialect::TransportWs).await;
    third
        .send_init(serde_json::json!({"apiKey": app.root_key}))
        .await;
    let ack = third.receive(WAIT).await;
    assert!(format!("{ack:?}").contains("connection_ack"), "{ack:?}");
}
