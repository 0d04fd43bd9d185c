#!/usr/bin/env node
// The npm `graphql-ws` reference client against escrowgrid's websocket endpoint.
//
// Usage: node tests/node/graphql-ws-client.mjs <ws-url> <apiKey> <positionId> [count] [timeoutMs]
//   ws-url      e.g. ws://127.0.0.1:4000/graphql/ws
//   apiKey      sent in connection_init as {"apiKey": "<apiKey>"}
//   positionId  subscribes to positionEvents(filter: {positionId})
//   count       exit 0 after this many events (default 3)
//   timeoutMs   exit 2 if they have not all arrived by then (default 10000)
//
// Prints each received PositionEvent as one JSON line on stdout. Errors go to stderr with
// exit 1 (a GraphQL error or a closed socket), or 2 (timeout).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, apiKey, positionId, countArg, timeoutArg] = process.argv.slice(2);
if (!url || !apiKey || !positionId) {
  console.error('usage: node graphql-ws-client.mjs <ws-url> <apiKey> <positionId> [count] [timeoutMs]');
  process.exit(64);
}
const count = Number(countArg ?? 3);
const timeoutMs = Number(timeoutArg ?? 10_000);

const query = `subscription($filter: PositionEventFilter) {
  positionEvents(filter: $filter) { id cursor version fromState toState releaseAmount position { id } }
}`;

let received = 0;
const timer = setTimeout(() => {
  console.error(`timed out after ${timeoutMs} ms with ${received}/${count} events`);
  process.exit(2);
}, timeoutMs);

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { apiKey },
  retryAttempts: 0,
  lazy: true,
});

function describe(error) {
  if (Array.isArray(error)) return JSON.stringify(error);
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
    return `socket closed: ${error.code} ${error.reason}`;
  }
  return String(error?.message ?? error);
}

try {
  const subscription = client.iterate({ query, variables: { filter: { positionId } } });
  for await (const result of subscription) {
    if (result.errors) {
      console.error(`errors: ${JSON.stringify(result.errors)}`);
      process.exit(1);
    }
    console.log(JSON.stringify(result.data.positionEvents));
    received += 1;
    if (received >= count) break; // completes the subscription
  }
} catch (error) {
  console.error(`subscription failed: ${describe(error)}`);
  process.exit(1);
}
clearTimeout(timer);
await client.dispose();
if (received < count) {
  console.error(`the subscription ended after ${received}/${count} events`);
  process.exit(1);
}
process.exit(0);
