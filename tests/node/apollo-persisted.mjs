#!/usr/bin/env node
// Apollo Client with its persisted-queries link against escrowgrid: the first request sends
// only the hash (GET, as a CDN would see it), the server misses, the link retries with the
// text and the hash (which registers it), and the next request sends only the hash again.
//
// Usage: ESCROWGRID_API_KEY=<key> node tests/node/apollo-persisted.mjs <http-url>
//
// Prints one JSON object on stdout: { requests: [{ method, hasQuery, hasHash }], results: [..] }.
// Exits 1 on any GraphQL or network error.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { createHash } from 'node:crypto';

const [url] = process.argv.slice(2);
const apiKey = process.env.ESCROWGRID_API_KEY;
if (!url || !apiKey) {
  console.error('usage: ESCROWGRID_API_KEY=<key> node apollo-persisted.mjs <http-url>');
  process.exit(64);
}

// What went over the wire, so the caller can check the protocol rather than trust the link.
const requests = [];
async function recordingFetch(input, init = {}) {
  const method = (init.method ?? 'GET').toUpperCase();
  let hasQuery;
  let hasHash;
  if (method === 'GET') {
    const params = new URL(String(input)).searchParams;
    hasQuery = params.has('query');
    hasHash = (params.get('extensions') ?? '').includes('sha256Hash');
  } else {
    const body = JSON.parse(String(init.body));
    hasQuery = typeof body.query === 'string';
    hasHash = Boolean(body.extensions?.persistedQuery?.sha256Hash);
  }
  const response = await fetch(input, init);
  requests.push({ method, hasQuery, hasHash, status: response.status });
  return response;
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

const client = new ApolloClient({
  link: new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
    new HttpLink({ uri: url, fetch: recordingFetch, headers: { 'X-API-Key': apiKey } }),
  ),
  cache: new InMemoryCache(),
});

const VIEWER = gql`
  query PersistedViewer {
    viewer {
      role
    }
  }
`;

const results = [];
try {
  for (let i = 0; i < 2; i += 1) {
    const result = await client.query({ query: VIEWER, fetchPolicy: 'network-only' });
    if (result.error) throw result.error;
    results.push(result.data);
  }
} catch (error) {
  console.error(`Apollo Client failed: ${error?.message ?? error}`);
  console.error(JSON.stringify({ requests }));
  process.exit(1);
}
console.log(JSON.stringify({ requests, results }));
