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

/// One position with its history, as a detail page asks for it.
pub(crate) const POINT: &str = "query Point($id: ID!) {
  position(id: $id) {
    id holderReference currency amount releasedAmount state version updatedAt
    events { id fromState toState releaseAmount version at }
  }
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

/// Every event, no filter: each subscriber hears each commit (the fanout worst case).
pub(crate) const SUBSCRIBE: &str =
    "subscription { positionEvents { id cursor version toState at } }";
