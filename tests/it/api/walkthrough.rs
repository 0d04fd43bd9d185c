//! The README's example, run as written (the operations are read from README.md) on every
//! store: if the README's GraphQL stops working, this fails.

use super::support::{StoreKind, TestApp};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;

/// The README's ```graphql blocks, by operation name.
fn readme_operations() -> HashMap<String, String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md is readable");
    readme
        .split("```graphql\n")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(operation, _)| operation))
        .map(|operation| {
            let name = operation
                .split_whitespace()
                .nth(1)
                .and_then(|name| name.split(['(', '{']).next())
                .expect("every README operation is named")
                .to_owned();
            (name, operation.to_owned())
        })
        .collect()
}

struct Walk {
    app: TestApp,
    operations: HashMap<String, String>,
}

impl Walk {
    async fn run(&self, name: &str, variables: Value, key: &str) -> Value {
        let operation = self
            .operations
            .get(name)
            .unwrap_or_else(|| panic!("README.md has no operation {name}"));
        self.app.data(operation, variables, key).await
    }
}

async fn the_readme_example_works(kind: StoreKind) {
    let Some(app) = TestApp::on(kind).await else {
        return;
    };
    let walk = Walk {
        operations: readme_operations(),
        app,
    };
    let root = walk.app.root_key.clone();

    let institution = walk.run("CreateInstitution", json!({}), &root).await;
    let institution_id = &institution["createInstitution"]["id"];
    let key = walk
        .run(
            "CreateApiKey",
            json!({ "institutionId": institution_id }),
            &root,
        )
        .await;
    let admin = key["createApiKey"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();

    let template = walk.run("CreateTemplate", json!({}), &admin).await;
    let template_id = &template["createAssetTemplate"]["id"];
    let asset = walk
        .run("CreateAsset", json!({ "templateId": template_id }), &admin)
        .await;
    let position = walk
        .run(
            "CreatePosition",
            json!({ "assetId": asset["createAsset"]["id"] }),
            &admin,
        )
        .await;
    assert_eq!(position["createPosition"]["state"], "CREATED");
    let position_id = position["createPosition"]["id"].clone();

    for (variables, state, released) in [
        (
            json!({"toState": "FUNDED", "reason": "funds received"}),
            "FUNDED",
            "0.00",
        ),
        (
            json!({"toState": "PARTIALLY_RELEASED", "releaseAmount": "100000.00"}),
            "PARTIALLY_RELEASED",
            "100000.00",
        ),
        (json!({"toState": "RELEASED"}), "RELEASED", "250000.00"),
    ] {
        let mut variables = variables;
        variables["positionId"] = position_id.clone();
        let moved = walk.run("TransitionPosition", variables, &admin).await;
        assert_eq!(moved["transitionPosition"]["state"], state);
        assert_eq!(moved["transitionPosition"]["releasedAmount"], released);
    }

    let history = walk
        .run(
            "PositionHistory",
            json!({ "positionId": position_id }),
            &admin,
        )
        .await;
    let position = &history["position"];
    assert_eq!(position["version"], 4);
    assert_eq!(position["asset"]["institution"]["name"], "Harbour Bank");
    let states: Vec<&Value> = position["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| &event["toState"])
        .collect();
    assert_eq!(
        states,
        [
            &json!("CREATED"),
            &json!("FUNDED"),
            &json!("PARTIALLY_RELEASED"),
            &json!("RELEASED")
        ]
    );
    assert_eq!(
        position["ledgerEvents"].as_array().expect("ledger").len(),
        4
    );
}

#[tokio::test]
async fn the_readme_example_works_on_memory() {
    the_readme_example_works(StoreKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_works_on_postgres() {
    the_readme_example_works(StoreKind::Postgres).await;
}
