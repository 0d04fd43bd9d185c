#!/usr/bin/env node
// Relay-style refetch with Apollo Client: a screen shows a position with its asset and
// institution; another client then releases the position; the screen refetches all three
// objects by id through `node(id:)` in one request, and Apollo's normalized cache (which
// knows from `possibleTypes` which types are a `Node`) updates the objects it already holds.
//
// Usage: ESCROWGRID_API_KEY=<admin key> node tests/node/apollo-relay-refetch.mjs \
//          <http-url> <position-id> <asset-id> <institution-id>
//
// Prints one JSON object on stdout: { requests, before, refetched, cached }.
// Exits 1 on any GraphQL or network error.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';

const [url, positionId, assetId, institutionId] = process.argv.slice(2);
const apiKey = process.env.ESCROWGRID_API_KEY;
if (!url || !positionId || !assetId || !institutionId || !apiKey) {
  console.error(
    'usage: ESCROWGRID_API_KEY=<key> node apollo-relay-refetch.mjs <url> <position> <asset> <institution>',
  );
  process.exit(64);
}

let requests = 0;
async function countingFetch(input, init) {
  requests += 1;
  return fetch(input, init);
}

const client = new ApolloClient({
  link: new HttpLink({ uri: url, fetch: countingFetch, headers: { 'X-API-Key': apiKey } }),
  cache: new InMemoryCache({
    possibleTypes: {
      Node: [
        'Institution',
        'AssetTemplate',
        'Asset',
        'Position',
        'PositionEvent',
        'LedgerEvent',
        'AuditEvent',
        'ApiKey',
        'Policy',
      ],
    },
  }),
});

const SCREEN = gql`
  query PositionScreen($id: ID!) {
    position(id: $id) {
      id
      state
      releasedAmount
      asset {
        id
        label
      }
      institution {
        id
        name
      }
    }
  }
`;

const REFETCH = gql`
  query RefetchNodes($position: ID!, $asset: ID!, $institution: ID!) {
    position: node(id: $position) {
      id
      ...PositionFields
    }
    asset: node(id: $asset) {
      id
      ... on Asset {
        label
      }
    }
    institution: node(id: $institution) {
      id
      ... on Institution {
        name
      }
    }
  }
  fragment PositionFields on Position {
    state
    releasedAmount
  }
`;

const RELEASE = `mutation($input: TransitionPositionInput!) {
  transitionPosition(input: $input) { id state } }`;

try {
  const screen = await client.query({ query: SCREEN, variables: { id: positionId } });
  if (screen.error) throw screen.error;
  const before = screen.data.position;

  // Another client, not this cache, changes the position.
  const released = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-API-Key': apiKey },
    body: JSON.stringify({
      query: RELEASE,
      variables: { input: { positionId, toState: 'RELEASED' } },
    }),
  }).then((response) => response.json());
  if (released.errors) throw new Error(JSON.stringify(released.errors));

  const requestsBeforeRefetch = requests;
  const refetch = await client.query({
    query: REFETCH,
    variables: { position: positionId, asset: assetId, institution: institutionId },
    fetchPolicy: 'network-only',
  });
  if (refetch.error) throw refetch.error;
  const refetchRequests = requests - requestsBeforeRefetch;

  // What the first screen now reads from the cache, without asking the server.
  const cached = client.readQuery({ query: SCREEN, variables: { id: positionId } });
  console.log(
    JSON.stringify({
      refetchRequests,
      before,
      refetched: refetch.data,
      cached: cached?.position ?? null,
    }),
  );
} catch (error) {
  console.error(`Apollo Client failed: ${error?.message ?? error}`);
  process.exit(1);
}
