#!/usr/bin/env node
// GraphQL-over-HTTP conformance audit using graphql-http's serverAudits.
//
// Usage: node tests/node/audit.mjs <url> [apiKey]
//   url     e.g. http://127.0.0.1:8080/graphql
//   apiKey  optional; sent as "X-API-Key: <apiKey>" on every request
//           (falls back to the ESCROWGRID_API_KEY environment variable).
//
// graphql-http result statuses: 'ok' on success; on failure 'error' for MUST
// audits, 'warn' for SHOULD audits and 'notice' for MAY audits.
// This script prints one line per audit:
//   PASS  - audit ok
//   FAIL  - a MUST or SHOULD audit failed (gating: exit code 1)
//   WARN  - a MAY audit failed (informational only)
// then the summary "MUST: a/13 passed, SHOULD: b/23 passed", a MAY info line,
// and finally "N passed, M failed" counted over the gating MUST+SHOULD audits.
import { serverAudits } from 'graphql-http';

const REQUEST_TIMEOUT_MS = Number(process.env.AUDIT_TIMEOUT_MS || 10_000);
const BODY_LIMIT = 300;

const [url, apiKeyArg] = process.argv.slice(2);
if (!url || url === '-h' || url === '--help') {
  console.error('usage: node tests/node/audit.mjs <url> [apiKey]');
  process.exit(2);
}
const apiKey = apiKeyArg ?? process.env.ESCROWGRID_API_KEY ?? '';

/** fetch that adds X-API-Key (when given) and a per-request timeout. */
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  if (apiKey) headers.set('X-API-Key', apiKey);
  return fetch(input, {
    ...init,
    headers,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
}

function levelOf(name) {
  return name.split(' ', 1)[0]; // 'MUST' | 'SHOULD' | 'MAY'
}

function oneLine(s) {
  return String(s).replace(/\s+/g, ' ').trim();
}

function truncate(s, n = BODY_LIMIT) {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

async function describeResponse(res) {
  if (!res) return '';
  let body;
  try {
    body = await res.clone().text();
  } catch {
    try {
      body = await res.text();
    } catch {
      body = '<body already consumed>';
    }
  }
  const ct = res.headers.get('content-type') ?? '<none>';
  return `[status ${res.status}, content-type ${ct}] body: ${truncate(oneLine(body))}`;
}

function describeError(err) {
  const cause = err?.cause;
  const causeMsg = cause ? ` (${[cause.code, cause.message ?? String(cause)].filter(Boolean).join(": ")})` : "";
  return oneLine(`${err?.name ?? 'Error'}: ${err?.message ?? err}${causeMsg}`);
}

const audits = serverAudits({ url, fetchFn });
const counts = {
  MUST: { total: 0, passed: 0 },
  SHOULD: { total: 0, passed: 0 },
  MAY: { total: 0, passed: 0 },
};

console.log(`graphql-http server audit of ${url}${apiKey ? ' (with X-API-Key)' : ''}`);

// Sequential on purpose: deterministic output and gentle on the server.
for (const audit of audits) {
  const level = levelOf(audit.name);
  counts[level] ??= { total: 0, passed: 0 };
  counts[level].total++;

  let ok = false;
  let detail = '';
  try {
    const result = await audit.fn();
    if (result.status === 'ok') {
      ok = true;
    } else {
      detail = `${result.reason} ${await describeResponse(result.response)}`;
    }
  } catch (err) {
    // graphql-http throws only on "fatal" problems (network error, timeout...).
    detail = `fatal: ${describeError(err)}`;
  }

  if (ok) {
    counts[level].passed++;
    console.log(`PASS ${audit.id} ${audit.name}`);
  } else {
    const tag = level === 'MAY' ? 'WARN' : 'FAIL';
    console.log(`${tag} ${audit.id} ${audit.name} -- ${detail}`);
  }
}

const fmt = (l) => `${l}: ${counts[l].passed}/${counts[l].total} passed`;
console.log('');
console.log(`MAY (informational, not gating): ${counts.MAY.passed}/${counts.MAY.total} passed`);
console.log(`${fmt('MUST')}, ${fmt('SHOULD')}`);

const gatingTotal = counts.MUST.total + counts.SHOULD.total;
const gatingPassed = counts.MUST.passed + counts.SHOULD.passed;
const failed = gatingTotal - gatingPassed;
console.log(`${gatingPassed} passed, ${failed} failed`);

process.exitCode = failed > 0 ? 1 : 0;
