//! A flood of refused requests: grouped in the audit, throttled after its burst, and no
//! obstacle to a legitimate client.

use super::{Abused, WAIT, attacker, counted, spawn};
use escrowgrid::service::{ApiKeyToken, Quota};
use reqwest::StatusCode;
use serde_json::json;

const BURST: u32 = 20;

async fn limited() -> Abused {
    spawn(|settings| {
        // Barely refills during the test, so the counts below are exact.
        settings.clients.unauthenticated = Some(Quota {
            per_second: 0.001,
            burst: BURST,
        });
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_writes_one_row_per_interval_and_is_throttled_after_its_burst() {
    let app = limited().await;
    let legitimate = app.client.clone();
    let flood = {
        let url = app.url("/graphql");
        tokio::spawn(async move {
            let client = attacker();
            let mut statuses = Vec::new();
            // 16 keep-alive connections' worth of concurrency, as in the issue.
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let (client, url) = (client.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    let mut seen = Vec::new();
                    for _ in 0..10 {
                        let response = client
                            .post(&url)
                            .header("X-API-Key", "egk_nope")
                            .json(&json!({ "query": "{ viewer { role } }" }))
                            .send()
                            .await
                            .expect("answers");
                        let retry_after = response.headers().get("retry-after").cloned();
                        seen.push((response.status(), retry_after));
                    }
                    seen
                }));
            }
            for task in tasks {
                statuses.extend(task.await.expect("flood task"));
            }
            statuses
        })
    };
    // A legitimate client answered while the flood runs (its latency is in the benchmark).
    for _ in 0..10 {
        let response = app.viewer(&legitimate, Some(&app.root_key), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let statuses = tokio::time::timeout(WAIT, flood)
        .await
        .expect("the flood is answered in time")
        .expect("flood");
    let refused = statuses
        .iter()
        .filter(|(status, _)| *status == StatusCode::UNAUTHORIZED)
        .count();
    let throttled: Vec<_> = statuses
        .iter()
        .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    // Concurrent requests may pass the check before the last token is spent.
    assert!(
        (BURST as usize..=BURST as usize + 16).contains(&refused),
        "{refused} answered 401"
    );
    assert_eq!(refused + throttled.len(), 160);
    assert!(
        throttled
            .iter()
            .all(|(_, retry)| retry.as_ref().is_some_and(|value| value
                .to_str()
                .is_ok_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)))),
        "every 429 says when to retry"
    );

    // One row so far: the group's first refusal, with its request id and the address.
    let rows = app.refusal_rows("graphql").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["outcome"], "UNAUTHENTICATED");
    assert_eq!(rows[0]["payload"]["reason"], "malformed_key");
    assert_eq!(rows[0]["payload"]["clientAddress"], "127.0.0.2");
    assert!(rows[0]["requestId"].is_string());
    assert_eq!(
        app.metric("escrowgrid_refusals_total{reason=\"malformed_key\"}")
            .await,
        refused as u64
    );

    // The interval ends: one summary row for the rest; the 429s were never authenticated.
    assert_eq!(app.refusals.flush().await, 1);
    let rows = app.refusal_rows("graphql").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(counted(&rows), refused as u64);
    assert!(rows.iter().any(|row| row["payload"]["summary"] == true));

    // Still throttled, and nothing more to write.
    let response = app.viewer(&attacker(), Some("egk_nope"), &[]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.refusals.flush().await, 0);
    assert!(
        app.metric("escrowgrid_client_throttled_total{transport=\"http\"}")
            .await
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_authenticated_passes_from_a_throttled_address() {
    let app = limited().await;
    let from_attacker = attacker();
    // The root key authenticates once from the address…
    let response = app.viewer(&from_attacker, Some(&app.root_key), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    // …which then exhausts its failures…
    for _ in 0..BURST {
        let response = app.viewer(&from_attacker, None, &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.viewer(&from_attacker, None, &[]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // …and the valid key still gets answers, without spending anything.
    for _ in 0..5 {
        let response = app.viewer(&from_attacker, Some(&app.root_key), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_key_is_refused_without_a_store_lookup() {
    let app = spawn(|_| {}).await;
    let statements = "escrowgrid_db_statements_total";
    // The first refusal of each group writes its row; the repeats are what is measured.
    for key in ["egk_nope", ApiKeyToken::generate().expose()] {
        let response = app.viewer(&app.client, Some(key), &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let before = app.metric(statements).await;
    let response = app.viewer(&app.client, Some("egk_nope"), &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.metric(statements).await,
        before,
        "no lookup for a malformed key"
    );
    let unknown = ApiKeyToken::generate();
    let response = app.viewer(&app.client, Some(unknown.expose()), &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.metric(statements).await,
        before + 1,
        "one lookup for a well-formed unknown key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_attempts_are_grouped_under_the_callers_institution() {
    let app = spawn(|_| {}).await;
    let data = app
        .root(
            "mutation($input: CreateInstitutionInput!) { createInstitution(input: $input) { id } }",
            json!({"input": {"name": "Acme", "regions": ["US"], "verticals": ["CONSTRUCTION"]}}),
        )
        .await;
    let institution = data["createInstitution"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let data = app
        .root(
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { token } }",
            json!({"input": {"institutionId": institution, "label": "k", "role": "ADMIN"}}),
        )
        .await;
    let key = data["createApiKey"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    for _ in 0..5 {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("X-API-Key", &key)
            .json(&json!({
                "query": "mutation($input: CreateInstitutionInput!) { createInstitution(input: $input) { id } }",
                "variables": {"input": {"name": "Evil", "regions": ["US"], "verticals": ["CONSTRUCTION"]}}
            }))
            .send()
            .await
            .expect("answers");
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{body}"
        );
    }
    let rows = app.refusal_rows("createInstitution").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(app.refusals.flush().await, 1);
    let rows = app.refusal_rows("createInstitution").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(counted(&rows), 5);
    for row in &rows {
        assert_eq!(row["outcome"], "FORBIDDEN");
        assert_eq!(row["institutionId"], institution.as_str(), "{row}");
        assert!(row["apiKeyId"].is_string(), "{row}");
    }
}
