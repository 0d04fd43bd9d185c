//! Money is exact: amounts at the contract's bounds read back equal, digit for digit.

use crate::support::{Tenant, applied, creation, first, money, policy, transition_releasing};
use escrowgrid::domain::Amount;
use escrowgrid::domain::PositionState::{Funded, PartiallyReleased, Released};
use escrowgrid::domain::policy::PositionRules;
use escrowgrid::domain::{Region, model::Position};
use escrowgrid::ports::{PositionFilter, Scope, Store};
use std::sync::Arc;

contract_cases!(
    amounts_at_the_bounds_round_trip_exactly,
    released_amounts_round_trip_exactly,
    policy_amounts_round_trip_exactly,
    amounts_beyond_the_bounds_are_refused_by_the_domain,
);

const EXACT: [&str; 3] = ["0.00000001", "100000.50", "999999999999999.99999999"];

async fn read_back(store: &Arc<dyn Store>, position: &Position) -> Position {
    store
        .positions_by_ids(Scope::All, &[position.id])
        .await
        .expect("readable")
        .pop()
        .expect("the position exists")
}

async fn amounts_at_the_bounds_round_trip_exactly(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    for text in EXACT {
        let wanted = Amount::parse_str(text, "amount").expect("in bounds");
        let (written, _) = applied(store.create_position(creation(&tenant.asset, text)).await);

        let by_id = read_back(&store, &written).await;
        let listed = store
            .list_positions(tenant.scope(), &PositionFilter::default(), first(10))
            .await
            .expect("listable")
            .items
            .into_iter()
            .find(|p| p.id == written.id)
            .expect("listed");

        for read in [&by_id, &listed] {
            assert_eq!(read.amount, wanted, "{text}");
            assert_eq!(read.amount.to_string(), text, "spelled as written");
            assert_eq!(read.released_amount.to_string(), "0.00");
        }
    }
}

async fn released_amounts_round_trip_exactly(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let funded = tenant
        .open_and_move(&store, "999999999999999.99999999", &[Funded])
        .await;

    let step = transition_releasing(&funded, PartiallyReleased, Some("0.00000001"));
    let (partly, event) = applied(store.transition_position(step).await);
    let stored = read_back(&store, &partly).await;
    assert_eq!(stored.released_amount.to_string(), "0.00000001");
    assert_eq!(
        event.release_amount.map(|a| a.to_string()).as_deref(),
        Some("0.00000001")
    );

    let (released, event) = applied(
        store
            .transition_position(transition_releasing(&stored, Released, None))
            .await,
    );
    let stored = read_back(&store, &released).await;
    assert_eq!(
        stored.released_amount.to_string(),
        "999999999999999.99999999"
    );
    assert_eq!(
        event.release_amount,
        Some(money("999999999999999.99999998")),
        "RELEASED releases exactly the remainder"
    );
    let history = store
        .events_by_positions(Scope::All, &[stored.id])
        .await
        .expect("readable");
    let releases: Vec<String> = history[&stored.id]
        .iter()
        .filter_map(|e| e.release_amount.map(|a| a.to_string()))
        .collect();
    assert_eq!(releases, vec!["0.00000001", "999999999999999.99999998"]);
}

async fn policy_amounts_round_trip_exactly(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let amount = |text| Amount::parse_str(text, "amount").expect("in bounds");
    let rules = PositionRules::new(Some(amount(EXACT[0])), Some(amount(EXACT[2])), None)
        .expect("min <= max");
    store
        .upsert_policy(
            &policy(tenant.id(), Region::EuUk, rules.clone()),
            &crate::support::audit("upsertPolicy", Some(tenant.id())),
        )
        .await
        .expect("policy is stored");

    let stored = store
        .policy_for(tenant.scope(), tenant.id(), Region::EuUk)
        .await
        .expect("readable")
        .expect("policy exists");

    assert_eq!(stored.rules, rules);
    assert_eq!(
        stored.rules.min_amount.map(|a| a.to_string()).as_deref(),
        Some(EXACT[0])
    );
    assert_eq!(
        stored.rules.max_amount.map(|a| a.to_string()).as_deref(),
        Some(EXACT[2])
    );
}

/// Not a store rule, but the other half of the bounds: such amounts never reach a store.
async fn amounts_beyond_the_bounds_are_refused_by_the_domain(_store: Arc<dyn Store>) {
    for text in ["1000000000000000.00000001", "0.000000001"] {
        assert!(
            Amount::parse_str(text, "amount").is_err(),
            "{text} must be refused"
        );
    }
    for text in EXACT {
        let amount = Amount::parse_str(text, "amount").expect("in bounds");
        assert_eq!(amount.to_string(), text);
    }
}
