//! `TRUSTED_PROXIES`: a trusted proxy's `X-Forwarded-For` / `Forwarded` names the client;
//! anyone else's is ignored, so a spoofed header neither escapes the limit nor frames
//! another address.

use super::{Abused, attacker, spawn};
use escrowgrid::http::TrustedProxies;
use escrowgrid::service::Quota;
use reqwest::StatusCode;

const BURST: u32 = 3;

async fn app(trusted: &str) -> Abused {
    let trusted = TrustedProxies::parse(trusted).expect("valid list");
    spawn(move |settings| {
        settings.clients.trusted_proxies = trusted;
        settings.clients.unauthenticated = Some(Quota {
            per_second: 0.001,
            burst: BURST,
        });
    })
    .await
}

async fn exhaust(app: &Abused, client: &reqwest::Client, headers: &[(&str, &str)]) {
    for _ in 0..BURST {
        let response = app.viewer(client, None, headers).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = app("127.0.0.2").await;
    let proxy = attacker();
    exhaust(&app, &proxy, &[("x-forwarded-for", "198.51.100.1")]).await;
    let response = app
        .viewer(&proxy, None, &[("x-forwarded-for", "198.51.100.1")])
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is untouched.
    let response = app
        .viewer(&proxy, None, &[("x-forwarded-for", "198.51.100.2")])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A client cannot dodge by prepending addresses: the right-most untrusted hop counts.
    let response = app
        .viewer(
            &proxy,
            None,
            &[("x-forwarded-for", "203.0.113.7, 198.51.100.1")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // `Forwarded` is read too.
    let response = app
        .viewer(
            &proxy,
            None,
            &[("forwarded", "for=198.51.100.1;proto=https")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let addresses: Vec<String> = app
        .refusal_rows("graphql")
        .await
        .iter()
        .map(|row| {
            row["payload"]["clientAddress"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        addresses.contains(&"198.51.100.1".to_owned()),
        "{addresses:?}"
    );
    assert!(
        addresses.contains(&"198.51.100.2".to_owned()),
        "{addresses:?}"
    );
    assert!(
        !addresses.contains(&"127.0.0.2".to_owned()),
        "{addresses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
    // Only 10.0.0.1 is trusted; the flood comes straight from 127.0.0.2.
    let app = app("10.0.0.1").await;
    let client = attacker();
    for n in 0..BURST {
        let spoofed = format!("198.51.100.{n}");
        let response = app
            .viewer(&client, None, &[("x-forwarded-for", spoofed.as_str())])
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app
        .viewer(&client, None, &[("x-forwarded-for", "192.0.2.99")])
        .await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a fresh header does not reset the limit"
    );
    // The address it spoofed is not limited on its behalf: 127.0.0.1 still gets 401.
    let response = app
        .viewer(&app.client, None, &[("x-forwarded-for", "127.0.0.2")])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let rows = app.refusal_rows("graphql").await;
    assert!(
        rows.iter()
            .all(|row| row["payload"]["clientAddress"] == "127.0.0.2"
                || row["payload"]["clientAddress"] == "127.0.0.1"),
        "{rows:?}"
    );
}
