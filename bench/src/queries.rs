//! The GraphQL documents the harness sends, in one place so docs/benchmarks.md can quote them
//! and a reader can see exactly what each workload asks the server for.

/// The contract's nested frontend query: institutions → assets → positions → events at
/// first 10/20/20, with the fields a position list shows. Sized to the server's default
/// complexity budget (250 000; this document costs about 201 000 by its rules: connections
/// multiply by `first`, `events` by 10), so inner levels carry no `pageInfo`.
pub(crate) const NESTED: &str = "query Nested {
  institutions(first: 10) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name
      assets(first: 20) { edges { node {
        id label
        positions(first: 20) { edges { node {
          id holderReference currency amount releasedAmount state version
          events { toState releaseAmount version at }
        } } }
      } } }
    } }
  }
}";

/// The nested page: two institutions, five assets each, ten positions each, with
/// their events.
pub(crate) const NESTED_PAGE: &str = "query NestedPage {
  institutions(first: 2) { nodes { id name
    assets(first: 5) { nodes { id label
      positions(first: 10) { nodes {
        id holderReference currency amount state
        events { id fromState toState at }
      } }
    } }
  } }
}";

/// One institution's page, as its own dashboard asks for it.
pub(crate) const ONE_INSTITUTION: &str = "query OneInstitution($id: ID!) {
  institution(id: $id) { id name
    assets(first: 20) { nodes { id label
      positions(first: 20) { nodes {
        id holderReference currency amount state
        events { id fromState toState at }
      } }
    } }
  }
}";

/// One position by id: its scalars and the ids of its institution and asset.
pub(crate) const POINT: &str = "query Point($id: ID!) {
  position(id: $id) {
    id institution { id } asset { id }
    holderReference currency amount state externalReference createdAt updatedAt
  }
}";

/// `POINT` plus the position's lifecycle events.
pub(crate) const POINT_EVENTS: &str = "query PointEvents($id: ID!) {
  position(id: $id) {
    id institution { id } asset { id }
    holderReference currency amount state externalReference createdAt updatedAt
    events { id fromState toState at }
  }
}";

/// The smallest read of one position: the harness sends it once, alone, to capture the SQL
/// statement the server runs for `position(id)` (see `postgres::BenchDb::last_statement`).
pub(crate) const POSITION_ID: &str = "query($id: ID!) { position(id: $id) { id } }";

pub(crate) const CREATE_API_KEY: &str = "mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { token }
}";

pub(crate) const CREATE_INSTITUTION: &str =
    "mutation($input: CreateInstitutionInput!) { createInstitution(input: $input) { id } }";

pub(crate) const CREATE_TEMPLATE: &str =
    "mutation($input: CreateAssetTemplateInput!) { createAssetTemplate(input: $input) { id } }";

pub(crate) const CREATE_ASSET: &str =
    "mutation($input: CreateAssetInput!) { createAsset(input: $input) { id } }";

pub(crate) const CREATE_POSITION: &str =
    "mutation($input: CreatePositionInput!) { createPosition(input: $input) { id state version } }";

/// createPosition returning its creation event's id, which the fanout subscribers receive.
pub(crate) const CREATE_POSITION_WITH_EVENT: &str = "mutation($input: CreatePositionInput!) {
  createPosition(input: $input) { id version events { id } }
}";

pub(crate) const TRANSITION: &str = "mutation($input: TransitionPositionInput!) {
  transitionPosition(input: $input) { id state version }
}";

/// Every event, no filter: each subscriber hears each commit (the fanout worst case). The
/// event's `id` is the only `id` in both selections: the subscribers find it by a byte scan.
pub(crate) const SUBSCRIBE_SCALAR: &str =
    "subscription { positionEvents { id cursor version toState at } }";

/// The same events with a nested selection the server must load per event.
pub(crate) const SUBSCRIBE_NESTED: &str =
    "subscription { positionEvents { id position { state version asset { label } } } }";
