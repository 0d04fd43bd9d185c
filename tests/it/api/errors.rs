//! Every error code the contract names, as a client meets it over HTTP on both stores: the
//! code, a status below 500, exactly one error, the field or rule it names, and that the
//! refused request wrote nothing (a snapshot of everything stored, read with the root key,
//! is the same before and after). INTERNAL_SERVER_ERROR is not reachable by input.

use super::fixtures::{
    CREATE_API_KEY, CREATE_ASSET, CREATE_INSTITUTION, CREATE_POSITION, CREATE_TEMPLATE,
    REVOKE_API_KEY, TRANSITION, UPSERT_POLICY, create_key, create_position, expect_error, id_of,
    missing_id, named_field, nested_json, on_both_stores, seed_tenant, the_error, transition,
    world,
};
use super::support::{TestApp, only_error_code};
use escrowgrid::graphql::ErrorCode;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr as _;

on_both_stores!(
    a_missing_unknown_or_revoked_key_is_401_with_one_unauthenticated_error_and_writes_nothing,
    a_read_only_key_is_forbidden_every_mutation_and_writes_nothing,
    an_institution_key_cannot_create_an_institution,
    a_filter_naming_another_institution_is_forbidden,
    a_missing_position_asset_key_or_a_foreign_template_is_not_found_and_writes_nothing,
    text_outside_1_to_255_characters_and_a_long_reason_are_bad_user_input_naming_the_field,
    text_and_json_at_their_limits_are_accepted,
    json_over_64_kib_or_deeper_than_10_levels_or_not_an_object_is_bad_user_input,
    a_policy_whose_minimum_exceeds_its_maximum_is_bad_user_input,
    bad_amounts_are_bad_user_input_naming_the_amount,
    a_float_or_boolean_amount_is_bad_user_input_naming_the_amount,
    bad_currencies_are_bad_user_input_naming_the_field,
    ids_that_are_not_uuids_are_bad_user_input_naming_the_field,
    first_outside_0_to_500_and_foreign_cursors_are_bad_user_input,
    templates_must_match_code_vertical_and_the_institutions_regions_and_verticals,
    constr_escrow_config_is_checked_field_by_field,
    a_config_amount_is_exact_text_or_an_integer_never_a_float,
    constr_retainage_config_is_checked_field_by_field,
    tf_invoice_config_is_checked_field_by_field,
    tf_lc_config_is_checked_field_by_field,
    a_template_config_error_names_the_field_by_its_input_path,
    positions_breaking_a_template_or_policy_bound_are_a_policy_violation_naming_the_rule,
    moves_outside_the_lifecycle_are_invalid_transitions_and_write_nothing,
    a_stale_expected_version_is_a_conflict_and_writes_nothing,
    an_idempotency_key_replays_the_same_input_and_conflicts_on_a_different_one,
    unparsable_and_invalid_documents_carry_the_apollo_codes,
    fragment_chains_past_the_recursion_guard_are_too_complex_naming_max_depth,
    money_comes_back_exactly_as_sent,
);

/// One request expected to be refused with a BAD_USER_INPUT naming `field`.
struct BadInput {
    query: String,
    variables: Value,
    key: String,
    field: String,
}

fn bad(query: &str, variables: Value, key: &str, field: &str) -> BadInput {
    BadInput {
        query: query.to_owned(),
        variables,
        key: key.to_owned(),
        field: field.to_owned(),
    }
}

/// Sends every attempt, expecting BAD_USER_INPUT naming its field, then checks that none of
/// them wrote anything.
async fn all_bad_input(app: &TestApp, attempts: Vec<BadInput>) {
    let before = world(app).await;
    for attempt in attempts {
        let (status, body) = app
            .gql(
                &attempt.query,
                attempt.variables.clone(),
                Some(&attempt.key),
            )
            .await;
        let error = the_error(status, &body, "BAD_USER_INPUT");
        assert_eq!(
            named_field(&error),
            attempt.field,
            "wrong field for {}: {error}",
            abbreviated(&attempt.variables)
        );
    }
    assert_eq!(world(app).await, before, "a refused input wrote something");
}

/// Sends one attempt expecting `code`, and checks that it wrote nothing.
async fn refused_without_writing(
    app: &TestApp,
    query: &str,
    variables: Value,
    key: &str,
    code: &str,
) -> Value {
    let before = world(app).await;
    let error = expect_error(app, query, variables, key, code).await;
    assert_eq!(world(app).await, before, "a refused {code} wrote something");
    error
}

/// Variables for an assertion message, without 64 KiB of padding.
fn abbreviated(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}

fn position_input(asset_id: &str, amount: &str) -> Value {
    json!({ "input": {
        "assetId": asset_id,
        "holderReference": "holder-1",
        "currency": "USD",
        "amount": amount,
    }})
}

fn template_input(code: &str, vertical: &str, region: &str, config: Value) -> Value {
    json!({ "input": {
        "code": code,
        "name": format!("{code} template"),
        "vertical": vertical,
        "region": region,
        "config": config,
    }})
}

async fn a_missing_unknown_or_revoked_key_is_401_with_one_unauthenticated_error_and_writes_nothing(
    app: &TestApp,
) {
    let tenant = seed_tenant(app, "Keyholder Bank").await;
    let (revoked, revoked_id) = create_key(app, &tenant.institution_id, "ADMIN").await;
    app.root(REVOKE_API_KEY, json!({ "id": revoked_id })).await;
    let unknown = format!("egk_{}", uuid::Uuid::now_v7().simple());
    let before = world(app).await;

    let attempt = json!({
        "query": CREATE_ASSET,
        "variables": { "input": { "templateId": tenant.template_id, "label": "sneaky" } },
    });
    let presented: Vec<(&str, Option<(&str, String)>)> = vec![
        ("no key", None),
        ("an empty key", Some(("X-API-Key", String::new()))),
        ("an unknown key", Some(("X-API-Key", unknown.clone()))),
        (
            "an unknown bearer token",
            Some(("Authorization", format!("Bearer {unknown}"))),
        ),
        ("a revoked key", Some(("X-API-Key", revoked.clone()))),
        (
            "a revoked bearer token",
            Some(("Authorization", format!("Bearer {revoked}"))),
        ),
        (
            "a key under another scheme",
            Some(("Authorization", format!("Basic {}", tenant.admin_key))),
        ),
    ];
    for (what, header) in presented {
        for method in ["POST", "GET"] {
            let mut request = if method == "POST" {
                app.client.post(app.url("/graphql")).json(&attempt)
            } else {
                app.client
                    .get(app.url("/graphql"))
                    .query(&[("query", "{ positions { totalCount } }")])
            };
            if let Some((name, value)) = &header {
                request = request.header(*name, value);
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status();
            let body: Value = response.json().await.expect("the body is JSON");
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} {method}: {body}");
            assert_eq!(
                only_error_code(&body),
                "UNAUTHENTICATED",
                "{what} {method}: {body}"
            );
            assert_eq!(
                status.as_u16(),
                ErrorCode::Unauthenticated.http_status(),
                "{what} {method}: {body}"
            );
            assert!(body.get("data").is_none(), "{what} {method}: {body}");
        }
    }
    assert_eq!(world(app).await, before);
    // The tenant's own key works in both places.
    app.data("{ viewer { role } }", json!({}), &tenant.admin_key)
        .await;
}

async fn a_read_only_key_is_forbidden_every_mutation_and_writes_nothing(app: &TestApp) {
    let tenant = seed_tenant(app, "Reader Bank").await;
    let institution = tenant.institution_id.as_str();
    let attempts = [
        (
            CREATE_INSTITUTION,
            json!({ "input": { "name": "Nope", "regions": ["US"] } }),
        ),
        (
            CREATE_API_KEY,
            json!({ "input": { "institutionId": institution, "label": "more", "role": "ADMIN" } }),
        ),
        (REVOKE_API_KEY, json!({ "id": tenant.admin_key_id })),
        (
            CREATE_TEMPLATE,
            template_input(
                "CONSTR_ESCROW",
                "CONSTRUCTION",
                "US",
                json!({ "currency": "USD", "region": "US" }),
            ),
        ),
        (
            CREATE_ASSET,
            json!({ "input": { "templateId": tenant.template_id, "label": "mine" } }),
        ),
        (CREATE_POSITION, position_input(&tenant.asset_id, "10.00")),
        (
            TRANSITION,
            json!({ "input": { "positionId": tenant.position_id, "toState": "CANCELLED" } }),
        ),
        (
            UPSERT_POLICY,
            json!({ "input": {
                "institutionId": institution,
                "region": "US",
                "position": { "maxAmount": "1" },
            }}),
        ),
    ];
    let before = world(app).await;
    for (query, variables) in attempts {
        expect_error(app, query, variables, &tenant.read_only_key, "FORBIDDEN").await;
    }
    assert_eq!(world(app).await, before);
    // The revocation attempt left the ADMIN key working.
    app.data("{ viewer { role } }", json!({}), &tenant.admin_key)
        .await;
}

async fn an_institution_key_cannot_create_an_institution(app: &TestApp) {
    let tenant = seed_tenant(app, "Ambitious Bank").await;
    for key in [&tenant.admin_key, &tenant.read_only_key] {
        refused_without_writing(
            app,
            CREATE_INSTITUTION,
            json!({ "input": { "name": "Subsidiary", "regions": ["US"] } }),
            key,
            "FORBIDDEN",
        )
        .await;
    }
}

async fn a_filter_naming_another_institution_is_forbidden(app: &TestApp) {
    let own = seed_tenant(app, "Own Bank").await;
    let other = seed_tenant(app, "Other Bank").await;
    for institution in [other.institution_id.clone(), missing_id()] {
        for key in [&own.admin_key, &own.read_only_key] {
            expect_error(
                app,
                "query($id: ID!) { positions(filter: {institutionId: $id}) { totalCount } }",
                json!({ "id": institution }),
                key,
                "FORBIDDEN",
            )
            .await;
        }
    }
    // Its own institution is fine.
    app.data(
        "query($id: ID!) { positions(filter: {institutionId: $id}) { totalCount } }",
        json!({ "id": own.institution_id }),
        &own.read_only_key,
    )
    .await;
}

async fn a_missing_position_asset_key_or_a_foreign_template_is_not_found_and_writes_nothing(
    app: &TestApp,
) {
    let own = seed_tenant(app, "Finder Bank").await;
    let other = seed_tenant(app, "Hidden Bank").await;
    let admin = own.admin_key.as_str();
    refused_without_writing(
        app,
        TRANSITION,
        json!({ "input": { "positionId": missing_id(), "toState": "CANCELLED" } }),
        admin,
        "NOT_FOUND",
    )
    .await;
    refused_without_writing(
        app,
        CREATE_ASSET,
        json!({ "input": { "templateId": other.template_id, "label": "borrowed" } }),
        admin,
        "NOT_FOUND",
    )
    .await;
    refused_without_writing(
        app,
        CREATE_ASSET,
        json!({ "input": { "templateId": missing_id(), "label": "imagined" } }),
        admin,
        "NOT_FOUND",
    )
    .await;
    refused_without_writing(
        app,
        CREATE_POSITION,
        position_input(&missing_id(), "10.00"),
        admin,
        "NOT_FOUND",
    )
    .await;
    refused_without_writing(
        app,
        REVOKE_API_KEY,
        json!({ "id": missing_id() }),
        admin,
        "NOT_FOUND",
    )
    .await;
}

async fn text_outside_1_to_255_characters_and_a_long_reason_are_bad_user_input_naming_the_field(
    app: &TestApp,
) {
    let tenant = seed_tenant(app, "Wordy Bank").await;
    let admin = tenant.admin_key.as_str();
    let root = app.root_key.as_str();
    let mut attempts = Vec::new();
    for text in [String::new(), "a".repeat(256), "é".repeat(256)] {
        attempts.push(bad(
            CREATE_INSTITUTION,
            json!({ "input": { "name": text, "regions": ["US"] } }),
            root,
            "input.name",
        ));
        attempts.push(bad(
            CREATE_API_KEY,
            json!({ "input": {
                "institutionId": tenant.institution_id, "label": text, "role": "READ_ONLY",
            }}),
            admin,
            "input.label",
        ));
        let mut template = template_input(
            "CONSTR_ESCROW",
            "CONSTRUCTION",
            "US",
            json!({ "currency": "USD", "region": "US" }),
        );
        template["input"]["name"] = json!(text);
        attempts.push(bad(CREATE_TEMPLATE, template, admin, "input.name"));
        attempts.push(bad(
            CREATE_ASSET,
            json!({ "input": { "templateId": tenant.template_id, "label": text } }),
            admin,
            "input.label",
        ));
        let mut position = position_input(&tenant.asset_id, "10.00");
        position["input"]["holderReference"] = json!(text);
        attempts.push(bad(
            CREATE_POSITION,
            position,
            admin,
            "input.holderReference",
        ));
        let mut position = position_input(&tenant.asset_id, "10.00");
        position["input"]["externalReference"] = json!(text);
        attempts.push(bad(
            CREATE_POSITION,
            position,
            admin,
            "input.externalReference",
        ));
    }
    attempts.push(bad(
        TRANSITION,
        json!({ "input": {
            "positionId": tenant.position_id, "toState": "CANCELLED", "reason": "r".repeat(1001),
        }}),
        admin,
        "input.reason",
    ));
    attempts.push(bad(
        CREATE_INSTITUTION,
        json!({ "input": { "name": "No Regions", "regions": [] } }),
        root,
        "input.regions",
    ));
    all_bad_input(app, attempts).await;
}

/// Exactly 64 KiB as compact JSON: `{"blob":"…"}` is the padding plus 11 bytes.
fn metadata_of_bytes(bytes: usize) -> Value {
    let metadata = json!({ "blob": "x".repeat(bytes - 11) });
    assert_eq!(
        serde_json::to_vec(&metadata).expect("serializes").len(),
        bytes
    );
    metadata
}

async fn text_and_json_at_their_limits_are_accepted(app: &TestApp) {
    let tenant = seed_tenant(app, "Boundary Bank").await;
    let admin = tenant.admin_key.as_str();
    let name = "n".repeat(255);
    let institution = app
        .root(
            CREATE_INSTITUTION,
            json!({ "input": { "name": name, "regions": ["US"] } }),
        )
        .await;
    assert_eq!(institution["createInstitution"]["name"], name);

    let label = "é".repeat(255);
    let asset = app
        .data(
            CREATE_ASSET,
            json!({ "input": {
                "templateId": tenant.template_id,
                "label": label,
                "metadata": metadata_of_bytes(64 * 1024),
            }}),
            admin,
        )
        .await;
    assert_eq!(asset["createAsset"]["label"], label);
    let deep = app
        .data(
            CREATE_ASSET,
            json!({ "input": {
                "templateId": tenant.template_id, "label": "deep", "metadata": nested_json(10),
            }}),
            admin,
        )
        .await;
    assert_eq!(deep["createAsset"]["metadata"], nested_json(10));

    let mut input = position_input(&tenant.asset_id, "10.00");
    input["input"]["holderReference"] = json!("h".repeat(255));
    input["input"]["externalReference"] = json!("e".repeat(255));
    let position = app.data(CREATE_POSITION, input, admin).await;
    let position_id = id_of(&position, "createPosition");
    let moved = app
        .data(
            "mutation($input: TransitionPositionInput!) {
               transitionPosition(input: $input) { state events { reason metadata } } }",
            json!({ "input": {
                "positionId": position_id,
                "toState": "CANCELLED",
                "reason": "r".repeat(1000),
                "metadata": nested_json(10),
            }}),
            admin,
        )
        .await;
    let events = &moved["transitionPosition"]["events"];
    assert_eq!(events[1]["reason"], "r".repeat(1000));
    assert_eq!(events[1]["metadata"], nested_json(10));
}

async fn json_over_64_kib_or_deeper_than_10_levels_or_not_an_object_is_bad_user_input(
    app: &TestApp,
) {
    let tenant = seed_tenant(app, "Bulky Bank").await;
    let admin = tenant.admin_key.as_str();
    let too_large = metadata_of_bytes(64 * 1024 + 1);
    let too_deep = nested_json(11);
    let mut attempts = Vec::new();
    for metadata in [
        too_large.clone(),
        too_deep.clone(),
        json!([1, 2]),
        json!("x"),
    ] {
        attempts.push(bad(
            CREATE_ASSET,
            json!({ "input": {
                "templateId": tenant.template_id, "label": "heavy", "metadata": metadata,
            }}),
            admin,
            "input.metadata",
        ));
        attempts.push(bad(
            TRANSITION,
            json!({ "input": {
                "positionId": tenant.position_id, "toState": "CANCELLED", "metadata": metadata,
            }}),
            admin,
            "input.metadata",
        ));
    }
    let mut large_config = json!({ "currency": "USD", "region": "US" });
    large_config["pad"] = json!("x".repeat(64 * 1024));
    let mut deep_config = json!({ "currency": "USD", "region": "US" });
    deep_config["deep"] = nested_json(10);
    for config in [large_config, deep_config] {
        attempts.push(bad(
            CREATE_TEMPLATE,
            template_input("CONSTR_ESCROW", "CONSTRUCTION", "US", config),
            admin,
            "input.config",
        ));
    }
    all_bad_input(app, attempts).await;
}

async fn a_policy_whose_minimum_exceeds_its_maximum_is_bad_user_input(app: &TestApp) {
    let tenant = seed_tenant(app, "Bounded Bank").await;
    let admin = tenant.admin_key.as_str();
    let policy = |min: &str, max: &str| {
        json!({ "input": {
            "institutionId": tenant.institution_id,
            "region": "US",
            "position": { "minAmount": min, "maxAmount": max },
        }})
    };
    all_bad_input(
        app,
        vec![
            bad(
                UPSERT_POLICY,
                policy("100.01", "100"),
                admin,
                "input.position.minAmount",
            ),
            bad(
                UPSERT_POLICY,
                policy("abc", "100"),
                admin,
                "input.position.minAmount",
            ),
            bad(
                UPSERT_POLICY,
                policy("1", "-5"),
                admin,
                "input.position.maxAmount",
            ),
        ],
    )
    .await;
    // Equal bounds are allowed.
    let stored = app.data(UPSERT_POLICY, policy("100", "100"), admin).await;
    assert_eq!(
        stored["upsertPolicy"]["position"]["minAmount"],
        stored["upsertPolicy"]["position"]["maxAmount"]
    );
}

async fn bad_amounts_are_bad_user_input_naming_the_amount(app: &TestApp) {
    let tenant = seed_tenant(app, "Counting Bank").await;
    let admin = tenant.admin_key.as_str();
    let mut attempts = Vec::new();
    for amount in [
        json!("0"),
        json!("-1"),
        json!("0.000000001"),
        json!("1000000000000000.00000001"),
        json!("1000000000000001"),
        json!("abc"),
        json!("1e5"),
        json!(""),
        json!(0),
        json!(-3),
    ] {
        let mut input = position_input(&tenant.asset_id, "1");
        input["input"]["amount"] = amount.clone();
        attempts.push(bad(CREATE_POSITION, input, admin, "input.amount"));
        attempts.push(bad(
            TRANSITION,
            json!({ "input": {
                "positionId": tenant.position_id,
                "toState": "PARTIALLY_RELEASED",
                "releaseAmount": amount,
            }}),
            admin,
            "input.releaseAmount",
        ));
    }
    all_bad_input(app, attempts).await;
}

/// A float (`1.5`, in the document or in variables) or a boolean fails while async-graphql
/// coerces the input object; the error must still name the amount, not just `input`.
async fn a_float_or_boolean_amount_is_bad_user_input_naming_the_amount(app: &TestApp) {
    let tenant = seed_tenant(app, "Floating Bank").await;
    let admin = tenant.admin_key.as_str();
    let literal = format!(
        "mutation {{ createPosition(input: {{assetId: \"{}\", holderReference: \"h\", \
         currency: \"USD\", amount: 1.5}}) {{ id }} }}",
        tenant.asset_id
    );
    let mut attempts = vec![bad(&literal, json!({}), admin, "input.amount")];
    for amount in [json!(1.5), json!(true)] {
        let mut input = position_input(&tenant.asset_id, "1");
        input["input"]["amount"] = amount.clone();
        attempts.push(bad(CREATE_POSITION, input, admin, "input.amount"));
        attempts.push(bad(
            TRANSITION,
            json!({ "input": {
                "positionId": tenant.position_id,
                "toState": "PARTIALLY_RELEASED",
                "releaseAmount": amount,
            }}),
            admin,
            "input.releaseAmount",
        ));
        attempts.push(bad(
            UPSERT_POLICY,
            json!({ "input": {
                "institutionId": tenant.institution_id,
                "region": "US",
                "position": { "minAmount": amount },
            }}),
            admin,
            "input.position.minAmount",
        ));
    }
    all_bad_input(app, attempts).await;
}

async fn bad_currencies_are_bad_user_input_naming_the_field(app: &TestApp) {
    let tenant = seed_tenant(app, "Currency Bank").await;
    let admin = tenant.admin_key.as_str();
    let mut attempts = Vec::new();
    for currency in ["usd", "XYZ", "US", "USDT", ""] {
        let mut input = position_input(&tenant.asset_id, "10");
        input["input"]["currency"] = json!(currency);
        attempts.push(bad(CREATE_POSITION, input, admin, "input.currency"));
        attempts.push(bad(
            "query($c: String!) { positions(filter: {currency: $c}) { totalCount } }",
            json!({ "c": currency }),
            admin,
            "filter.currency",
        ));
    }
    attempts.push(bad(
        UPSERT_POLICY,
        json!({ "input": {
            "institutionId": tenant.institution_id,
            "region": "US",
            "position": { "allowedCurrencies": ["usd"] },
        }}),
        admin,
        "input.position.allowedCurrencies[0]",
    ));
    all_bad_input(app, attempts).await;
}

async fn ids_that_are_not_uuids_are_bad_user_input_naming_the_field(app: &TestApp) {
    let tenant = seed_tenant(app, "Ident Bank").await;
    let admin = tenant.admin_key.as_str();
    let not_a_uuid = "position-42";
    let mut attempts = Vec::new();
    for field in ["institution", "assetTemplate", "asset", "position"] {
        attempts.push(bad(
            &format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}"),
            json!({ "id": not_a_uuid }),
            admin,
            "id",
        ));
    }
    attempts.push(bad(
        REVOKE_API_KEY,
        json!({ "id": not_a_uuid }),
        admin,
        "id",
    ));
    attempts.push(bad(
        TRANSITION,
        json!({ "input": { "positionId": not_a_uuid, "toState": "CANCELLED" } }),
        admin,
        "input.positionId",
    ));
    attempts.push(bad(
        CREATE_ASSET,
        json!({ "input": { "templateId": not_a_uuid, "label": "x" } }),
        admin,
        "input.templateId",
    ));
    attempts.push(bad(
        CREATE_POSITION,
        position_input(not_a_uuid, "10"),
        admin,
        "input.assetId",
    ));
    attempts.push(bad(
        CREATE_API_KEY,
        json!({ "input": { "institutionId": not_a_uuid, "label": "x", "role": "ADMIN" } }),
        app.root_key.as_str(),
        "input.institutionId",
    ));
    attempts.push(bad(
        "query($id: ID!) { positions(filter: {assetId: $id}) { totalCount } }",
        json!({ "id": not_a_uuid }),
        admin,
        "filter.assetId",
    ));
    attempts.push(bad(
        "query($id: ID!) { ledgerEvents(filter: {positionId: $id}) { totalCount } }",
        json!({ "id": not_a_uuid }),
        admin,
        "filter.positionId",
    ));
    all_bad_input(app, attempts).await;
}

async fn first_outside_0_to_500_and_foreign_cursors_are_bad_user_input(app: &TestApp) {
    let tenant = seed_tenant(app, "Paging Bank").await;
    let admin = tenant.admin_key.as_str();
    let mut attempts = Vec::new();
    for first in [501, -1, 100_000] {
        for query in [
            "query($n: Int) { positions(first: $n) { totalCount } }",
            "query($n: Int) { institutions(first: $n) { totalCount } }",
            "query($n: Int) { ledgerEvents(first: $n) { totalCount } }",
            "query($n: Int) { viewer { institution { assets(first: $n) { totalCount } } } }",
        ] {
            attempts.push(bad(query, json!({ "n": first }), admin, "first"));
        }
    }
    for cursor in ["garbage", "!!!", "AAAA", ""] {
        attempts.push(bad(
            "query($c: String) { positions(after: $c) { totalCount } }",
            json!({ "c": cursor }),
            admin,
            "after",
        ));
    }
    all_bad_input(app, attempts).await;
    // The bounds themselves are fine.
    for first in [0, 500] {
        app.data(
            "query($n: Int) { positions(first: $n) { totalCount } }",
            json!({ "n": first }),
            admin,
        )
        .await;
    }
}

async fn templates_must_match_code_vertical_and_the_institutions_regions_and_verticals(
    app: &TestApp,
) {
    let tenant = seed_tenant(app, "Template Bank").await;
    let admin = tenant.admin_key.as_str();
    let builders = app
        .root(
            CREATE_INSTITUTION,
            json!({ "input": {
                "name": "Builders Only", "regions": ["US"], "verticals": ["CONSTRUCTION"],
            }}),
        )
        .await;
    let builders_id = id_of(&builders, "createInstitution");
    let (builders_key, _) = create_key(app, &builders_id, "ADMIN").await;
    let invoice = json!({ "currency": "USD", "maxTenorDays": 90, "country": "US" });
    all_bad_input(
        app,
        vec![
            bad(
                CREATE_TEMPLATE,
                template_input(
                    "CONSTR_ESCROW",
                    "TRADE_FINANCE",
                    "US",
                    json!({ "currency": "USD", "region": "US" }),
                ),
                admin,
                "input.vertical",
            ),
            bad(
                CREATE_TEMPLATE,
                template_input("TF_INVOICE", "CONSTRUCTION", "US", invoice.clone()),
                admin,
                "input.vertical",
            ),
            bad(
                CREATE_TEMPLATE,
                template_input(
                    "CONSTR_ESCROW",
                    "CONSTRUCTION",
                    "SG",
                    json!({ "currency": "SGD", "region": "SG" }),
                ),
                admin,
                "input.region",
            ),
            bad(
                CREATE_TEMPLATE,
                template_input("TF_INVOICE", "TRADE_FINANCE", "US", invoice.clone()),
                &builders_key,
                "input.vertical",
            ),
        ],
    )
    .await;
    // The same invoice template is fine for an institution in trade finance.
    app.data(
        CREATE_TEMPLATE,
        template_input("TF_INVOICE", "TRADE_FINANCE", "US", invoice),
        admin,
    )
    .await;
}

/// Each config must be refused with BAD_USER_INPUT naming `config.<key>` (by whatever prefix:
/// see `a_template_config_error_names_the_field_by_its_input_path` for the prefix); the valid
/// config must then be accepted.
async fn config_rules(
    app: &TestApp,
    code: &str,
    vertical: &str,
    valid: Value,
    bad: &[(Value, &str)],
) {
    let tenant = seed_tenant(app, &format!("{code} Bank")).await;
    let before = world(app).await;
    for (config, key) in bad {
        let (status, body) = app
            .gql(
                CREATE_TEMPLATE,
                template_input(code, vertical, "US", config.clone()),
                Some(&tenant.admin_key),
            )
            .await;
        let error = the_error(status, &body, "BAD_USER_INPUT");
        let field = named_field(&error);
        assert!(
            field.ends_with(&format!("config.{key}")),
            "{code} config {config} should be refused naming config.{key}: {error}"
        );
    }
    assert_eq!(world(app).await, before);
    let created = app
        .data(
            CREATE_TEMPLATE,
            template_input(code, vertical, "US", valid.clone()),
            &tenant.admin_key,
        )
        .await;
    assert_eq!(created["createAssetTemplate"]["config"], valid);
}

async fn constr_escrow_config_is_checked_field_by_field(app: &TestApp) {
    config_rules(
        app,
        "CONSTR_ESCROW",
        "CONSTRUCTION",
        json!({ "currency": "USD", "region": "US", "minAmount": "10", "maxAmount": "1000000" }),
        &[
            (json!({ "currency": "USD" }), "region"),
            (json!({ "currency": "USD", "region": "SG" }), "region"),
            (json!({ "currency": "USD", "region": "MARS" }), "region"),
            (json!({ "region": "US" }), "currency"),
            (json!({ "currency": "XYZ", "region": "US" }), "currency"),
            (json!({ "currency": 840, "region": "US" }), "currency"),
            (
                json!({ "currency": "USD", "region": "US", "minAmount": "abc" }),
                "minAmount",
            ),
            (
                json!({ "currency": "USD", "region": "US", "maxAmount": "0" }),
                "maxAmount",
            ),
            (
                json!({ "currency": "USD", "region": "US", "minAmount": "10", "maxAmount": "5" }),
                "minAmount",
            ),
            (
                json!({ "currency": "USD", "region": "US", "maxAmmount": "5" }),
                "maxAmmount",
            ),
        ],
    )
    .await;
}

/// A JSON float has lost digits before the server sees it (serde_json keeps no arbitrary
/// precision), so config amounts are strings or integers, and are used exactly as written.
async fn a_config_amount_is_exact_text_or_an_integer_never_a_float(app: &TestApp) {
    let tenant = seed_tenant(app, "Exact Bank").await;
    let admin = tenant.admin_key.as_str();
    let before = world(app).await;
    for (config, key) in [
        (
            json!({ "currency": "USD", "region": "US", "minAmount": 1000.1 }),
            "minAmount",
        ),
        (
            json!({ "currency": "USD", "region": "US", "maxAmount": 1e6 }),
            "maxAmount",
        ),
    ] {
        let (status, body) = app
            .gql(
                CREATE_TEMPLATE,
                template_input("CONSTR_ESCROW", "CONSTRUCTION", "US", config.clone()),
                Some(admin),
            )
            .await;
        let error = the_error(status, &body, "BAD_USER_INPUT");
        assert_eq!(
            named_field(&error),
            format!("input.config.{key}"),
            "{config}: {error}"
        );
    }
    assert_eq!(world(app).await, before);

    let exact = json!({
        "currency": "USD", "region": "US", "minAmount": "1000.12345678", "maxAmount": 5000,
    });
    let template = app
        .data(
            CREATE_TEMPLATE,
            template_input("CONSTR_ESCROW", "CONSTRUCTION", "US", exact.clone()),
            admin,
        )
        .await;
    assert_eq!(template["createAssetTemplate"]["config"], exact);
    let asset = app
        .data(
            CREATE_ASSET,
            json!({ "input": {
                "templateId": id_of(&template, "createAssetTemplate"), "label": "exact",
            }}),
            admin,
        )
        .await;
    let asset_id = id_of(&asset, "createAsset");
    let below = refused_without_writing(
        app,
        CREATE_POSITION,
        position_input(&asset_id, "1000.12345677"),
        admin,
        "POLICY_VIOLATION",
    )
    .await;
    assert_eq!(below["extensions"]["rule"], "template.minAmount", "{below}");
    let at_minimum = create_position(app, admin, &asset_id, "1000.12345678").await;
    assert_eq!(at_minimum["amount"], "1000.12345678");
}

async fn constr_retainage_config_is_checked_field_by_field(app: &TestApp) {
    config_rules(
        app,
        "CONSTR_RETAINAGE",
        "CONSTRUCTION",
        json!({ "currency": "USD", "retainagePercentage": 5 }),
        &[
            (json!({ "currency": "USD" }), "retainagePercentage"),
            (
                json!({ "currency": "USD", "retainagePercentage": 101 }),
                "retainagePercentage",
            ),
            (
                json!({ "currency": "USD", "retainagePercentage": -1 }),
                "retainagePercentage",
            ),
            (
                json!({ "currency": "USD", "retainagePercentage": "lots" }),
                "retainagePercentage",
            ),
            (
                json!({ "currency": "USD", "retainagePercentage": 2.5 }),
                "retainagePercentage",
            ),
            (json!({ "retainagePercentage": 5 }), "currency"),
            (
                json!({ "currency": "usd", "retainagePercentage": 5 }),
                "currency",
            ),
            (
                json!({ "currency": "USD", "retainagePercentage": 5, "region": "US" }),
                "region",
            ),
        ],
    )
    .await;
}

async fn tf_invoice_config_is_checked_field_by_field(app: &TestApp) {
    config_rules(
        app,
        "TF_INVOICE",
        "TRADE_FINANCE",
        json!({ "currency": "USD", "maxTenorDays": 90, "country": "US" }),
        &[
            (json!({ "maxTenorDays": 90, "country": "US" }), "currency"),
            (
                json!({ "currency": "XYZ", "maxTenorDays": 90, "country": "US" }),
                "currency",
            ),
            (
                json!({ "currency": "USD", "country": "US" }),
                "maxTenorDays",
            ),
            (
                json!({ "currency": "USD", "maxTenorDays": 0, "country": "US" }),
                "maxTenorDays",
            ),
            (
                json!({ "currency": "USD", "maxTenorDays": -5, "country": "US" }),
                "maxTenorDays",
            ),
            (
                json!({ "currency": "USD", "maxTenorDays": "90", "country": "US" }),
                "maxTenorDays",
            ),
            (json!({ "currency": "USD", "maxTenorDays": 90 }), "country"),
            (
                json!({ "currency": "USD", "maxTenorDays": 90, "country": "USA" }),
                "country",
            ),
            (
                json!({ "currency": "USD", "maxTenorDays": 90, "country": "us" }),
                "country",
            ),
        ],
    )
    .await;
}

async fn tf_lc_config_is_checked_field_by_field(app: &TestApp) {
    config_rules(
        app,
        "TF_LC",
        "TRADE_FINANCE",
        json!({ "currency": "USD", "issuingBankCountry": "GB", "maxTenorDays": 30 }),
        &[
            (
                json!({ "issuingBankCountry": "GB", "maxTenorDays": 30 }),
                "currency",
            ),
            (
                json!({ "currency": "GBP1", "issuingBankCountry": "GB", "maxTenorDays": 30 }),
                "currency",
            ),
            (
                json!({ "currency": "USD", "maxTenorDays": 30 }),
                "issuingBankCountry",
            ),
            (
                json!({ "currency": "USD", "issuingBankCountry": "gb", "maxTenorDays": 30 }),
                "issuingBankCountry",
            ),
            (
                json!({ "currency": "USD", "issuingBankCountry": "GB" }),
                "maxTenorDays",
            ),
            (
                json!({ "currency": "USD", "issuingBankCountry": "GB", "maxTenorDays": 0 }),
                "maxTenorDays",
            ),
            (
                json!({ "currency": "USD", "issuingBankCountry": "GB", "maxTenorDays": 1.5 }),
                "maxTenorDays",
            ),
        ],
    )
    .await;
}

/// Every other BAD_USER_INPUT on a mutation names the input path (`input.amount`,
/// `input.position.minAmount`, `input.metadata`); a config key is part of the same input.
async fn a_template_config_error_names_the_field_by_its_input_path(app: &TestApp) {
    let tenant = seed_tenant(app, "Pathfinder Bank").await;
    all_bad_input(
        app,
        vec![
            bad(
                CREATE_TEMPLATE,
                template_input(
                    "CONSTR_ESCROW",
                    "CONSTRUCTION",
                    "US",
                    json!({ "currency": "XYZ", "region": "US" }),
                ),
                &tenant.admin_key,
                "input.config.currency",
            ),
            bad(
                CREATE_TEMPLATE,
                template_input(
                    "TF_INVOICE",
                    "TRADE_FINANCE",
                    "US",
                    json!({ "currency": "USD", "maxTenorDays": 0, "country": "US" }),
                ),
                &tenant.admin_key,
                "input.config.maxTenorDays",
            ),
        ],
    )
    .await;
}

async fn positions_breaking_a_template_or_policy_bound_are_a_policy_violation_naming_the_rule(
    app: &TestApp,
) {
    let tenant = seed_tenant(app, "Policy Bank").await;
    let admin = tenant.admin_key.as_str();
    let template = app
        .data(
            CREATE_TEMPLATE,
            template_input(
                "CONSTR_ESCROW",
                "CONSTRUCTION",
                "US",
                json!({ "currency": "USD", "region": "US", "minAmount": "10", "maxAmount": "1000000" }),
            ),
            admin,
        )
        .await;
    let asset = app
        .data(
            CREATE_ASSET,
            json!({ "input": {
                "templateId": id_of(&template, "createAssetTemplate"), "label": "bounded",
            }}),
            admin,
        )
        .await;
    let asset_id = id_of(&asset, "createAsset");
    let violates = |amount: &str, currency: &str, rule: &'static str| {
        let mut input = position_input(&asset_id, amount);
        input["input"]["currency"] = json!(currency);
        (input, rule)
    };
    let set_policy = |position: Value| {
        json!({ "input": {
            "institutionId": tenant.institution_id, "region": "US", "position": position,
        }})
    };

    let mut checks = vec![
        violates("100", "EUR", "template.currency"),
        violates("9.99999999", "USD", "template.minAmount"),
        violates("1000000.00000001", "USD", "template.maxAmount"),
    ];
    for (input, rule) in checks.drain(..) {
        let error =
            refused_without_writing(app, CREATE_POSITION, input, admin, "POLICY_VIOLATION").await;
        assert_eq!(error["extensions"]["rule"], rule, "{error}");
    }

    app.data(
        UPSERT_POLICY,
        set_policy(json!({ "minAmount": "100", "maxAmount": "500000" })),
        admin,
    )
    .await;
    checks.push(violates("99.99", "USD", "policy.minAmount"));
    checks.push(violates("500000.01", "USD", "policy.maxAmount"));
    // The template's own bounds come first.
    checks.push(violates("5", "USD", "template.minAmount"));
    for (input, rule) in checks.drain(..) {
        let error =
            refused_without_writing(app, CREATE_POSITION, input, admin, "POLICY_VIOLATION").await;
        assert_eq!(error["extensions"]["rule"], rule, "{error}");
    }
    create_position(app, admin, &asset_id, "100").await;
    create_position(app, admin, &asset_id, "500000").await;

    app.data(
        UPSERT_POLICY,
        set_policy(json!({ "allowedCurrencies": ["EUR", "GBP"] })),
        admin,
    )
    .await;
    let (input, rule) = violates("1000", "USD", "policy.allowedCurrencies");
    let error =
        refused_without_writing(app, CREATE_POSITION, input, admin, "POLICY_VIOLATION").await;
    assert_eq!(error["extensions"]["rule"], rule, "{error}");

    // A policy for another region does not apply to this US template.
    app.data(
        UPSERT_POLICY,
        set_policy(json!({ "allowedCurrencies": ["USD"] })),
        admin,
    )
    .await;
    app.data(
        UPSERT_POLICY,
        json!({ "input": {
            "institutionId": tenant.institution_id,
            "region": "EU_UK",
            "position": { "maxAmount": "1" },
        }}),
        admin,
    )
    .await;
    create_position(app, admin, &asset_id, "1000").await;
}

async fn moves_outside_the_lifecycle_are_invalid_transitions_and_write_nothing(app: &TestApp) {
    let tenant = seed_tenant(app, "Lifecycle Bank").await;
    let admin = tenant.admin_key.as_str();
    let new_position = || async {
        let position = create_position(app, admin, &tenant.asset_id, "1000.00").await;
        position["id"].as_str().expect("an id").to_owned()
    };
    let refuse = |position_id: String, to_state: &'static str, release: Option<&'static str>| {
        let variables = json!({ "input": {
            "positionId": position_id, "toState": to_state, "releaseAmount": release,
        }});
        async move {
            refused_without_writing(app, TRANSITION, variables, admin, "INVALID_TRANSITION").await
        }
    };

    let created = new_position().await;
    refuse(created.clone(), "CREATED", None).await;
    refuse(created.clone(), "RELEASED", None).await;
    refuse(created.clone(), "PARTIALLY_RELEASED", Some("1")).await;
    refuse(created.clone(), "CANCELLED", Some("1")).await;

    let funded = new_position().await;
    transition(app, admin, &funded, "FUNDED", None).await;
    refuse(funded.clone(), "FUNDED", None).await;
    refuse(funded.clone(), "CREATED", None).await;
    refuse(funded.clone(), "PARTIALLY_RELEASED", None).await;
    refuse(funded.clone(), "PARTIALLY_RELEASED", Some("1000")).await;
    refuse(funded.clone(), "PARTIALLY_RELEASED", Some("1000.01")).await;
    refuse(funded.clone(), "CANCELLED", Some("1")).await;
    refuse(funded.clone(), "EXPIRED", Some("1")).await;
    let partial = transition(app, admin, &funded, "PARTIALLY_RELEASED", Some("400")).await;
    assert_eq!(partial["releasedAmount"], "400.00");
    refuse(funded.clone(), "PARTIALLY_RELEASED", Some("600")).await;
    refuse(funded.clone(), "PARTIALLY_RELEASED", Some("600.00000001")).await;
    refuse(funded.clone(), "FUNDED", None).await;
    transition(app, admin, &funded, "RELEASED", None).await;
    for to_state in ["FUNDED", "RELEASED", "CANCELLED", "PARTIALLY_RELEASED"] {
        refuse(funded.clone(), to_state, None).await;
    }

    let cancelled = new_position().await;
    transition(app, admin, &cancelled, "CANCELLED", None).await;
    refuse(cancelled.clone(), "FUNDED", None).await;
    refuse(cancelled.clone(), "CANCELLED", None).await;

    let expired = new_position().await;
    transition(app, admin, &expired, "EXPIRED", None).await;
    refuse(expired.clone(), "FUNDED", None).await;

    let history = app
        .data(
            "query($id: ID!) { position(id: $id) { state version releasedAmount events { toState } } }",
            json!({ "id": funded }),
            admin,
        )
        .await;
    assert_eq!(
        history["position"],
        json!({
            "state": "RELEASED",
            "version": 4,
            "releasedAmount": "1000.00",
            "events": [
                { "toState": "CREATED" },
                { "toState": "FUNDED" },
                { "toState": "PARTIALLY_RELEASED" },
                { "toState": "RELEASED" },
            ],
        })
    );
}

async fn a_stale_expected_version_is_a_conflict_and_writes_nothing(app: &TestApp) {
    let tenant = seed_tenant(app, "Versioned Bank").await;
    let admin = tenant.admin_key.as_str();
    // The tenant's position is FUNDED at version 2.
    for stale in [1, 3, 0, -1] {
        refused_without_writing(
            app,
            TRANSITION,
            json!({ "input": {
                "positionId": tenant.position_id, "toState": "CANCELLED", "expectedVersion": stale,
            }}),
            admin,
            "CONFLICT",
        )
        .await;
    }
    let moved = app
        .data(
            TRANSITION,
            json!({ "input": {
                "positionId": tenant.position_id, "toState": "CANCELLED", "expectedVersion": 2,
            }}),
            admin,
        )
        .await;
    assert_eq!(moved["transitionPosition"]["version"], 3);
}

async fn an_idempotency_key_replays_the_same_input_and_conflicts_on_a_different_one(app: &TestApp) {
    let tenant = seed_tenant(app, "Idempotent Bank").await;
    let admin = tenant.admin_key.as_str();
    let open = |amount: &str, holder: &str| {
        json!({ "input": {
            "assetId": tenant.asset_id,
            "holderReference": holder,
            "currency": "USD",
            "amount": amount,
            "idempotencyKey": "open-1",
        }})
    };
    let first = app
        .data(CREATE_POSITION, open("100.00", "h-1"), admin)
        .await;
    let position_id = id_of(&first, "createPosition");

    let before = world(app).await;
    let again = app
        .data(CREATE_POSITION, open("100.00", "h-1"), admin)
        .await;
    assert_eq!(
        again, first,
        "the same key and input return the first result"
    );
    assert_eq!(world(app).await, before, "a replay writes nothing");
    refused_without_writing(
        app,
        CREATE_POSITION,
        open("200.00", "h-1"),
        admin,
        "CONFLICT",
    )
    .await;
    refused_without_writing(
        app,
        CREATE_POSITION,
        open("100.00", "h-2"),
        admin,
        "CONFLICT",
    )
    .await;

    let fund = |to_state: &str| {
        json!({ "input": {
            "positionId": position_id, "toState": to_state, "idempotencyKey": "fund-1",
        }})
    };
    let funded = app.data(TRANSITION, fund("FUNDED"), admin).await;
    assert_eq!(funded["transitionPosition"]["version"], 2);
    let before = world(app).await;
    let again = app.data(TRANSITION, fund("FUNDED"), admin).await;
    assert_eq!(
        again, funded,
        "the same key and input return the first result"
    );
    assert_eq!(world(app).await, before, "a replay writes nothing");
    refused_without_writing(app, TRANSITION, fund("CANCELLED"), admin, "CONFLICT").await;

    // A key used for one operation is not free for another.
    let mut reused = fund("CANCELLED");
    reused["input"]["idempotencyKey"] = json!("open-1");
    refused_without_writing(app, TRANSITION, reused, admin, "CONFLICT").await;

    // After the position moved on, the replay still returns the first result.
    transition(app, admin, &position_id, "CANCELLED", None).await;
    let before = world(app).await;
    let late = app.data(TRANSITION, fund("FUNDED"), admin).await;
    assert_eq!(late, funded);
    assert_eq!(world(app).await, before);
}

async fn unparsable_and_invalid_documents_carry_the_apollo_codes(app: &TestApp) {
    let tenant = seed_tenant(app, "Parser Bank").await;
    let cases = [
        ("{ positions(", "GRAPHQL_PARSE_FAILED"),
        ("query { viewer { role }", "GRAPHQL_PARSE_FAILED"),
        (
            "mutation { createPosition(input: {amount: \"1\") { id } }",
            "GRAPHQL_PARSE_FAILED",
        ),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ positions { edges { node { secret } } } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("{ viewer }", "GRAPHQL_VALIDATION_FAILED"),
    ];
    let before = world(app).await;
    for (query, code) in cases {
        for accept in ["application/json", "application/graphql-response+json"] {
            let response = app
                .client
                .post(app.url("/graphql"))
                .header("X-API-Key", &tenant.admin_key)
                .header("Accept", accept)
                .json(&json!({ "query": query, "variables": { "id": tenant.position_id } }))
                .send()
                .await
                .expect("the server answers");
            let status = response.status();
            let body: Value = response.json().await.expect("the body is JSON");
            the_error(status, &body, code);
            if accept == "application/graphql-response+json" {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
                let documented = code.parse::<ErrorCode>().map(ErrorCode::http_status);
                assert_eq!(documented, Ok(status.as_u16()), "{query}: {body}");
                assert!(body.get("data").is_none(), "{query}: {body}");
            } else {
                assert_eq!(body["data"], Value::Null, "{query}: {body}");
            }
        }
    }
    assert_eq!(world(app).await, before);
}

/// async-graphql's guard against deep fragment chains runs right after the parse; a client
/// meets it as the depth limit, told apart from a parse failure by the document parsing.
async fn fragment_chains_past_the_recursion_guard_are_too_complex_naming_max_depth(app: &TestApp) {
    let tenant = seed_tenant(app, "Fragment Bank").await;
    let chain: String = (0..40)
        .map(|i| format!("fragment F{i} on Query {{ ...F{} }} ", i + 1))
        .collect();
    let long = format!("{{ ...F0 }} {chain}fragment F40 on Query {{ viewer {{ role }} }}");
    let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    let before = world(app).await;
    for query in [long.as_str(), cycle] {
        let error = expect_error(
            app,
            query,
            json!({}),
            &tenant.admin_key,
            "QUERY_TOO_COMPLEX",
        )
        .await;
        assert_eq!(error["extensions"]["limit"], "maxDepth", "{error}");
    }
    assert_eq!(world(app).await, before);
}

async fn money_comes_back_exactly_as_sent(app: &TestApp) {
    let tenant = seed_tenant(app, "Exact Bank").await;
    let admin = tenant.admin_key.as_str();
    let read = "query($id: ID!) { position(id: $id) {
        amount releasedAmount ledgerEvents { payload } events { releaseAmount } } }";
    for amount in ["0.00000001", "100000.50", "999999999999999.99999999"] {
        let created = create_position(app, admin, &tenant.asset_id, amount).await;
        assert_eq!(created["amount"], amount, "{created}");
        assert_eq!(created["releasedAmount"], "0.00", "{created}");
        let id = created["id"].as_str().expect("an id");
        let stored = app.data(read, json!({ "id": id }), admin).await;
        assert_eq!(stored["position"]["amount"], amount, "{stored}");
        assert_eq!(
            stored["position"]["ledgerEvents"][0]["payload"]["amount"], amount,
            "{stored}"
        );
        let listed = app
            .data(
                "query($asset: ID!) { positions(filter: {assetId: $asset}, first: 500) {
                   edges { node { id amount } } } }",
                json!({ "asset": tenant.asset_id }),
                admin,
            )
            .await;
        let row = listed["positions"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|edge| edge["node"]["id"] == id)
            .expect("the position is listed");
        assert_eq!(row["node"]["amount"], amount);
    }

    // Releases are exact to the last of 8 places.
    let position = create_position(app, admin, &tenant.asset_id, "100000.50").await;
    let id = position["id"].as_str().expect("an id");
    transition(app, admin, id, "FUNDED", None).await;
    let partial = transition(app, admin, id, "PARTIALLY_RELEASED", Some("0.00000001")).await;
    assert_eq!(partial["releasedAmount"], "0.00000001");
    let released = transition(app, admin, id, "RELEASED", None).await;
    assert_eq!(released["releasedAmount"], "100000.50");
    let stored = app.data(read, json!({ "id": id }), admin).await;
    let events = &stored["position"]["events"];
    assert_eq!(events[2]["releaseAmount"], "0.00000001");
    assert_eq!(events[3]["releaseAmount"], "100000.49999999");

    // An integer literal is accepted, and the largest amount too; neither comes back a float.
    let query = format!(
        "mutation {{ createPosition(input: {{assetId: \"{}\", holderReference: \"h\", \
         currency: \"USD\", amount: 250}}) {{ amount }} }}",
        tenant.asset_id
    );
    let literal = app.data(&query, json!({}), admin).await;
    let amount = &literal["createPosition"]["amount"];
    assert!(amount.is_string(), "{literal}");
    assert_eq!(
        Decimal::from_str(amount.as_str().expect("a string")).expect("a decimal"),
        Decimal::from(250)
    );
    let largest = create_position(app, admin, &tenant.asset_id, "1000000000000000").await;
    assert_eq!(
        Decimal::from_str(largest["amount"].as_str().expect("a string")).expect("a decimal"),
        Decimal::from(1_000_000_000_000_000_i64)
    );
}
