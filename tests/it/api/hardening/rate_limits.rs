//! Rate limiting per key: 429 with Retry-After over HTTP, an `error` message over a
//! websocket, batches charged per operation, the root key exempt or separately limited.

use super::{institution_admin, limited, next_json, only_error, socket};
use crate::api::support::{TestApp, TestClock, TestStore};
use escrowgrid::service::Quota;
use futures::SinkExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_then_recovers() {
    // One token every two seconds, on a clock that moves only when the test says.
    let clock = TestClock::new();
    let server = TestApp::new(TestStore::memory())
        .with_config(limited(0.5, 3))
        .with_config(|settings| settings.rate_limit.clock = clock.clock())
        .spawn()
        .await;
    let (_, key) = institution_admin(&server).await;
    let query = json!({ "query": "{ viewer { role } }" });
    for _ in 0..3 {
        let (status, _, body) = server.post_json(Some(&key), &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = server.post_json(Some(&key), &query).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers["retry-after"], "2");
    let error = only_error(&body);
    assert_eq!(error["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(error["extensions"]["retryAfter"], 2);
    assert!(body.get("data").is_none(), "{body}");

    // Waiting as long as told is enough.
    clock.advance(Duration::from_secs(2));
    let (status, _, body) = server.post_json(Some(&key), &query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["viewer"]["role"], "ADMIN");

    // The root key is exempt unless configured otherwise.
    for _ in 0..10 {
        let (status, _, body) = server.post_json(Some(&server.root_key), &query).await;
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
    let server = TestApp::new(TestStore::memory())
        .with_config(limited(0.01, 20))
        .spawn()
        .await;
    let (_, key) = institution_admin(&server).await;
    let operation = json!({ "query": "{ viewer { role } }" });
    let (status, _, body) = server
        .post_json(Some(&key), &Value::Array(vec![operation.clone(); 15]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, headers, body) = server
        .post_json(Some(&key), &Value::Array(vec![operation.clone(); 10]))
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
    let (status, _, body) = server
        .post_json(Some(&key), &Value::Array(vec![operation; 4]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_root_key_can_be_limited_separately() {
    let server = TestApp::new(TestStore::memory())
        .with_config(|settings| {
            settings.rate_limit.root = Some(Quota {
                per_second: 0.01,
                burst: 20,
            });
        })
        .spawn()
        .await;
    let query = json!({ "query": "{ viewer { role } }" });
    for _ in 0..20 {
        let (status, _, body) = server.post_json(Some(&server.root_key), &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, _, body) = server.post_json(Some(&server.root_key), &query).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn a_subscribe_beyond_the_rate_gets_an_error_message_then_recovers() {
    let clock = TestClock::new();
    let server = TestApp::new(TestStore::memory())
        .with_config(limited(0.5, 2))
        .with_config(|settings| settings.rate_limit.clock = clock.clock())
        .spawn()
        .await;
    let (_, key) = institution_admin(&server).await;
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
    server.wait_for_subscriptions(2).await;
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
        .post_json(Some(&key), &json!({ "query": "{ viewer { role } }" }))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // The id is free again, and a token is back after the time it was told.
    clock.advance(Duration::from_secs(2));
    socket.send(subscribe("3")).await.expect("sent");
    server.wait_for_subscriptions(3).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("escrowgrid_rate_limited_total{transport=\"websocket\"} 1\n"),
        "{metrics}"
    );
}
