//! The metrics page: operations by capped name, statement latency, delivered events, and
//! the keyless listener.

use super::{escrow_asset, institution_admin, next_json, socket};
use crate::api::support::{TestApp, TestStore};
use futures::SinkExt as _;
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn metrics_count_operations_by_name_and_cap_the_names() {
    let server = TestApp::new(TestStore::memory())
        .with_config(|settings| settings.metrics.max_operation_names = 2)
        .spawn()
        .await;
    let root = server.root_key.clone();
    for name in ["First", "Second", "Third", "Fourth"] {
        server
            .data(
                &format!("query {name} {{ viewer {{ role }} }}"),
                json!({}),
                &root,
            )
            .await;
    }
    server
        .gql("query Broken { nope }", json!({}), Some(&root))
        .await;
    let metrics = server.metrics().await;
    for line in [
        "escrowgrid_graphql_operation_duration_seconds_count{operation=\"First\",type=\"query\",outcome=\"success\"} 1\n",
        "escrowgrid_graphql_operation_duration_seconds_count{operation=\"Second\",type=\"query\",outcome=\"success\"} 1\n",
        "escrowgrid_graphql_operation_duration_seconds_count{operation=\"other\",type=\"query\",outcome=\"success\"} 2\n",
        "escrowgrid_graphql_operation_duration_seconds_count{operation=\"other\",type=\"query\",outcome=\"rejected\"} 1\n",
        "# TYPE escrowgrid_graphql_operation_duration_seconds histogram\n",
        "# TYPE escrowgrid_subscription_events_delivered_total counter\n",
        "# TYPE escrowgrid_active_subscriptions gauge\n",
        "escrowgrid_db_statements_total ",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    assert!(!metrics.contains("Third"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_metrics_include_statement_latency_and_delivered_events() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let server = TestApp::new(store.with_postgres_metrics())
        .with_config(|settings| settings.metrics.listen = Some(([127, 0, 0, 1], 0).into()))
        .spawn()
        .await;
    let metrics_url = format!(
        "http://{}/metrics",
        server.metrics_address.expect("a metrics listener")
    );
    let (institution, key) = institution_admin(&server).await;
    let asset = escrow_asset(&server, &institution).await;
    let mut socket = socket(&server, &key).await;
    let subscribe = json!({
        "type": "subscribe",
        "id": "events",
        "payload": { "query": "subscription { positionEvents { toState } }" },
    });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .expect("sent");
    server.wait_for_subscriptions(1).await;
    server
        .data("mutation($asset: ID!) { createPosition(input: {assetId: $asset, holderReference: \"M-1\", currency: \"USD\", amount: \"5\"}) { id } }", json!({ "asset": asset }), &key)
        .await;
    let event = next_json(&mut socket).await;
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(
        event["payload"]["data"]["positionEvents"]["toState"],
        "CREATED"
    );

    // The separate listener needs no key; the main one still does.
    let open = server
        .client
        .get(&metrics_url)
        .send()
        .await
        .expect("answers");
    assert_eq!(open.status(), StatusCode::OK);
    let metrics = open.text().await.expect("text");
    let keyless = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("answers");
    assert_eq!(keyless.status(), StatusCode::UNAUTHORIZED);
    for line in [
        "# TYPE escrowgrid_db_statement_duration_seconds histogram\n",
        "escrowgrid_db_statement_duration_seconds_bucket{le=\"+Inf\"} ",
        "escrowgrid_db_statement_failures_total 0\n",
        "escrowgrid_subscription_events_delivered_total 1\n",
        "escrowgrid_active_subscriptions 1\n",
        "escrowgrid_websocket_sessions 1\n",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    let timed: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("escrowgrid_db_statement_duration_seconds_count "))
        .and_then(|count| count.trim().parse().ok())
        .expect("a statement count");
    assert!(timed > 0, "{metrics}");
}
