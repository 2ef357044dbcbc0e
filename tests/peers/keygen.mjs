#!/usr/bin/env node
// Generates a client key pair for private_key_jwt tests: the private key as a PKCS#8 PEM file
// (what `mcp-companion add --private-key` reads) and the public key as a JWKS file (what
// `auth-server.mjs --client-jwks ID:FILE` registers).
//
//   node keygen.mjs --alg ES256|RS256 [--kid KID] --out DIR
//
// Writes DIR/<alg>.pem and DIR/<alg>.jwks.json and prints one JSON line: {"key": …, "jwks": …}.
// With --decoy, the JWKS also holds a second, unrelated public key of the same algorithm (so a
// verifier must pick the right one by kid).

import { printReadyLine, usageError } from './lib/common.mjs';

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = 'usage: node keygen.mjs --alg ES256|RS256 [--kid KID] [--decoy] --out DIR\n';

let values;
try {
  ({ values } = parseArgs({
    options: {
      alg: { type: 'string' },
      kid: { type: 'string' },
      decoy: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  }));
  if (!['ES256', 'RS256'].includes(values.alg) || !values.out) throw new Error('--alg and --out are required');
} catch (err) {
  usageError(err.message, USAGE);
}

const pair = () => (values.alg === 'ES256'
  ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }));
const publicJwk = (publicKey, kid) => ({
  ...publicKey.export({ format: 'jwk' }),
  alg: values.alg,
  use: 'sig',
  ...(kid ? { kid } : {}),
});

const { privateKey, publicKey } = pair();
const keys = [publicJwk(publicKey, values.kid)];
if (values.decoy) keys.unshift(publicJwk(pair().publicKey, 'decoy'));

const base = path.join(values.out, values.alg.toLowerCase());
fs.writeFileSync(`${base}.pem`, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
fs.writeFileSync(`${base}.jwks.json`, JSON.stringify({ keys }));
printReadyLine({ key: `${base}.pem`, jwks: `${base}.jwks.json` });
