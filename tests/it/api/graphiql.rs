//! The in-browser playground: the page for browsers, its bundles with the right types.

use super::support::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn a_browser_gets_graphiql_without_a_key() {
    let app = TestApp::memory().await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = response.text().await.expect("text");
    assert!(html.contains("/graphql/assets/graphiql.min.js"), "{html}");
}

#[tokio::test]
async fn the_bundles_are_served_with_their_content_types() {
    let app = TestApp::memory().await;
    for (file, content_type) in [
        ("graphiql.min.js", "text/javascript"),
        ("graphiql.min.css", "text/css"),
        ("react.production.min.js", "text/javascript"),
        ("react-dom.production.min.js", "text/javascript"),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/graphql/assets/{file}")))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        let served = response.headers()["content-type"].to_str().expect("ascii");
        assert!(served.starts_with(content_type), "{file}: {served}");
        assert!(!response.bytes().await.expect("body").is_empty(), "{file}");
    }
}

#[tokio::test]
async fn other_asset_names_are_404() {
    let app = TestApp::memory().await;
    for file in ["index.html", "SHA256SUMS", "..%2FCargo.toml"] {
        let response = app
            .client
            .get(app.url(&format!("/graphql/assets/{file}")))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{file}");
    }
}
