#!/usr/bin/env node
// Judges JWTs the way Witboost's UI backend does: Backstage's own ExternalAuthTokenHandler
// (@backstage/backend-defaults), created from an app-config file read by Backstage's config
// loader, verifies each token against every `backend.auth.externalAccess` entry; a `jwks` entry
// fetches the keys over HTTP itself (jose's remote key set, with its cache and cool-down).
//
//   judge.mjs APP_CONFIG    reads one token per line on standard input and answers one JSON
//                           line per token: {"subject": "external:<prefix>:<sub>"} or
//                           {"subject": null}, or {"error": message} when Backstage throws.
// The handler is made once, so its JWKS cache lives as long as the process, as in a backend.
//
// ExternalAuthTokenHandler is what the package's auth service runs for externalAccess, but the
// package's exports map does not name it: it is loaded from its file in the installed package.
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { ConfigSources } from '@backstage/config-loader';

const require = createRequire(import.meta.url);
const packageDir = path.dirname(require.resolve('@backstage/backend-defaults/package.json'));
const { ExternalAuthTokenHandler } = require(
  path.join(packageDir, 'dist/entrypoints/auth/external/ExternalAuthTokenHandler.cjs.js'),
);

const file = process.argv[2];
if (!file) {
  console.error('usage: judge.mjs APP_CONFIG');
  process.exit(2);
}
const source = ConfigSources.defaultForTargets({
  targets: [{ type: 'path', target: path.resolve(file) }],
  watch: false,
});
const config = await ConfigSources.toConfig(source);
config.close();
const logger = { warn: (m) => console.error(m), info() {}, debug() {}, error: (m) => console.error(m) };
const handler = ExternalAuthTokenHandler.create({ ownPluginId: 'catalog', config, logger });

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const token of lines) {
  let answer;
  try {
    const result = await handler.verifyToken(token.trim());
    answer = { subject: result?.subject ?? null };
  } catch (error) {
    answer = { error: String(error?.message ?? error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
