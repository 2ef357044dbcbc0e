#!/usr/bin/env node
// Self-test of the test peers: starts them as child processes exactly like
// the Rust tests will (ready line on stdout, stdin pipe held open), then
// plays an OAuth + MCP client with plain fetch and the official MCP SDK client.
//
//   node selftest.mjs            (add -v to stream the peers' stderr)
//
// Prints "ok - ..." / "not ok - ..." lines and finally
// "selftest: N passed, M failed"; exits 0 only when nothing failed.

import { completeLogin, CookieJar } from './login.mjs';

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const VERBOSE = process.argv.includes('-v') || process.argv.includes('--verbose');
const out = (line) => process.stdout.write(`${line}\n`);

// ---------------------------------------------------------------------------
// tiny test framework
// ---------------------------------------------------------------------------

let passed = 0;
let failed = 0;
const peers = [];

function check(name, condition, detail) {
  if (condition) {
    passed += 1;
    out(`ok - ${name}`);
  } else {
    failed += 1;
    out(`not ok - ${name}${detail !== undefined ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`);
  }
  return !!condition;
}

async function group(name, fn) {
  out(`# ${name}`);
  try {
    await fn();
  } catch (err) {
    failed += 1;
    out(`not ok - ${name}: unexpected exception: ${err.stack || err}`);
  }
}

// ---------------------------------------------------------------------------
// peers as child processes
// ---------------------------------------------------------------------------

/** Spawns a peer script and resolves with { child, ready, stderr(), stop() }. */
function startPeer(script, args = [], label = script) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(HERE, script), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: HERE,
    });
    const peer = { child, label, stderrText: '', exited: null };
    peers.push(peer);
    child.on('exit', (code, signal) => { peer.exited = { code, signal }; });
    child.stderr.setEncoding('utf8');
    let partial = '';
    child.stderr.on('data', (d) => {
      peer.stderrText += d;
      if (!VERBOSE) return;
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const line of lines) process.stderr.write(`  [${label}] ${line}\n`);
    });
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${label}: no ready line within 20s; stderr:\n${peer.stderrText}`)), 20000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      if (peer.ready) return;
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      try {
        peer.ready = JSON.parse(buf.slice(0, nl));
      } catch (err) {
        reject(new Error(`${label}: first stdout line is not JSON: ${buf.slice(0, nl)}`));
        return;
      }
      resolve(peer);
    });
    child.on('exit', (code) => {
      if (!peer.ready) {
        clearTimeout(timer);
        reject(new Error(`${label} exited with ${code} before being ready; stderr:\n${peer.stderrText}`));
      }
    });
  });
}

/** Waits for a child to exit; resolves with { code, signal } or null on timeout. */
function waitExit(peer, ms) {
  if (peer.exited) return Promise.resolve(peer.exited);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    peer.child.once('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal }); });
  });
}

async function stopPeer(peer) {
  if (peer.exited) return peer.exited;
  peer.child.stdin.end();
  const r = await waitExit(peer, 5000);
  if (!r) peer.child.kill('SIGKILL');
  return r;
}

// ---------------------------------------------------------------------------
// OAuth client helpers
// ---------------------------------------------------------------------------

/** The client's loopback redirect listener; records every request. */
async function startCallbackListener() {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(new URL(req.url, 'http://127.0.0.1'));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { port, hits, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

async function getJson(url, init) {
  const r = await fetch(url, init);
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, json, text };
}

async function register(endpoint, metadata) {
  return getJson(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(metadata),
  });
}

/** Builds an authorization URL (PKCE S256 unless pkce:false). */
function authorizeUrl(endpoint, { clientId, redirectUri, scope, resource, audience, state, challenge, extra = {} }) {
  const u = new URL(endpoint);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('client_id', clientId);
  u.searchParams.set('redirect_uri', redirectUri);
  if (scope !== undefined) u.searchParams.set('scope', scope);
  if (resource !== undefined) u.searchParams.set('resource', resource);
  if (audience !== undefined) u.searchParams.set('audience', audience);
  if (state !== undefined) u.searchParams.set('state', state);
  if (challenge !== undefined) {
    u.searchParams.set('code_challenge', challenge);
    u.searchParams.set('code_challenge_method', 'S256');
  }
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  return u.href;
}

/** Runs authorize (+ login) and returns { code, verifier, result }. */
async function authorize(endpoint, opts, loginOpts = {}) {
  const { verifier, challenge } = pkce();
  const state = crypto.randomBytes(8).toString('hex');
  const url = authorizeUrl(endpoint, { ...opts, state, challenge: opts.noPkce ? undefined : challenge });
  const result = await completeLogin(url, loginOpts);
  return { code: result.code, verifier, state, result };
}

async function token(endpoint, params, { basic } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (basic) {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic[0])}:${encodeURIComponent(basic[1])}`).toString('base64')}`;
  }
  const body = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined));
  return getJson(endpoint, { method: 'POST', headers, body });
}

// ---------------------------------------------------------------------------
// MCP helpers
// ---------------------------------------------------------------------------

/** An SDK client whose bearer token can be swapped between calls. */
async function sdkClient(mcpUrl, tokenRef, extraHeaders = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    fetch: (url, init = {}) => {
      const headers = new Headers(init.headers);
      if (tokenRef.value) headers.set('authorization', `Bearer ${tokenRef.value}`);
      for (const [k, v] of Object.entries(extraHeaders)) headers.set(k, v);
      return fetch(url, { ...init, headers });
    },
  });
  const client = new Client({ name: 'peers-selftest', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

const textOf = (result) => result?.content?.[0]?.text;

/** A raw JSON-RPC POST to the MCP endpoint. */
async function mcpPost(mcpUrl, bearer, message, sessionId) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
  };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (sessionId) headers['mcp-session-id'] = sessionId;
  const r = await fetch(mcpUrl, { method: 'POST', headers, body: JSON.stringify(message) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text };
}

function wwwAuth(res) {
  return res.headers.get('www-authenticate') || '';
}

// ---------------------------------------------------------------------------
// the tests
// ---------------------------------------------------------------------------

const cb = await startCallbackListener();
const redirectUri = `http://127.0.0.1:${cb.port}/callback`;

// --- A: the core flow against start-pair.mjs with --auto-login --------------
await group('A: pair with --auto-login (DCR, PKCE, resource JWT, MCP, rotating refresh)', async () => {
  const A = await startPeer('start-pair.mjs', ['--auto-login', 'alice', '--access-ttl', '300'], 'pairA');
  const r = A.ready;
  check('ready line has issuer, mcp, prm, stats urls',
    r.issuer?.startsWith('http://127.0.0.1:') && r.mcp?.endsWith('/mcp') && r.prm && r.stats?.auth && r.stats?.mcp, r);

  // Discovery.
  const md = await getJson(r.as_metadata);
  check('AS metadata: issuer matches', md.json?.issuer === r.issuer, md.json?.issuer);
  check('AS metadata: code_challenge_methods_supported = [S256]', JSON.stringify(md.json?.code_challenge_methods_supported) === '["S256"]');
  check('AS metadata: registration_endpoint advertised', md.json?.registration_endpoint === r.registration_endpoint);
  check('AS metadata: scopes_supported has openid offline_access mcp:read mcp:write',
    ['openid', 'offline_access', 'mcp:read', 'mcp:write'].every((s) => md.json?.scopes_supported?.includes(s)), md.json?.scopes_supported);
  check('AS metadata: token_endpoint_auth_methods include none, client_secret_basic, client_secret_post',
    ['none', 'client_secret_basic', 'client_secret_post'].every((m) => md.json?.token_endpoint_auth_methods_supported?.includes(m)));

  const prm = await getJson(r.prm);
  check('PRM: resource is the exact MCP URL', prm.json?.resource === r.mcp, prm.json);
  check('PRM: authorization_servers = [issuer]', JSON.stringify(prm.json?.authorization_servers) === JSON.stringify([r.issuer]));
  check('PRM: scopes_supported', JSON.stringify(prm.json?.scopes_supported) === '["mcp:read","mcp:write"]');

  // 401 without / with a bad token.
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
  const noTok = await mcpPost(r.mcp, undefined, init);
  check('MCP without token: 401', noTok.status === 401, noTok.status);
  check('MCP without token: WWW-Authenticate Bearer resource_metadata=<PRM>, no error=',
    wwwAuth(noTok) === `Bearer resource_metadata="${r.prm}"`, wwwAuth(noTok));
  const badTok = await mcpPost(r.mcp, 'not-a-jwt', init);
  check('MCP with a bad token: 401 error="invalid_token" + resource_metadata',
    badTok.status === 401 && wwwAuth(badTok).includes('error="invalid_token"') && wwwAuth(badTok).includes(`resource_metadata="${r.prm}"`), wwwAuth(badTok));

  // DCR: native client, loopback redirect registered WITHOUT a port (RFC 8252 §7.3).
  const reg = await register(r.registration_endpoint, {
    application_type: 'native',
    client_name: 'selftest native',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  check('DCR native public client: 201 + client_id, no secret', reg.status === 201 && reg.json?.client_id && !reg.json?.client_secret, reg.text);
  const clientId = reg.json?.client_id;

  const regBad = await register(r.registration_endpoint, {
    application_type: 'native', redirect_uris: ['http://example.com/cb'], token_endpoint_auth_method: 'none',
  });
  check('DCR native client with a non-loopback http redirect is rejected', regBad.status === 400 && regBad.json?.error === 'invalid_redirect_uri', regBad.text);

  // Negative authorization requests.
  const noPkce = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read', resource: r.mcp, noPkce: true });
  check('authorize without PKCE -> redirect with error=invalid_request', noPkce.result.error === 'invalid_request', noPkce.result);
  const wrongRes = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read', resource: 'http://127.0.0.1:1/other' });
  check('authorize with a foreign resource -> redirect with error=invalid_target', wrongRes.result.error === 'invalid_target', wrongRes.result);
  let pathErr;
  try {
    await authorize(r.authorization_endpoint, { clientId, redirectUri: `http://127.0.0.1:${cb.port}/other-path`, scope: 'mcp:read', resource: r.mcp });
  } catch (err) { pathErr = err; }
  check('authorize with an unregistered redirect path -> error page, no redirect', /redirect_uri/.test(pathErr?.message || ''), pathErr?.message);

  // The real flow: port-agnostic loopback redirect, auto-login, code to our listener.
  const hitsBefore = cb.hits.length;
  const flow = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'openid offline_access mcp:read mcp:write', resource: r.mcp });
  check('authorize (auto-login) reaches the loopback redirect with a code', !!flow.code && !flow.result.error, flow.result);
  check('authorization response: state echoed and iss = issuer', flow.result.state === flow.state && flow.result.iss === r.issuer, flow.result);
  check('the code was delivered to the client listener', cb.hits.length === hitsBefore + 1 && cb.hits.at(-1)?.searchParams.get('code') === flow.code);

  const badVerifier = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read', resource: r.mcp });
  const tv = await token(r.token_endpoint, {
    grant_type: 'authorization_code', code: badVerifier.code, redirect_uri: redirectUri, client_id: clientId,
    code_verifier: pkce().verifier, resource: r.mcp,
  });
  check('token with a wrong code_verifier -> invalid_grant', tv.status === 400 && tv.json?.error === 'invalid_grant', tv.text);

  const t0 = await token(r.token_endpoint, {
    grant_type: 'authorization_code', code: flow.code, redirect_uri: redirectUri, client_id: clientId,
    code_verifier: flow.verifier, resource: r.mcp,
  });
  check('code exchange: 200 with access_token, refresh_token, id_token', t0.status === 200 && t0.json?.access_token && t0.json?.refresh_token && t0.json?.id_token, t0.text);
  check('code exchange: token_type Bearer, expires_in = --access-ttl', t0.json?.token_type === 'Bearer' && t0.json?.expires_in === 300, t0.json);
  const at0 = t0.json?.access_token;
  const claims = at0 ? decodeJwt(at0) : {};
  check('access token is an at+jwt with aud = MCP URL, iss = issuer, sub = alice',
    decodeProtectedHeader(at0).typ === 'at+jwt' && claims.aud === r.mcp && claims.iss === r.issuer && claims.sub === 'alice', claims);
  check('access token scope = "mcp:read mcp:write"', claims.scope === 'mcp:read mcp:write', claims.scope);

  const again = await token(r.token_endpoint, {
    grant_type: 'authorization_code', code: flow.code, redirect_uri: redirectUri, client_id: clientId, code_verifier: flow.verifier,
  });
  // NB: oidc-provider also revokes the grant of a replayed code; we only
  // refresh below with tokens of a *different* flow, so use a fresh flow.
  check('authorization code replay -> invalid_grant', again.status === 400 && again.json?.error === 'invalid_grant', again.text);

  // Fresh flow for MCP + refresh (the replay above revoked the first grant).
  const flow2 = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'openid offline_access mcp:read mcp:write', resource: r.mcp });
  const t1 = await token(r.token_endpoint, {
    grant_type: 'authorization_code', code: flow2.code, redirect_uri: redirectUri, client_id: clientId,
    code_verifier: flow2.verifier, resource: r.mcp,
  });
  check('second code exchange: 200', t1.status === 200 && t1.json?.refresh_token, t1.text);
  const rt0 = t1.json?.refresh_token;

  // MCP with the official SDK client.
  const tokenRef = { value: t1.json?.access_token };
  const { client, transport } = await sdkClient(r.mcp, tokenRef);
  check('MCP initialize via SDK: session id assigned', !!transport.sessionId, transport.sessionId);
  const tools = await client.listTools();
  const names = tools.tools.map((t) => t.name).sort();
  check('tools/list: add, admin-only, echo, whoami', JSON.stringify(names) === '["add","admin-only","echo","whoami"]', names);
  check('tools/call echo', textOf(await client.callTool({ name: 'echo', arguments: { text: 'hello peers' } })) === 'hello peers');
  check('tools/call add', textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })) === '42');
  const who = JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} })) || '{}');
  check('tools/call whoami: sub alice, scope mcp:read mcp:write, client_id', who.sub === 'alice' && who.scope === 'mcp:read mcp:write' && who.client_id === clientId, who);
  check('tools/call admin-only with mcp:write', textOf(await client.callTool({ name: 'admin-only', arguments: {} })) === 'admin ok');

  // Rotating refresh.
  const r1 = await token(r.token_endpoint, { grant_type: 'refresh_token', refresh_token: rt0, client_id: clientId, resource: r.mcp });
  check('refresh #1: 200, new access + new refresh token', r1.status === 200 && r1.json?.access_token && r1.json?.refresh_token && r1.json.refresh_token !== rt0, r1.text);
  check('refresh #1: access token aud = MCP URL', r1.json?.access_token && decodeJwt(r1.json.access_token).aud === r.mcp);
  tokenRef.value = r1.json?.access_token;
  check('same MCP session keeps working with the refreshed token', textOf(await client.callTool({ name: 'echo', arguments: { text: 'after refresh' } })) === 'after refresh');
  const r2 = await token(r.token_endpoint, { grant_type: 'refresh_token', refresh_token: r1.json?.refresh_token, client_id: clientId });
  check('refresh #2 (no resource param): 200, rotated again, aud still MCP URL',
    r2.status === 200 && r2.json?.refresh_token && r2.json.refresh_token !== r1.json?.refresh_token && decodeJwt(r2.json.access_token).aud === r.mcp, r2.text);
  const reuse = await token(r.token_endpoint, { grant_type: 'refresh_token', refresh_token: rt0, client_id: clientId });
  check('reusing the first refresh token -> invalid_grant', reuse.status === 400 && reuse.json?.error === 'invalid_grant', reuse.text);
  const after = await token(r.token_endpoint, { grant_type: 'refresh_token', refresh_token: r2.json?.refresh_token, client_id: clientId });
  check('after reuse the whole grant is revoked: latest refresh token -> invalid_grant', after.status === 400 && after.json?.error === 'invalid_grant', after.text);

  // Stats.
  const st = (await getJson(r.stats.auth)).json;
  check('AS stats: 4 refresh_token requests (2 ok, 2 failed)',
    st.token_requests.by_grant_type.refresh_token === 4 && st.token_requests.succeeded_by_grant_type.refresh_token === 2 && st.token_requests.failed_by_grant_type.refresh_token === 2,
    st.token_requests);
  check('AS stats: authorization_code requests counted (4: wrong verifier, ok, replay, ok)', st.token_requests.by_grant_type.authorization_code === 4, st.token_requests);
  check('AS stats: one refresh token reuse event', st.refresh_token_reuse.length === 1 && st.refresh_token_reuse[0].client_id === clientId, st.refresh_token_reuse);
  check('AS stats: grants revoked (code replay + refresh reuse)', st.grants_revoked.length === 2, st.grants_revoked);
  check('AS stats: token log records the resource parameter', st.token_log.some((e) => e.grant_type === 'refresh_token' && e.resource === r.mcp));
  check('AS stats: authorization log records PKCE method', st.authorization_log.some((e) => e.code_challenge_method === 'S256' && e.resource === r.mcp));

  // Step-up: a token with only mcp:read, token request without resource.
  const ro = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read', resource: r.mcp });
  const tro = await token(r.token_endpoint, {
    grant_type: 'authorization_code', code: ro.code, redirect_uri: redirectUri, client_id: clientId, code_verifier: ro.verifier,
  });
  const roClaims = tro.json?.access_token ? decodeJwt(tro.json.access_token) : {};
  check('read-only token (no resource at /token): aud = MCP URL, scope mcp:read', roClaims.aud === r.mcp && roClaims.scope === 'mcp:read', roClaims);
  tokenRef.value = tro.json?.access_token;
  check('read-only token: echo works', textOf(await client.callTool({ name: 'echo', arguments: { text: 'ro' } })) === 'ro');
  const forb = await mcpPost(r.mcp, tro.json?.access_token,
    { jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'admin-only', arguments: {} } }, transport.sessionId);
  check('read-only token: admin-only -> 403 insufficient_scope with scope + resource_metadata',
    forb.status === 403 && wwwAuth(forb) === `Bearer error="insufficient_scope", scope="mcp:read mcp:write", resource_metadata="${r.prm}"`, `${forb.status} ${wwwAuth(forb)}`);

  const ms = (await getJson(r.stats.mcp)).json;
  check('MCP stats: tool calls, 401s, 403, sessions, distinct tokens',
    ms.tool_calls.echo === 3 && ms.unauthorized >= 2 && ms.forbidden === 1 && ms.sessions_created === 1 && ms.distinct_tokens === 3, ms);

  // Test hook: the server stops accepting tokens (as if they were revoked).
  const hook = (which) => fetch(`${r.control.mcp_reject_tokens}?which=${which}`, { method: 'POST' });
  const list = (bearer, id) => mcpPost(r.mcp, bearer, { jsonrpc: '2.0', id, method: 'tools/list' }, transport.sessionId);
  const hookSeen = await hook('seen');
  const refused = await list(tro.json?.access_token, 6);
  const unseen = await list(r2.json?.access_token, 7);
  check('__reject-tokens?which=seen: a token used before -> 401 invalid_token; one never used still works',
    hookSeen.status === 200 && refused.status === 401 && /error="invalid_token"/.test(wwwAuth(refused)) && unseen.status === 200,
    `${hookSeen.status} ${refused.status} ${wwwAuth(refused)} ${unseen.status}`);
  await hook('all');
  const all = await list(r2.json?.access_token, 8);
  check('__reject-tokens?which=all: every token -> 401', all.status === 401, all.status);
  await hook('none');
  const back = await list(tro.json?.access_token, 9);
  const hs = (await getJson(r.stats.mcp)).json;
  check('__reject-tokens?which=none: tokens work again; rejected_by_hook counted', back.status === 200 && hs.rejected_by_hook === 2, `${back.status} ${hs.rejected_by_hook}`);

  // Session loss -> 404.
  await fetch(r.control.mcp_drop_sessions, { method: 'POST' });
  const gone = await mcpPost(r.mcp, tro.json?.access_token, { jsonrpc: '2.0', id: 5, method: 'tools/list' }, transport.sessionId);
  check('after __drop-sessions the old session id gets 404', gone.status === 404, gone.status);
  await client.close().catch(() => {});

  // Confidential DCR clients.
  for (const method of ['client_secret_basic', 'client_secret_post']) {
    const c = await register(r.registration_endpoint, {
      application_type: 'native', redirect_uris: [redirectUri], token_endpoint_auth_method: method,
      grant_types: ['authorization_code', 'refresh_token'],
    });
    const f = await authorize(r.authorization_endpoint, { clientId: c.json?.client_id, redirectUri, scope: 'mcp:read', resource: r.mcp });
    const params = { grant_type: 'authorization_code', code: f.code, redirect_uri: redirectUri, code_verifier: f.verifier, resource: r.mcp };
    const t = method === 'client_secret_basic'
      ? await token(r.token_endpoint, params, { basic: [c.json?.client_id, c.json?.client_secret] })
      : await token(r.token_endpoint, { ...params, client_id: c.json?.client_id, client_secret: c.json?.client_secret });
    check(`DCR confidential client (${method}): code exchange 200`, c.status === 201 && c.json?.client_secret && t.status === 200 && t.json?.refresh_token, t.text);
  }

  // Lifecycle: closing stdin stops the process.
  A.child.stdin.end();
  const ex = await waitExit(A, 5000);
  check('pair exits with code 0 when its stdin is closed', ex?.code === 0, ex);
});

// --- B: login form (no auto-login), password, short TTL, SIGTERM ---------------
await group('B: pair with the HTML login form, --password, --access-ttl 1', async () => {
  const B = await startPeer('start-pair.mjs', ['--password', 'secret', '--access-ttl', '1'], 'pairB');
  const r = B.ready;
  const reg = await register(r.registration_endpoint, {
    application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none',
  });
  const clientId = reg.json?.client_id;
  check('DCR without grant_types still gets refresh_token grant', reg.json?.grant_types?.includes('refresh_token'), reg.json?.grant_types);

  // Look at the form the way a browser would.
  const { challenge } = pkce();
  const url = authorizeUrl(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read', resource: r.mcp, state: 's', challenge });
  const first = await fetch(url, { redirect: 'manual' });
  const loc = first.headers.get('location') || '';
  check('GET /authorize -> 303 to /interaction/:uid', first.status === 303 && /^\/interaction\/[^/]+$/.test(loc), `${first.status} ${loc}`);
  const jar = new CookieJar();
  jar.store(first);
  const formPage = await fetch(new URL(loc, r.issuer), { headers: { cookie: jar.header() } });
  const html = await formPage.text();
  check('interaction page is an HTML form with #login, #password, #submit',
    formPage.status === 200 && ['id="login-form"', 'id="login"', 'id="password"', 'id="submit"', `action="${loc}/login"`].every((s) => html.includes(s)));

  // Abort -> access_denied.
  const abort = await fetch(new URL(`${loc}/abort`, r.issuer), { method: 'POST', headers: { cookie: jar.header() }, redirect: 'manual' });
  jar.store(abort);
  const resume = await fetch(new URL(abort.headers.get('location'), r.issuer), { headers: { cookie: jar.header() }, redirect: 'manual' });
  const denied = new URL(resume.headers.get('location') || 'http://x/');
  check('POST /interaction/:uid/abort -> redirect_uri?error=access_denied', denied.searchParams.get('error') === 'access_denied' && denied.searchParams.get('state') === 's', denied.href);

  let wrong;
  try {
    await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read', resource: r.mcp }, { login: 'bob', password: 'nope' });
  } catch (err) { wrong = err; }
  check('login form rejects a wrong password', /rejected/.test(wrong?.message || ''), wrong?.message);

  const f = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read mcp:write', resource: r.mcp }, { login: 'bob', password: 'secret' });
  check('login form (POST login=bob&password=secret) completes to the redirect_uri', !!f.code, f.result);
  const t = await token(r.token_endpoint, {
    grant_type: 'authorization_code', code: f.code, redirect_uri: redirectUri, client_id: clientId, code_verifier: f.verifier, resource: r.mcp,
  });
  check('token for bob: sub bob, expires_in 1', t.status === 200 && decodeJwt(t.json.access_token).sub === 'bob' && t.json.expires_in === 1, t.text);
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
  const ok = await mcpPost(r.mcp, t.json?.access_token, init);
  check('fresh 1-second token accepted by MCP', ok.status === 200, ok.status);
  await sleep(2600);
  const expired = await mcpPost(r.mcp, t.json?.access_token, init);
  check('expired token -> 401 error="invalid_token"', expired.status === 401 && wwwAuth(expired).includes('error="invalid_token"') && wwwAuth(expired).includes('expired'), wwwAuth(expired));
  const rf = await token(r.token_endpoint, { grant_type: 'refresh_token', refresh_token: t.json?.refresh_token, client_id: clientId });
  check('refresh after expiry works', rf.status === 200 && (await mcpPost(r.mcp, rf.json.access_token, init)).status === 200, rf.text);
  const st = (await getJson(r.stats.auth)).json;
  check('AS stats: login form shown, one failure, one abort', st.interactions.login_form_shown >= 3 && st.interactions.login_failures === 1 && st.interactions.aborted === 1, st.interactions);

  B.child.kill('SIGTERM');
  const ex = await waitExit(B, 5000);
  check('pair exits with code 0 on SIGTERM', ex?.code === 0, ex);
});

// --- C: Auth0-like --require-audience -------------------------------------------
await group('C: --require-audience', async () => {
  const C = await startPeer('start-pair.mjs', ['--auto-login', 'carol', '--require-audience'], 'pairC');
  const r = C.ready;
  const reg = await register(r.registration_endpoint, { application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none' });
  const clientId = reg.json?.client_id;
  const noAud = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read', resource: r.mcp });
  check('authorize with resource but no audience -> error=invalid_request', noAud.result.error === 'invalid_request', noAud.result);
  const f = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'offline_access mcp:read', audience: r.mcp, resource: 'http://127.0.0.1:1/ignored' });
  check('authorize with audience (resource ignored) -> code', !!f.code, f.result);
  const t = await token(r.token_endpoint, { grant_type: 'authorization_code', code: f.code, redirect_uri: redirectUri, client_id: clientId, code_verifier: f.verifier });
  check('token aud = audience', t.status === 200 && decodeJwt(t.json.access_token).aud === r.mcp, t.text);
  await stopPeer(C);
});

// --- D: Entra-like --reject-resource ----------------------------------------------
await group('D: --reject-resource', async () => {
  const D = await startPeer('start-pair.mjs', ['--auto-login', 'dave', '--reject-resource'], 'pairD');
  const r = D.ready;
  const reg = await register(r.registration_endpoint, { application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none' });
  const clientId = reg.json?.client_id;
  const withRes = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read', resource: r.mcp });
  check('authorize with resource -> error=invalid_target', withRes.result.error === 'invalid_target', withRes.result);
  const f = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read' });
  check('authorize without resource -> code', !!f.code, f.result);
  const bad = await token(r.token_endpoint, { grant_type: 'authorization_code', code: f.code, redirect_uri: redirectUri, client_id: clientId, code_verifier: f.verifier, resource: r.mcp });
  check('token request with resource -> invalid_target', bad.status === 400 && bad.json?.error === 'invalid_target', bad.text);
  const f2 = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope: 'mcp:read' });
  const t = await token(r.token_endpoint, { grant_type: 'authorization_code', code: f2.code, redirect_uri: redirectUri, client_id: clientId, code_verifier: f2.verifier });
  check('token request without resource -> JWT for the default resource (MCP URL)', t.status === 200 && decodeJwt(t.json.access_token).aud === r.mcp, t.text);
  await stopPeer(D);
});

// --- E: pre-registered clients, no DCR, client_credentials -------------------------
await group('E: --no-registration, --client, --client-credentials', async () => {
  const E = await startPeer('start-pair.mjs', [
    '--auto-login', 'erin', '--no-registration',
    '--client', 'pub::loopback',
    '--client', `conf:s3cret:${redirectUri}`,
    '--client-credentials', 'svc:svc-secret',
  ], 'pairE');
  const r = E.ready;
  const md = (await getJson(r.as_metadata)).json;
  check('no registration_endpoint in metadata / ready line', md.registration_endpoint === undefined && r.registration_endpoint === null);
  check('client_credentials advertised', md.grant_types_supported?.includes('client_credentials'), md.grant_types_supported);
  const anyPath = `http://127.0.0.1:${cb.port}/some/other/path`;
  const f = await authorize(r.authorization_endpoint, { clientId: 'pub', redirectUri: anyPath, scope: 'mcp:read', resource: r.mcp });
  check('"loopback" client accepts any loopback port and path', !!f.code, f.result);
  const t = await token(r.token_endpoint, { grant_type: 'authorization_code', code: f.code, redirect_uri: anyPath, client_id: 'pub', code_verifier: f.verifier, resource: r.mcp });
  check('public pre-registered client: token 200 with refresh token', t.status === 200 && t.json?.refresh_token, t.text);
  const fc = await authorize(r.authorization_endpoint, { clientId: 'conf', redirectUri, scope: 'mcp:read', resource: r.mcp });
  const noAuth = await token(r.token_endpoint, { grant_type: 'authorization_code', code: fc.code, redirect_uri: redirectUri, client_id: 'conf', code_verifier: fc.verifier });
  check('confidential client without its secret -> invalid_client', noAuth.status === 401 && noAuth.json?.error === 'invalid_client', noAuth.text);
  const fc2 = await authorize(r.authorization_endpoint, { clientId: 'conf', redirectUri, scope: 'mcp:read', resource: r.mcp });
  const tc = await token(r.token_endpoint, { grant_type: 'authorization_code', code: fc2.code, redirect_uri: redirectUri, code_verifier: fc2.verifier }, { basic: ['conf', 's3cret'] });
  check('confidential client with client_secret_basic: 200', tc.status === 200, tc.text);
  const cc = await token(r.token_endpoint, { grant_type: 'client_credentials', scope: 'mcp:read mcp:write', resource: r.mcp }, { basic: ['svc', 'svc-secret'] });
  const ccClaims = cc.json?.access_token ? decodeJwt(cc.json.access_token) : {};
  check('client_credentials: JWT with aud = MCP URL, sub = client id, scope', cc.status === 200 && ccClaims.aud === r.mcp && ccClaims.sub === 'svc' && ccClaims.scope === 'mcp:read mcp:write', cc.text);
  const ccNoRes = await token(r.token_endpoint, { grant_type: 'client_credentials', scope: 'mcp:read' }, { basic: ['svc', 'svc-secret'] });
  check('client_credentials without resource -> default resource (MCP URL)', ccNoRes.status === 200 && decodeJwt(ccNoRes.json.access_token).aud === r.mcp, ccNoRes.text);
  const { client } = await sdkClient(r.mcp, { value: cc.json?.access_token });
  const who = JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} })) || '{}');
  check('MCP accepts the client_credentials token (whoami sub = svc)', who.sub === 'svc', who);
  await client.close().catch(() => {});
  await stopPeer(E);
});

// --- F: standalone auth-server + mcp-server processes, --auth-server-objects --------
await group('F: standalone auth-server.mjs + mcp-server.mjs --issuer --auth-server-objects', async () => {
  const AS = await startPeer('auth-server.mjs', ['--auto-login', 'frank'], 'auth');
  const M = await startPeer('mcp-server.mjs', ['--issuer', AS.ready.issuer, '--auth-server-objects', '--challenge-scope', 'mcp:read'], 'mcp');
  check('auth-server ready line', AS.ready.issuer && AS.ready.token_endpoint && AS.ready.registration_endpoint && AS.ready.jwks_uri, AS.ready);
  check('mcp-server ready line', M.ready.mcp && M.ready.prm && M.ready.issuer === AS.ready.issuer, M.ready);
  const prm = (await getJson(M.ready.prm)).json;
  check('PRM authorization_servers as objects', JSON.stringify(prm.authorization_servers) === JSON.stringify([{ issuer: AS.ready.issuer }]), prm);
  const noTok = await mcpPost(M.ready.mcp, undefined, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
  check('--challenge-scope adds scope= to the 401 challenge', wwwAuth(noTok) === `Bearer scope="mcp:read", resource_metadata="${M.ready.prm}"`, wwwAuth(noTok));
  const reg = await register(AS.ready.registration_endpoint, { application_type: 'native', redirect_uris: ['http://localhost/callback'], token_endpoint_auth_method: 'none' });
  const localhostRedirect = `http://localhost:${cb.port}/callback`;
  const f = await authorize(AS.ready.authorization_endpoint, { clientId: reg.json?.client_id, redirectUri: localhostRedirect, scope: 'mcp:read', resource: M.ready.mcp });
  const t = await token(AS.ready.token_endpoint, { grant_type: 'authorization_code', code: f.code, redirect_uri: localhostRedirect, client_id: reg.json?.client_id, code_verifier: f.verifier, resource: M.ready.mcp });
  check('standalone AS accepts any loopback resource; aud = MCP URL', t.status === 200 && decodeJwt(t.json.access_token).aud === M.ready.mcp, t.text);
  const { client } = await sdkClient(M.ready.mcp, { value: t.json?.access_token });
  check('standalone MCP server verifies the token (echo)', textOf(await client.callTool({ name: 'echo', arguments: { text: 'standalone' } })) === 'standalone');
  await client.close().catch(() => {});
  await Promise.all([stopPeer(AS), stopPeer(M)]);
});

// --- G: non-OAuth MCP modes ----------------------------------------------------------
await group('G: mcp-server.mjs --header-key and --static-jwt-secret', async () => {
  const H = await startPeer('mcp-server.mjs', ['--header-key', 'X-Api-Key=k-123'], 'mcp-header');
  const S = await startPeer('mcp-server.mjs', ['--static-jwt-secret', 'static-secret-0123456789', '--json-response'], 'mcp-jwt');
  const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
  const hNo = await mcpPost(H.ready.mcp, undefined, list);
  check('header-key: missing header -> 401, PRM 404', hNo.status === 401 && (await fetch(`${new URL(H.ready.mcp).origin}/.well-known/oauth-protected-resource/mcp`)).status === 404);
  const { client: hc } = await sdkClient(H.ready.mcp, {}, { 'X-Api-Key': 'k-123' });
  check('header-key: SDK client with the header works', textOf(await hc.callTool({ name: 'add', arguments: { a: 1, b: 1 } })) === '2');
  await hc.close().catch(() => {});
  const good = await new SignJWT({ sub: 'static-user', scope: 'mcp:read' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m')
    .sign(new TextEncoder().encode('static-secret-0123456789'));
  const bad = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('wrong-secret-0123456789'));
  const sBad = await mcpPost(S.ready.mcp, bad, list);
  check('static-jwt: wrong signature -> 401 invalid_token (realm, no resource_metadata)',
    sBad.status === 401 && wwwAuth(sBad).includes('error="invalid_token"') && !wwwAuth(sBad).includes('resource_metadata'), wwwAuth(sBad));
  const { client: sc } = await sdkClient(S.ready.mcp, { value: good });
  const who = JSON.parse(textOf(await sc.callTool({ name: 'whoami', arguments: {} })) || '{}');
  check('static-jwt: SDK client with a valid HS256 JWT works (json responses)', who.sub === 'static-user' && who.scope === 'mcp:read', who);
  await sc.close().catch(() => {});
  await Promise.all([stopPeer(H), stopPeer(S)]);
});

// --- H: --require-offline-access, --no-rotate, __revoke-all -------------------------
await group('H: --require-offline-access, --no-rotate, /__revoke-all', async () => {
  const P = await startPeer('start-pair.mjs', ['--auto-login', 'hank', '--require-offline-access', '--no-rotate'], 'pairH');
  const r = P.ready;
  const reg = await register(r.registration_endpoint, { application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none' });
  const clientId = reg.json?.client_id;
  const exchange = async (scope, extra) => {
    const f = await authorize(r.authorization_endpoint, { clientId, redirectUri, scope, resource: r.mcp, extra });
    return token(r.token_endpoint, { grant_type: 'authorization_code', code: f.code, redirect_uri: redirectUri, client_id: clientId, code_verifier: f.verifier, resource: r.mcp });
  };
  const noOffline = await exchange('mcp:read');
  check('without offline_access: no refresh token', noOffline.status === 200 && !noOffline.json.refresh_token, noOffline.text);
  const offline = await exchange('offline_access mcp:read');
  check('with offline_access (no prompt=consent needed): refresh token issued', offline.status === 200 && !!offline.json.refresh_token, offline.text);
  const offlineLogin = await exchange('offline_access mcp:read', { prompt: 'login' });
  check('offline_access with prompt=login is dropped (OIDC Core rule kept by oidc-provider): no refresh token',
    offlineLogin.status === 200 && !offlineLogin.json.refresh_token, offlineLogin.text);
  const rt = offline.json?.refresh_token;
  const a = await token(r.token_endpoint, { grant_type: 'refresh_token', refresh_token: rt, client_id: clientId });
  const b = await token(r.token_endpoint, { grant_type: 'refresh_token', refresh_token: rt, client_id: clientId });
  check('--no-rotate: the same refresh token is returned and stays usable', a.status === 200 && a.json.refresh_token === rt && b.status === 200, `${a.text} ${b.text}`);
  const rev = await getJson(r.control.auth_revoke_all, { method: 'POST' });
  const c = await token(r.token_endpoint, { grant_type: 'refresh_token', refresh_token: rt, client_id: clientId });
  check('/__revoke-all revokes every grant (refresh -> invalid_grant)', rev.json?.revoked >= 1 && c.status === 400 && c.json?.error === 'invalid_grant', `${rev.text} ${c.text}`);
  const reset = await getJson(r.control.auth_reset_stats, { method: 'POST' });
  const st = (await getJson(r.stats.auth)).json;
  check('/__reset-stats zeroes the counters', reset.json?.ok && st.token_requests.total === 0, st.token_requests);
  await stopPeer(P);
});

// ---------------------------------------------------------------------------

await cb.close();
for (const p of peers) {
  if (!p.exited) {
    p.child.kill('SIGKILL');
  }
}
if (failed && !VERBOSE) {
  for (const p of peers) {
    out(`# --- stderr of ${p.label} (last 40 lines) ---`);
    out(p.stderrText.split('\n').slice(-40).map((l) => `#   ${l}`).join('\n'));
  }
}
out(`selftest: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
