#!/usr/bin/env node
// Reference GraphQL-over-HTTP server built from graphql-http's own handler,
// used to sanity-check audit.mjs (what a spec-compliant server scores) and to
// preview the vendored GraphiQL page without the Rust server.
//
// Usage: node tests/node/reference-server.mjs [port]     (port 0 = random)
//   POST/GET /graphql            graphql-http handler (trivial schema)
//   GET      /graphiql           assets/graphiql/index.html
//   GET      /graphql/assets/*   files from assets/graphiql/
// Prints "listening on http://127.0.0.1:<port>" once ready. Loopback only.
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GraphQLSchema,
  GraphQLObjectType,
  GraphQLString,
  GraphQLBoolean,
  GraphQLNonNull,
} from 'graphql';
import { createHandler } from 'graphql-http/lib/use/http';

const here = path.dirname(fileURLToPath(import.meta.url));
const assetsDir = path.resolve(here, '../../assets/graphiql');

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: {
      hello: { type: GraphQLString, resolve: () => 'world' },
      echo: {
        type: GraphQLString,
        args: { text: { type: new GraphQLNonNull(GraphQLString) } },
        resolve: (_src, { text }) => text,
      },
    },
  }),
  mutation: new GraphQLObjectType({
    name: 'Mutation',
    fields: { noop: { type: GraphQLBoolean, resolve: () => true } },
  }),
});

const graphqlHandler = createHandler({ schema });

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

async function sendFile(res, file) {
  try {
    const body = await fs.readFile(file);
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
    });
    res.end(body);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }
}

const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://localhost');
  if (process.env.LOG_REQUESTS) console.error(`${req.method} ${req.url}`);
  if (pathname === '/graphql') return graphqlHandler(req, res);
  if (req.method === 'GET' && pathname === '/graphiql') {
    return sendFile(res, path.join(assetsDir, 'index.html'));
  }
  if (req.method === 'GET' && pathname.startsWith('/graphql/assets/')) {
    const name = pathname.slice('/graphql/assets/'.length);
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) {
      return res.writeHead(404).end();
    }
    return sendFile(res, path.join(assetsDir, name));
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
});

const port = Number(process.argv[2] ?? 0);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
