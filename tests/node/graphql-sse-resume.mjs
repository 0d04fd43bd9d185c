#!/usr/bin/env node
// The npm `graphql-sse` client (distinct connections mode) against escrowgrid's
// `/graphql/stream`, through a TCP proxy this script cuts after `cutAfter` events: the client
// reconnects by itself and, with `Last-Event-ID` set to the last cursor it received, must get
// every later event exactly once.
//
// Usage: ESCROWGRID_API_KEY=<key> node tests/node/graphql-sse-resume.mjs <http-url> <assetId> <count> <cutAfter> [timeoutMs]
//
// Prints `{"cut": n}` when it cuts the connection, then, after `count` events, one line
// `{"events": [{id, cursor, version, toState, position}], "connects": [{lastEventId}]}`.
// Exits 1 on an error, 2 on timeout.
import { createClient } from 'graphql-sse';
import net from 'node:net';

const [url, assetId, countArg, cutArg, timeoutArg] = process.argv.slice(2);
const apiKey = process.env.ESCROWGRID_API_KEY;
if (!url || !assetId || !countArg || !cutArg || !apiKey) {
  console.error('usage: ESCROWGRID_API_KEY=<key> node graphql-sse-resume.mjs <http-url> <assetId> <count> <cutAfter> [timeoutMs]');
  process.exit(64);
}
const count = Number(countArg);
const cutAfter = Number(cutArg);
const timeoutMs = Number(timeoutArg ?? 20_000);

const target = new URL(url);
const open = new Set();
const proxy = net.createServer((downstream) => {
  const upstream = net.connect(Number(target.port), target.hostname);
  open.add(downstream);
  open.add(upstream);
  downstream.pipe(upstream);
  upstream.pipe(downstream);
  const forget = () => {
    open.delete(downstream);
    open.delete(upstream);
    downstream.destroy();
    upstream.destroy();
  };
  downstream.on('error', forget).on('close', forget);
  upstream.on('error', forget).on('close', forget);
});
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxied = new URL(url);
proxied.port = String(proxy.address().port);

const events = [];
const connects = [];
let lastCursor = null;
let cut = false;

const timer = setTimeout(() => {
  console.error(`timed out after ${timeoutMs} ms with ${events.length}/${count} events`);
  process.exit(2);
}, timeoutMs);

const client = createClient({
  url: proxied.toString(),
  // Called for every (re)connect: the application keeps the last cursor and hands it back,
  // as an EventSource would with the last `id` it saw.
  headers: () => {
    connects.push({ lastEventId: lastCursor });
    return lastCursor === null
      ? { 'X-API-Key': apiKey }
      : { 'X-API-Key': apiKey, 'Last-Event-ID': lastCursor };
  },
  retryAttempts: 5,
  retry: async () => {},
});

const query = `subscription($filter: PositionEventFilter) {
  positionEvents(filter: $filter) { id cursor version toState position { id } }
}`;

try {
  const subscription = client.iterate({ query, variables: { filter: { assetId } } });
  for await (const result of subscription) {
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    const event = result.data.positionEvents;
    events.push({
      id: event.id,
      cursor: event.cursor,
      version: event.version,
      toState: event.toState,
      position: event.position.id,
    });
    lastCursor = event.cursor;
    if (!cut && events.length === cutAfter) {
      cut = true;
      for (const socket of open) socket.destroy();
      console.log(JSON.stringify({ cut: events.length }));
    }
    if (events.length >= count) break;
  }
} catch (error) {
  console.error(`graphql-sse failed: ${error?.message ?? error}`);
  console.error(JSON.stringify({ events, connects }));
  process.exit(1);
}
clearTimeout(timer);
console.log(JSON.stringify({ events, connects }));
client.dispose();
proxy.close();
process.exit(0);
