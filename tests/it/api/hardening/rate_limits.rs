//! Rate limiting per key: 429 with Retry-After over HTTP, an `error` message over a
//! websocket, batches charged per operation, the root key exempt or separately limited.

use super::{limited, next_json, only_error, serve, socket, wait_for_subscriptions};
use escrowgrid::service::Quota;
use futures::SinkExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_then_recovers() {
    // One token every two seconds: slow enough that a loaded machine cannot refill the bucket
    // between the requests below.
    let server = serve(limited(0.5, 3), None).await;
    let (_, key) = server.tenant().await;
    let query = json!({ "query": "{ viewer { role } }" });
    for _ in 0..3 {
        let (status, _, body) = server.post(&key, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = server.post(&key, &query).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers["retry-after"], "2");
    let error = only_error(&body);
    assert_eq!(error["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(error["extensions"]["retryAfter"], 2);
    assert!(body.get("data").is_none(), "{body}");

    // Waiting as long as told is enough.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, _, body) = server.post(&key, &query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["viewer"]["role"], "ADMIN");

    // The root key is exempt unless configured otherwise.
    for _ in 0..10 {
        let (status, _, body) = server.post(&server.root, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("escrowgrid_rate_limited_total{transport=\"http\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_batch_costs_one_token_per_operation() {
    let server = serve(limited(0.01, 20), None).await;
    let (_, key) = server.tenant().await;
    let operation = json!({ "query": "{ viewer { role } }" });
    let (status, _, body) = server
        .post(&key, &Value::Array(vec![operation.clone(); 15]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, headers, body) = server
        .post(&key, &Value::Array(vec![operation.clone(); 10]))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(only_error(&body)["extensions"]["code"], "RATE_LIMITED");
    let wait: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(wait >= 1, "{wait}");
    // The refused batch spent only its first token: four of the five are left.
    let (status, _, body) = server.post(&key, &Value::Array(vec![operation; 4])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_root_key_can_be_limited_separately() {
    let server = serve(
        |settings| {
            settings.rate_limit.root = Some(Quota {
                per_second: 0.01,
                burst: 20,
            });
        },
        None,
    )
    .await;
    let query = json!({ "query": "{ viewer { role } }" });
    for _ in 0..20 {
        let (status, _, body) = server.post(&server.root, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, _, body) = server.post(&server.root, &query).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn a_subscribe_beyond_the_rate_gets_an_error_message_then_recovers() {
    let server = serve(limited(0.5, 2), None).await;
    let (_, key) = server.tenant().await;
    let mut socket = socket(&server, &key).await;
    let subscribe = |id: &str| {
        let message = json!({
            "type": "subscribe",
            "id": id,
            "payload": { "query": "subscription { positionEvents { id } }" },
        });
        Message::Text(message.to_string().into())
    };
    for id in ["1", "2"] {
        socket.send(subscribe(id)).await.expect("sent");
    }
    wait_for_subscriptions(&server.gauge, 2).await;
    socket.send(subscribe("3")).await.expect("sent");
    let refused = next_json(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "3", "{refused}");
    let errors = refused["payload"].as_array().expect("a list of errors");
    assert_eq!(errors.len(), 1, "{refused}");
    assert_eq!(errors[0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(errors[0]["extensions"]["retryAfter"], 2);
    assert_eq!(server.gauge.current(), 2, "the refused one must not run");

    // HTTP and websocket operations share the key's bucket.
    let (status, _, _) = server
        .post(&key, &json!({ "query": "{ viewer { role } }" }))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // The id is free again, and a token is back after the time it was told.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    socket.send(subscribe("3")).await.expect("sent");
    wait_for_subscriptions(&server.gauge, 3).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("escrowgrid_rate_limited_total{transport=\"websocket\"} 1\n"),
        "{metrics}"
    );
}
