//! The tenancy matrix over HTTP on both stores: institutions A and B, each with ADMIN and
//! READ_ONLY keys and data. With either of A's keys, B's rows are indistinguishable from
//! missing ones: null by id, absent from every list and count, empty under filters naming
//! them, FORBIDDEN under a filter naming B itself, unreachable through nested fields, and
//! NOT_FOUND (by id) or FORBIDDEN (naming B) to every mutation, which writes nothing.

use super::fixtures::{
    CREATE_API_KEY, CREATE_ASSET, CREATE_POSITION, CREATE_TEMPLATE, REVOKE_API_KEY, TRANSITION,
    Tenant, UPSERT_POLICY, create_position, expect_error, missing_id, on_both_stores, seed_tenant,
    transition, world,
};
use super::support::TestApp;
use serde_json::{Value, json};
use std::collections::BTreeSet;

on_both_stores!(
    another_institutions_rows_read_as_null_by_id,
    lists_hold_only_the_callers_rows_and_count_only_them,
    a_filter_naming_another_institution_is_forbidden_on_every_list,
    filters_naming_another_institutions_rows_come_back_empty,
    nested_fields_never_reach_another_institution,
    mutations_on_another_institutions_rows_are_not_found_or_forbidden_and_write_nothing,
    another_institutions_row_is_refused_exactly_like_a_missing_one,
    another_institutions_idempotency_key_is_never_replayed,
    refused_attempts_on_another_institution_leave_nothing_in_its_audit_trail,
    the_root_key_sees_both_institutions,
);

/// A and B, with B a little bigger so a leaked row changes every count.
async fn two_tenants(app: &TestApp) -> (Tenant, Tenant) {
    let a = seed_tenant(app, "Alpha Bank").await;
    let b = seed_tenant(app, "Beta Bank").await;
    let extra = create_position(app, &b.admin_key, &b.asset_id, "250.00").await;
    let extra_id = extra["id"].as_str().expect("an id");
    transition(app, &b.admin_key, extra_id, "FUNDED", None).await;
    transition(
        app,
        &b.admin_key,
        extra_id,
        "PARTIALLY_RELEASED",
        Some("50"),
    )
    .await;
    (a, b)
}

fn keys_of(tenant: &Tenant) -> [(&'static str, &str); 2] {
    [
        ("ADMIN", tenant.admin_key.as_str()),
        ("READ_ONLY", tenant.read_only_key.as_str()),
    ]
}

/// Every string in `value` (ids, names, cursors…), to search for another tenant's ids.
fn strings_in(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            found.insert(text.clone());
        }
        Value::Array(items) => items.iter().for_each(|item| strings_in(item, found)),
        Value::Object(map) => map.values().for_each(|item| strings_in(item, found)),
        _ => {}
    }
}

/// Every id of B's rows, read with the root key.
async fn ids_of(app: &TestApp, institution_id: &str) -> BTreeSet<String> {
    let data = app
        .root(
            "query($id: ID!) {
  institution(id: $id) { id apiKeys { id } policies { id } }
  assetTemplates(filter: {institutionId: $id}, first: 500) { edges { node { id } } }
  assets(filter: {institutionId: $id}, first: 500) { edges { node { id } } }
  positions(filter: {institutionId: $id}, first: 500) { edges { node {
    id events { id } ledgerEvents { id } } } }
  auditEvents(filter: {institutionId: $id}, first: 500) { edges { node { id } } }
}",
            json!({ "id": institution_id }),
        )
        .await;
    let mut ids = BTreeSet::new();
    strings_in(&data, &mut ids);
    ids
}

/// Fails naming the leak when `seen` holds any of `foreign`.
fn assert_no_leak(seen: &Value, foreign: &BTreeSet<String>, what: &str) {
    let mut strings = BTreeSet::new();
    strings_in(seen, &mut strings);
    let leaked: Vec<&String> = strings.intersection(foreign).collect();
    assert!(leaked.is_empty(), "{what} leaked {leaked:?}: {seen}");
}

async fn another_institutions_rows_read_as_null_by_id(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    for (role, key) in keys_of(&a) {
        for (field, id) in [
            ("institution", &b.institution_id),
            ("assetTemplate", &b.template_id),
            ("asset", &b.asset_id),
            ("position", &b.position_id),
        ] {
            let data = app
                .data(
                    &format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}"),
                    json!({ "id": id }),
                    key,
                )
                .await;
            assert_eq!(data[field], Value::Null, "{role} read B's {field}: {data}");
        }
        // Its own rows are there.
        let own = app
            .data(
                "query($p: ID!, $i: ID!) { position(id: $p) { id } institution(id: $i) { id } }",
                json!({ "p": a.position_id, "i": a.institution_id }),
                key,
            )
            .await;
        assert_eq!(own["position"]["id"], a.position_id.as_str());
        assert_eq!(own["institution"]["id"], a.institution_id.as_str());
    }
}

/// Each list field with the `institutionId` of its rows as seen in the list.
const LISTS: &str = "{
  institutions(first: 500) { totalCount edges { node { id } } }
  assetTemplates(first: 500) { totalCount edges { node { id institution { id } } } }
  assets(first: 500) { totalCount edges { node { id institution { id } } } }
  positions(first: 500) { totalCount edges { node { id institution { id } } } }
  ledgerEvents(first: 500) { totalCount edges { node { id position { id institution { id } } } } }
  auditEvents(first: 500) { totalCount edges { node { id institutionId } } }
}";

async fn lists_hold_only_the_callers_rows_and_count_only_them(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    let foreign = ids_of(app, &b.institution_id).await;
    // What A owns, counted by the root key through explicit filters.
    let owned = app
        .root(
            "query($id: ID!) {
  assetTemplates(filter: {institutionId: $id}) { totalCount }
  assets(filter: {institutionId: $id}) { totalCount }
  positions(filter: {institutionId: $id}) { totalCount }
  ledgerEvents(filter: {institutionId: $id}) { totalCount }
}",
            json!({ "id": a.institution_id }),
        )
        .await;
    for (role, key) in keys_of(&a) {
        let audit_before = app
            .root(
                "query($id: ID!) { auditEvents(filter: {institutionId: $id}) { totalCount } }",
                json!({ "id": a.institution_id }),
            )
            .await;
        let data = app.data(LISTS, json!({}), key).await;
        assert_no_leak(&data, &foreign, role);

        assert_eq!(data["institutions"]["totalCount"], 1, "{role}: {data}");
        assert_eq!(
            data["institutions"]["edges"][0]["node"]["id"],
            a.institution_id.as_str()
        );
        for list in ["assetTemplates", "assets", "positions", "ledgerEvents"] {
            assert_eq!(
                data[list]["totalCount"], owned[list]["totalCount"],
                "{role} {list}: {data}"
            );
            let edges = data[list]["edges"].as_array().expect("edges");
            assert_eq!(
                Some(edges.len() as u64),
                data[list]["totalCount"].as_u64(),
                "{role} {list}"
            );
            for edge in edges {
                let node = &edge["node"];
                let institution = if list == "ledgerEvents" {
                    &node["position"]["institution"]["id"]
                } else {
                    &node["institution"]["id"]
                };
                assert_eq!(
                    institution,
                    a.institution_id.as_str(),
                    "{role} {list}: {edge}"
                );
            }
        }
        let audit = &data["auditEvents"];
        assert_eq!(
            audit["totalCount"], audit_before["auditEvents"]["totalCount"],
            "{role} audit count: {data}"
        );
        for edge in audit["edges"].as_array().expect("audit edges") {
            assert_eq!(
                edge["node"]["institutionId"],
                a.institution_id.as_str(),
                "{role} sees an audit event outside its institution: {edge}"
            );
        }
    }
}

async fn a_filter_naming_another_institution_is_forbidden_on_every_list(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    let filtered = [
        "query($id: ID!) { assetTemplates(filter: {institutionId: $id}) { totalCount } }",
        "query($id: ID!) { assets(filter: {institutionId: $id}) { totalCount } }",
        "query($id: ID!) { positions(filter: {institutionId: $id}) { totalCount } }",
        "query($id: ID!) { ledgerEvents(filter: {institutionId: $id}) { totalCount } }",
        "query($id: ID!) { auditEvents(filter: {institutionId: $id}) { totalCount } }",
        "query($id: ID!) { viewer { institution { assets(filter: {institutionId: $id}) { totalCount } } } }",
        "query($id: ID!) { viewer { institution { positions(filter: {institutionId: $id}) { totalCount } } } }",
        "query($id: ID!) { viewer { institution { assetTemplates(filter: {institutionId: $id}) { totalCount } } } }",
    ];
    for (role, key) in keys_of(&a) {
        for query in filtered {
            let (status, body) = app
                .gql(query, json!({ "id": b.institution_id }), Some(key))
                .await;
            let error = super::fixtures::the_error(status, &body, "FORBIDDEN");
            assert_no_leak(&body, &ids_of(app, &b.institution_id).await, role);
            assert!(
                !error["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Beta"),
                "{error}"
            );
            // Naming its own institution is fine.
            app.data(query, json!({ "id": a.institution_id }), key)
                .await;
        }
    }
}

async fn filters_naming_another_institutions_rows_come_back_empty(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    let cases = [
        (
            "query($id: ID!) { assets(filter: {templateId: $id}) { totalCount edges { node { id } } } }",
            "assets",
            &b.template_id,
        ),
        (
            "query($id: ID!) { positions(filter: {assetId: $id}) { totalCount edges { node { id } } } }",
            "positions",
            &b.asset_id,
        ),
        (
            "query($id: ID!) { ledgerEvents(filter: {positionId: $id}) { totalCount edges { node { id } } } }",
            "ledgerEvents",
            &b.position_id,
        ),
        (
            "query($id: ID!) { auditEvents(filter: {resourceId: $id}) { totalCount edges { node { id } } } }",
            "auditEvents",
            &b.position_id,
        ),
    ];
    for (role, key) in keys_of(&a) {
        for (query, list, id) in cases {
            let data = app.data(query, json!({ "id": id }), key).await;
            assert_eq!(
                data[list],
                json!({ "totalCount": 0, "edges": [] }),
                "{role} {list} filtered by B's {id}"
            );
        }
        // The same filters on A's rows find them.
        let own = app
            .data(
                "query($t: ID!, $a: ID!, $p: ID!) {
                   assets(filter: {templateId: $t}) { totalCount }
                   positions(filter: {assetId: $a}) { totalCount }
                   ledgerEvents(filter: {positionId: $p}) { totalCount } }",
                json!({ "t": a.template_id, "a": a.asset_id, "p": a.position_id }),
                key,
            )
            .await;
        assert_eq!(
            own,
            json!({
                "assets": { "totalCount": 1 },
                "positions": { "totalCount": 1 },
                "ledgerEvents": { "totalCount": 2 },
            }),
            "{role}"
        );
    }
}

async fn nested_fields_never_reach_another_institution(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    let foreign = ids_of(app, &b.institution_id).await;
    let query = "query($p: ID!) {
  viewer { role institution { id
    assetTemplates(first: 5) { totalCount edges { node { id institution { id }
      assets(first: 5) { totalCount edges { node { id
        positions(first: 5) { totalCount edges { node { id } } } } } } } } }
    assets { totalCount edges { node { id institution { id } template { id institution { id } } } } }
    positions { totalCount edges { node { id institution { id } asset { id institution { id } } } } }
    apiKeys { id institution { id } }
    policies { id region institution { id } }
    policy(region: EU_UK) { id institution { id } } } }
  position(id: $p) { id
    institution { id }
    asset { id institution { id } template { id institution { id } }
      positions { totalCount edges { node { id institution { id } } } } }
    events { id position { id institution { id } } }
    ledgerEvents { id position { id institution { id } } } }
}";
    for (role, key) in keys_of(&a) {
        let data = app.data(query, json!({ "p": a.position_id }), key).await;
        assert_no_leak(&data, &foreign, role);
        let institution = &data["viewer"]["institution"];
        assert_eq!(institution["id"], a.institution_id.as_str(), "{role}");
        assert_eq!(institution["assets"]["totalCount"], 1, "{role}: {data}");
        assert_eq!(institution["positions"]["totalCount"], 1, "{role}: {data}");
        assert_eq!(
            institution["assetTemplates"]["totalCount"], 1,
            "{role}: {data}"
        );
        let key_ids: BTreeSet<&str> = institution["apiKeys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|key| key["id"].as_str())
            .collect();
        assert_eq!(
            key_ids,
            BTreeSet::from([a.admin_key_id.as_str(), a.read_only_key_id.as_str()]),
            "{role}"
        );
        assert_eq!(
            institution["policies"].as_array().map(Vec::len),
            Some(1),
            "{role}: {data}"
        );
        // Every institution reachable from A's rows is A.
        let mut strings = BTreeSet::new();
        strings_in(&data, &mut strings);
        assert!(strings.contains(a.institution_id.as_str()));
        assert!(
            !strings.contains(b.institution_id.as_str()),
            "{role}: {data}"
        );
        assert_eq!(
            data["position"]["events"].as_array().map(Vec::len),
            Some(2),
            "{role}: {data}"
        );
        assert_eq!(
            data["position"]["ledgerEvents"].as_array().map(Vec::len),
            Some(2),
            "{role}: {data}"
        );
    }
}

/// Mutations A's keys may not make on B's rows, with the code each must get from an ADMIN
/// key: NOT_FOUND for B's rows named by id, FORBIDDEN for B named as the institution.
fn attempts_on(a: &Tenant, b: &Tenant) -> Vec<(&'static str, &'static str, Value, &'static str)> {
    let position = |institution: Option<&str>| {
        json!({ "input": {
            "institutionId": institution,
            "assetId": b.asset_id,
            "holderReference": "intruder",
            "currency": "USD",
            "amount": "10",
        }})
    };
    vec![
        (
            "createAsset under B's template",
            CREATE_ASSET,
            json!({ "input": { "templateId": b.template_id, "label": "intruder" } }),
            "NOT_FOUND",
        ),
        (
            "createAsset for A under B's template",
            CREATE_ASSET,
            json!({ "input": {
                "institutionId": a.institution_id, "templateId": b.template_id, "label": "x",
            }}),
            "NOT_FOUND",
        ),
        (
            "createAsset naming B",
            CREATE_ASSET,
            json!({ "input": {
                "institutionId": b.institution_id, "templateId": b.template_id, "label": "x",
            }}),
            "FORBIDDEN",
        ),
        (
            "createPosition on B's asset",
            CREATE_POSITION,
            position(None),
            "NOT_FOUND",
        ),
        (
            "createPosition naming B",
            CREATE_POSITION,
            position(Some(&b.institution_id)),
            "FORBIDDEN",
        ),
        (
            "transitionPosition of B's position",
            TRANSITION,
            json!({ "input": { "positionId": b.position_id, "toState": "CANCELLED" } }),
            "NOT_FOUND",
        ),
        (
            "revokeApiKey of B's key",
            REVOKE_API_KEY,
            json!({ "id": b.admin_key_id }),
            "NOT_FOUND",
        ),
        (
            "upsertPolicy for B",
            UPSERT_POLICY,
            json!({ "input": {
                "institutionId": b.institution_id,
                "region": "US",
                "position": { "maxAmount": "1" },
            }}),
            "FORBIDDEN",
        ),
        (
            "createApiKey for B",
            CREATE_API_KEY,
            json!({ "input": {
                "institutionId": b.institution_id, "label": "backdoor", "role": "ADMIN",
            }}),
            "FORBIDDEN",
        ),
        (
            "createAssetTemplate for B",
            CREATE_TEMPLATE,
            json!({ "input": {
                "institutionId": b.institution_id,
                "code": "CONSTR_ESCROW",
                "name": "planted",
                "vertical": "CONSTRUCTION",
                "region": "US",
                "config": { "currency": "USD", "region": "US" },
            }}),
            "FORBIDDEN",
        ),
    ]
}

async fn mutations_on_another_institutions_rows_are_not_found_or_forbidden_and_write_nothing(
    app: &TestApp,
) {
    let (a, b) = two_tenants(app).await;
    let before = world(app).await;
    for (role, key) in keys_of(&a) {
        for (what, query, variables, admin_code) in attempts_on(&a, &b) {
            // READ_ONLY keys may change nothing at all.
            let code = if role == "ADMIN" {
                admin_code
            } else {
                "FORBIDDEN"
            };
            let (status, body) = app.gql(query, variables, Some(key)).await;
            let error = super::fixtures::the_error(status, &body, code);
            assert_eq!(body["data"], Value::Null, "{role} {what}: {body}");
            assert!(
                !error["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Beta"),
                "{role} {what}: {error}"
            );
        }
    }
    assert_eq!(
        world(app).await,
        before,
        "a refused mutation changed something"
    );
    // B's keys still work, its position still moves.
    let viewer = app
        .data("{ viewer { role } }", json!({}), &b.admin_key)
        .await;
    assert_eq!(viewer["viewer"]["role"], "ADMIN");
    transition(app, &b.admin_key, &b.position_id, "CANCELLED", None).await;
}

async fn another_institutions_row_is_refused_exactly_like_a_missing_one(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    let pairs = [
        (
            TRANSITION,
            json!({ "input": { "positionId": b.position_id, "toState": "FUNDED" } }),
            json!({ "input": { "positionId": missing_id(), "toState": "FUNDED" } }),
        ),
        (
            CREATE_ASSET,
            json!({ "input": { "templateId": b.template_id, "label": "x" } }),
            json!({ "input": { "templateId": missing_id(), "label": "x" } }),
        ),
        (
            CREATE_POSITION,
            json!({ "input": {
                "assetId": b.asset_id, "holderReference": "h", "currency": "USD", "amount": "1",
            }}),
            json!({ "input": {
                "assetId": missing_id(), "holderReference": "h", "currency": "USD", "amount": "1",
            }}),
        ),
        (
            REVOKE_API_KEY,
            json!({ "id": b.read_only_key_id }),
            json!({ "id": missing_id() }),
        ),
    ];
    for (query, foreign, missing) in pairs {
        let on_foreign = expect_error(app, query, foreign, &a.admin_key, "NOT_FOUND").await;
        let on_missing = expect_error(app, query, missing, &a.admin_key, "NOT_FOUND").await;
        assert_eq!(
            on_foreign["message"], on_missing["message"],
            "the message tells B's row from a missing one"
        );
        assert_eq!(on_foreign["extensions"], on_missing["extensions"]);
    }
}

async fn another_institutions_idempotency_key_is_never_replayed(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    let open = |asset_id: &str| {
        json!({ "input": {
            "assetId": asset_id,
            "holderReference": "shared-holder",
            "currency": "USD",
            "amount": "75.00",
            "idempotencyKey": "shared-key",
        }})
    };
    let on_b = app
        .data(CREATE_POSITION, open(&b.asset_id), &b.admin_key)
        .await;
    let b_position = on_b["createPosition"]["id"].clone();
    // A sending B's very request gets no replay of B's position.
    let before = world(app).await;
    expect_error(
        app,
        CREATE_POSITION,
        open(&b.asset_id),
        &a.admin_key,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(world(app).await, before);
    // The same key on A's own asset opens A's own position.
    let on_a = app
        .data(CREATE_POSITION, open(&a.asset_id), &a.admin_key)
        .await;
    assert_ne!(on_a["createPosition"]["id"], b_position);
    let mine = app
        .data(
            "query($id: ID!) { position(id: $id) { institution { id } } }",
            json!({ "id": on_a["createPosition"]["id"] }),
            &a.admin_key,
        )
        .await;
    assert_eq!(
        mine["position"]["institution"]["id"],
        a.institution_id.as_str()
    );
    // And transitions: B's key on B's position does not replay for A.
    let fund = |position: &Value| {
        json!({ "input": {
            "positionId": position, "toState": "FUNDED", "idempotencyKey": "shared-fund",
        }})
    };
    app.data(TRANSITION, fund(&b_position), &b.admin_key).await;
    expect_error(
        app,
        TRANSITION,
        fund(&b_position),
        &a.admin_key,
        "NOT_FOUND",
    )
    .await;
}

/// A refused attempt is audited, but as the caller's record: written under B, it would put
/// A's key id and A's chosen `X-Request-Id` into B's audit trail, where B's keys read them.
async fn refused_attempts_on_another_institution_leave_nothing_in_its_audit_trail(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    let trail = "query($id: ID!) { auditEvents(filter: {institutionId: $id}, first: 500) {
        totalCount edges { node { action outcome apiKeyId requestId } } } }";
    let before = app.root(trail, json!({ "id": b.institution_id })).await;
    for (role, key) in keys_of(&a) {
        for (what, query, variables, _) in attempts_on(&a, &b) {
            let response = app
                .client
                .post(app.url("/graphql"))
                .header("X-API-Key", key)
                .header("X-Request-Id", format!("from-alpha-{role}"))
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .expect("the server answers");
            let body: Value = response.json().await.expect("a JSON body");
            assert!(body["errors"].is_array(), "{role} {what}: {body}");
        }
    }
    let after = app.root(trail, json!({ "id": b.institution_id })).await;
    let seen_by_b = app
        .data(trail, json!({ "id": b.institution_id }), &b.admin_key)
        .await;
    let a_keys = [a.admin_key_id.as_str(), a.read_only_key_id.as_str()];
    for (who, trail) in [
        ("B's ADMIN key", &seen_by_b),
        ("root, filtering on B", &after),
    ] {
        let foreign: Vec<&Value> = trail["auditEvents"]["edges"]
            .as_array()
            .expect("audit edges")
            .iter()
            .map(|edge| &edge["node"])
            .filter(|node| {
                node["apiKeyId"]
                    .as_str()
                    .is_some_and(|id| a_keys.contains(&id))
                    || node["requestId"]
                        .as_str()
                        .is_some_and(|id| id.starts_with("from-alpha"))
            })
            .collect();
        assert!(
            foreign.is_empty(),
            "{who} finds A's refused attempts in B's audit trail: {foreign:#?}"
        );
    }
    assert_eq!(
        after["auditEvents"]["totalCount"], before["auditEvents"]["totalCount"],
        "A's refused attempts added audit events to B's trail"
    );
}

async fn the_root_key_sees_both_institutions(app: &TestApp) {
    let (a, b) = two_tenants(app).await;
    let data = app.root(LISTS, json!({})).await;
    let mut seen = BTreeSet::new();
    strings_in(&data, &mut seen);
    for id in [
        &a.institution_id,
        &b.institution_id,
        &a.template_id,
        &b.template_id,
        &a.asset_id,
        &b.asset_id,
        &a.position_id,
        &b.position_id,
    ] {
        assert!(seen.contains(id.as_str()), "root does not see {id}: {data}");
    }
    assert_eq!(data["institutions"]["totalCount"], 2);
    assert_eq!(data["positions"]["totalCount"], 3);
    assert_eq!(data["ledgerEvents"]["totalCount"], 7);
    for (id, tenant) in [(&b.position_id, &b), (&a.position_id, &a)] {
        let read = app
            .root(
                "query($id: ID!) { position(id: $id) { institution { id } } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(
            read["position"]["institution"]["id"],
            tenant.institution_id.as_str()
        );
    }
}
