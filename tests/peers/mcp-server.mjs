#!/usr/bin/env node
// OAuth-protected MCP server for the end-to-end tests, built on the official
// MCP TypeScript SDK (McpServer + StreamableHTTPServerTransport, stateful
// sessions with Mcp-Session-Id). Access tokens are JWTs verified with `jose`
// against the authorization server's JWKS (issuer + audience checked).
//
// Run `node mcp-server.mjs --help` for the flags. See README.md.

import { logger, setLogName, printReadyLine, isMain, listen, closeServer, readBody, sendJson, pushBounded, bump, authParam, installLifecycle, LIFECYCLE_OPTIONS, toInt, usageError, http, HOST } from './lib/common.mjs';

import * as crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const log = logger('mcp');

const DEFAULT_SCOPES = ['mcp:read', 'mcp:write'];
const ADMIN_SCOPE = 'mcp:write';

export const MCP_USAGE = `mcp-server.mjs: official-SDK MCP server (Streamable HTTP, stateful) for tests.

Prints one JSON line on stdout when ready, logs to stderr.

Test hooks (no auth): GET /__stats, POST /__reset-stats, POST /__drop-sessions (forget every
session: old session ids get 404), POST /__reject-tokens?which=seen|all|none (refuse with 401
invalid_token every token accepted so far, as if revoked / every token, new ones included /
nothing any more).

Flags:
  --port N                     listen port on 127.0.0.1 (default 0 = ephemeral)
  --issuer URL                 authorization server issuer (required unless --static-jwt-secret or
                               --header-key); its metadata gives jwks_uri
  --auth-server-objects        PRM lists authorization_servers as [{"issuer": "..."}] (quirk)
  --scopes-supported "A B"     PRM scopes_supported (default "mcp:read mcp:write")
  --challenge-scope "A B"      also put scope="A B" into the 401 WWW-Authenticate challenge
  --static-jwt-secret S        accept only HS256 JWTs signed with S (no OAuth, no PRM)
  --header-key NAME=VALUE      accept only requests carrying header NAME: VALUE (no OAuth, no PRM)
  --json-response              answer POSTs with application/json instead of SSE streams
  --no-stdin-watch             do not exit when stdin reaches EOF
  --max-lifetime S             exit after S seconds no matter what
`;

export const MCP_OPTIONS = {
  issuer: { type: 'string' },
  'auth-server-objects': { type: 'boolean', default: false },
  'scopes-supported': { type: 'string' },
  'challenge-scope': { type: 'string' },
  'static-jwt-secret': { type: 'string' },
  'header-key': { type: 'string' },
  'json-response': { type: 'boolean', default: false },
};

export function mcpOptionsFromArgs(values, { portKey = 'port', requireIssuer = true } = {}) {
  let headerKey;
  if (values['header-key'] !== undefined) {
    const idx = values['header-key'].indexOf('=');
    if (idx <= 0) throw new Error(`--header-key expects NAME=VALUE, got ${JSON.stringify(values['header-key'])}`);
    headerKey = { name: values['header-key'].slice(0, idx).toLowerCase(), value: values['header-key'].slice(idx + 1) };
  }
  if (values['static-jwt-secret'] !== undefined && headerKey) {
    throw new Error('--static-jwt-secret and --header-key cannot be combined');
  }
  const oauth = values['static-jwt-secret'] === undefined && !headerKey;
  if (oauth && requireIssuer && !values.issuer) {
    throw new Error('--issuer URL is required (or use --static-jwt-secret / --header-key)');
  }
  if (values.issuer && !URL.canParse(values.issuer)) throw new Error(`--issuer must be a URL, got ${values.issuer}`);
  return {
    port: toInt(values[portKey], `--${portKey}`, 0),
    issuer: values.issuer,
    authServerObjects: !!values['auth-server-objects'],
    scopesSupported: values['scopes-supported'] ? values['scopes-supported'].split(/\s+/).filter(Boolean) : undefined,
    challengeScope: values['challenge-scope'],
    staticJwtSecret: values['static-jwt-secret'],
    headerKey,
    jsonResponse: !!values['json-response'],
  };
}

function newStats() {
  return {
    started_at: new Date().toISOString(),
    requests_total: 0,
    by_http_method: {},
    by_status: {},
    by_rpc_method: {},
    tool_calls: {},
    unauthorized: 0,
    forbidden: 0,
    authorized: 0,
    sessions_created: 0,
    sessions_active: 0,
    sessions_closed: 0,
    unknown_session: 0,
    distinct_tokens: 0,
    subjects: [],
    last_auth: null,
    auth_failures: [],
    prm_requests: 0,
    rejected_by_hook: 0,
  };
}

/** A JSON-RPC error body. */
function rpcError(code, message, id = null) {
  return { jsonrpc: '2.0', error: { code, message }, id };
}

/** Registers the test tools on a fresh McpServer (one per session). */
function buildMcpServer(countTool) {
  const server = new McpServer({ name: 'mcp-companion-test-peer', version: '1.0.0' });

  server.registerTool('echo', {
    description: 'Returns its text argument unchanged.',
    inputSchema: { text: z.string() },
  }, async ({ text }) => {
    countTool('echo');
    return { content: [{ type: 'text', text }] };
  });

  server.registerTool('add', {
    description: 'Adds two numbers.',
    inputSchema: { a: z.number(), b: z.number() },
  }, async ({ a, b }) => {
    countTool('add');
    return { content: [{ type: 'text', text: String(a + b) }] };
  });

  server.registerTool('whoami', {
    description: 'Returns the subject and scope of the access token used for this call.',
  }, async (extra) => {
    countTool('whoami');
    const info = extra.authInfo || {};
    const claims = info.extra?.claims || {};
    const who = {
      sub: claims.sub ?? null,
      scope: (info.scopes || []).join(' '),
      client_id: info.clientId ?? null,
      aud: claims.aud ?? null,
      exp: claims.exp ?? null,
      jti: claims.jti ?? null,
    };
    return { content: [{ type: 'text', text: JSON.stringify(who) }] };
  });

  server.registerTool('admin-only', {
    description: `Requires the ${ADMIN_SCOPE} scope (otherwise HTTP 403 insufficient_scope).`,
  }, async (extra) => {
    countTool('admin-only');
    // The HTTP layer already answered 403 without the scope; double check.
    if (!(extra.authInfo?.scopes || []).includes(ADMIN_SCOPE)) {
      return { isError: true, content: [{ type: 'text', text: `missing scope ${ADMIN_SCOPE}` }] };
    }
    return { content: [{ type: 'text', text: 'admin ok' }] };
  });

  return server;
}

/**
 * Starts the MCP server. Returns
 * { url, urls, setIssuer(url), stats(), resetStats(), dropSessions(), close() }.
 */
export async function startMcpServer(options = {}) {
  const o = {
    port: 0,
    scopesSupported: DEFAULT_SCOPES,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  const mode = o.headerKey ? 'header-key' : o.staticJwtSecret !== undefined ? 'static-jwt' : 'oauth';
  let issuer = o.issuer;
  let jwks; // lazily created RemoteJWKSet
  let stats = newStats();
  const seenTokens = new Set();
  // /__reject-tokens: digests of every token accepted (kept across /__reset-stats), the ones
  // refused from now on, and whether every token is refused.
  const acceptedTokens = new Set();
  const rejectedTokens = new Set();
  let rejectAll = false;
  /** sessionId -> { transport, server } */
  const sessions = new Map();

  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      log('request handler error:', err);
      if (!res.headersSent) sendJson(res, 500, rpcError(-32603, 'internal server error'));
      else res.end();
    });
  });
  const port = await listen(httpServer, o.port);
  const base = `http://${HOST}:${port}`;
  const mcpUrl = `${base}/mcp`;
  const prmUrl = `${base}/.well-known/oauth-protected-resource/mcp`;

  function setIssuer(value) {
    issuer = value;
    jwks = undefined;
  }

  async function getJwks() {
    if (jwks) return jwks;
    if (!issuer) throw new Error('no issuer configured');
    // RFC 8414 metadata gives jwks_uri; fall back to oidc-provider's default path.
    let jwksUri = `${issuer.replace(/\/$/, '')}/jwks`;
    try {
      const r = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/oauth-authorization-server`);
      if (r.ok) jwksUri = (await r.json()).jwks_uri || jwksUri;
    } catch (err) {
      log(`could not fetch authorization server metadata: ${err.message}`);
    }
    jwks = createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 0 });
    return jwks;
  }

  const challenge = (extra = {}) => {
    if (mode === 'header-key') return undefined;
    const parts = [];
    if (extra.error) parts.push(`error="${authParam(extra.error)}"`);
    if (extra.description) parts.push(`error_description="${authParam(extra.description)}"`);
    if (extra.scope) parts.push(`scope="${authParam(extra.scope)}"`);
    if (mode === 'oauth') parts.push(`resource_metadata="${prmUrl}"`);
    else parts.push('realm="mcp"');
    return `Bearer ${parts.join(', ')}`;
  };

  function reject401(res, reason, tokenPresent) {
    stats.unauthorized += 1;
    pushBounded(stats.auth_failures, { at: new Date().toISOString(), reason }, 100);
    log(`401: ${reason}`);
    const header = challenge(tokenPresent
      ? { error: 'invalid_token', description: reason, scope: o.challengeScope }
      : { scope: o.challengeScope });
    sendJson(res, 401, { error: tokenPresent ? 'invalid_token' : 'unauthorized', error_description: reason },
      header ? { 'www-authenticate': header } : {});
  }

  /** Returns AuthInfo or undefined (after answering 401). */
  async function authenticate(req, res) {
    if (mode === 'header-key') {
      const got = req.headers[o.headerKey.name];
      if (got !== o.headerKey.value) {
        reject401(res, got === undefined ? `missing ${o.headerKey.name} header` : `wrong ${o.headerKey.name} header`, got !== undefined);
        return undefined;
      }
      return { token: '', clientId: 'header-key', scopes: [...o.scopesSupported], extra: { claims: { sub: 'header-key-user' } } };
    }

    const authz = req.headers.authorization;
    if (!authz) {
      reject401(res, 'missing Authorization header', false);
      return undefined;
    }
    const m = /^Bearer\s+([^\s]+)\s*$/i.exec(authz);
    if (!m) {
      reject401(res, 'Authorization header is not a Bearer token', true);
      return undefined;
    }
    const token = m[1];
    let payload;
    try {
      if (mode === 'static-jwt') {
        ({ payload } = await jwtVerify(token, new TextEncoder().encode(o.staticJwtSecret), { algorithms: ['HS256'] }));
      } else {
        ({ payload } = await jwtVerify(token, await getJwks(), {
          issuer,
          audience: mcpUrl,
          algorithms: ['RS256', 'PS256', 'ES256'],
          clockTolerance: 1,
        }));
      }
    } catch (err) {
      let reason = err.message;
      if (err instanceof joseErrors.JWTExpired) reason = 'token expired';
      else if (err.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') reason = `token ${err.claim} claim invalid: ${err.message}`;
      else if (err.code === 'ERR_JWS_INVALID' || err.code === 'ERR_JWT_INVALID') reason = 'token is not a valid JWT';
      reject401(res, reason, true);
      return undefined;
    }
    const digest = crypto.createHash('sha256').update(token).digest('hex');
    if (rejectAll || rejectedTokens.has(digest)) {
      stats.rejected_by_hook += 1;
      reject401(res, 'token rejected (test hook /__reject-tokens)', true);
      return undefined;
    }
    acceptedTokens.add(digest);
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
    if (!seenTokens.has(digest)) {
      seenTokens.add(digest);
      stats.distinct_tokens = seenTokens.size;
    }
    if (payload.sub && !stats.subjects.includes(payload.sub)) stats.subjects.push(payload.sub);
    stats.authorized += 1;
    stats.last_auth = {
      sub: payload.sub ?? null,
      client_id: payload.client_id ?? null,
      scope: scopes.join(' '),
      aud: payload.aud ?? null,
      iat: payload.iat ?? null,
      exp: payload.exp ?? null,
      jti: payload.jti ?? null,
    };
    return {
      token,
      clientId: String(payload.client_id ?? payload.azp ?? ''),
      scopes,
      expiresAt: payload.exp,
      resource: new URL(mcpUrl),
      extra: { claims: payload },
    };
  }

  function prmDocument() {
    return {
      resource: mcpUrl,
      authorization_servers: o.authServerObjects ? [{ issuer }] : [issuer],
      scopes_supported: o.scopesSupported,
      bearer_methods_supported: ['header'],
      resource_name: 'MCP Companion test peer',
    };
  }

  function countTool(name) {
    bump(stats.tool_calls, name);
  }

  async function newSession() {
    const server = buildMcpServer(countTool);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      enableJsonResponse: !!o.jsonResponse,
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, { transport, server });
        stats.sessions_created += 1;
        stats.sessions_active = sessions.size;
        log(`session ${sessionId} initialized`);
      },
      onsessionclosed: (sessionId) => {
        if (sessions.delete(sessionId)) stats.sessions_closed += 1;
        stats.sessions_active = sessions.size;
        log(`session ${sessionId} closed by client`);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId && sessions.delete(transport.sessionId)) stats.sessions_closed += 1;
      stats.sessions_active = sessions.size;
    };
    await server.connect(transport);
    return transport;
  }

  async function dropSessions() {
    const all = [...sessions.values()];
    sessions.clear();
    stats.sessions_active = 0;
    await Promise.all(all.map(async ({ transport, server }) => {
      try { await server.close(); } catch { /* ignore */ }
    }));
    return all.length;
  }

  async function handle(req, res) {
    const url = new URL(req.url, base);
    const p = url.pathname;
    res.on('finish', () => bump(stats.by_status, String(res.statusCode)));

    // --- unauthenticated endpoints ---
    if (p === '/__stats' && req.method === 'GET') {
      sendJson(res, 200, stats);
      return;
    }
    if (p === '/__reset-stats' && req.method === 'POST') {
      stats = newStats();
      stats.sessions_active = sessions.size;
      seenTokens.clear();
      sendJson(res, 200, { ok: true });
      return;
    }
    if (p === '/__drop-sessions' && req.method === 'POST') {
      const n = await dropSessions();
      log(`__drop-sessions: forgot ${n} session(s)`);
      sendJson(res, 200, { ok: true, dropped: n });
      return;
    }
    if (p === '/__reject-tokens' && req.method === 'POST') {
      const which = url.searchParams.get('which') || 'seen';
      if (which === 'seen') {
        for (const d of acceptedTokens) rejectedTokens.add(d);
      } else if (which === 'all') {
        rejectAll = true;
      } else if (which === 'none') {
        rejectAll = false;
        rejectedTokens.clear();
      } else {
        sendJson(res, 400, { error: 'invalid_request', error_description: 'which must be seen, all or none' });
        return;
      }
      log(`__reject-tokens ${which}: ${rejectedTokens.size} token(s) refused${rejectAll ? ', and every other one' : ''}`);
      sendJson(res, 200, { ok: true, rejected: rejectedTokens.size, reject_all: rejectAll });
      return;
    }
    if (p === '/.well-known/oauth-protected-resource/mcp' && req.method === 'GET') {
      if (mode !== 'oauth') {
        sendJson(res, 404, { error: 'not_found' });
        return;
      }
      stats.prm_requests += 1;
      sendJson(res, 200, prmDocument(), { 'access-control-allow-origin': '*' });
      return;
    }
    if (p !== '/mcp') {
      sendJson(res, 404, { error: 'not_found', error_description: `no route for ${req.method} ${p}` });
      return;
    }

    // --- /mcp ---
    stats.requests_total += 1;
    bump(stats.by_http_method, req.method);

    if (!['POST', 'GET', 'DELETE'].includes(req.method)) {
      res.writeHead(405, { allow: 'GET, POST, DELETE' }).end();
      return;
    }

    // Read the body before authenticating, so the connection stays clean.
    let body;
    if (req.method === 'POST') {
      const raw = await readBody(req);
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        const auth = await authenticate(req, res);
        if (!auth) return;
        sendJson(res, 400, rpcError(-32700, 'Parse error: body is not JSON'));
        return;
      }
    }

    const auth = await authenticate(req, res);
    if (!auth) return;
    req.auth = auth;

    const messages = body === undefined ? [] : Array.isArray(body) ? body : [body];
    for (const msg of messages) {
      if (msg && typeof msg.method === 'string') bump(stats.by_rpc_method, msg.method);
    }

    // Step-up: admin-only needs mcp:write. Answered at the HTTP layer, as a
    // resource server would (RFC 6750 insufficient_scope), before the SDK sees it.
    const wantsAdmin = messages.some((msg) => msg?.method === 'tools/call' && msg.params?.name === 'admin-only');
    if (wantsAdmin && !auth.scopes.includes(ADMIN_SCOPE)) {
      stats.forbidden += 1;
      const required = DEFAULT_SCOPES.join(' ');
      log(`403: admin-only needs ${ADMIN_SCOPE}, token has "${auth.scopes.join(' ')}"`);
      const parts = ['error="insufficient_scope"', `scope="${authParam(required)}"`];
      if (mode === 'oauth') parts.push(`resource_metadata="${prmUrl}"`);
      sendJson(res, 403, { error: 'insufficient_scope', error_description: `the admin-only tool requires the ${ADMIN_SCOPE} scope` },
        { 'www-authenticate': `Bearer ${parts.join(', ')}` });
      return;
    }

    const sessionId = req.headers['mcp-session-id'];
    if (sessionId !== undefined) {
      const entry = sessions.get(sessionId);
      if (!entry) {
        stats.unknown_session += 1;
        sendJson(res, 404, rpcError(-32001, 'Session not found'));
        return;
      }
      await entry.transport.handleRequest(req, res, body);
      return;
    }

    if (req.method === 'POST' && messages.some((msg) => isInitializeRequest(msg))) {
      const transport = await newSession();
      await transport.handleRequest(req, res, body);
      return;
    }

    sendJson(res, 400, rpcError(-32000, 'Bad Request: missing Mcp-Session-Id header (send initialize first)'));
  }

  const urls = {
    mcp: mcpUrl,
    prm: mode === 'oauth' ? prmUrl : null,
    stats: `${base}/__stats`,
    reset_stats: `${base}/__reset-stats`,
    drop_sessions: `${base}/__drop-sessions`,
    reject_tokens: `${base}/__reject-tokens`,
  };

  log(`MCP server listening at ${mcpUrl} (auth mode ${mode}${issuer ? `, issuer ${issuer}` : ''})`);

  return {
    url: mcpUrl,
    urls,
    mode,
    setIssuer,
    stats: () => stats,
    resetStats: () => { stats = newStats(); },
    dropSessions,
    async close() {
      await dropSessions();
      await closeServer(httpServer);
    },
  };
}

// ---------------------------------------------------------------------------
// CLI entry point
// ---------------------------------------------------------------------------

if (isMain(import.meta.url)) {
  setLogName('mcp');
  let values;
  let opts;
  try {
    ({ values } = parseArgs({
      options: { port: { type: 'string' }, ...MCP_OPTIONS, ...LIFECYCLE_OPTIONS },
      allowPositionals: false,
    }));
    if (values.help) {
      process.stdout.write(MCP_USAGE);
      process.exit(0);
    }
    opts = mcpOptionsFromArgs(values);
  } catch (err) {
    usageError(err.message, MCP_USAGE);
  }
  try {
    const mcp = await startMcpServer(opts);
    installLifecycle([() => mcp.close()], {
      watchStdin: !values['no-stdin-watch'],
      maxLifetimeSeconds: toInt(values['max-lifetime'], '--max-lifetime', 0),
    });
    printReadyLine({ ...mcp.urls, issuer: opts.issuer ?? null, mode: mcp.mode, pid: process.pid });
  } catch (err) {
    log('failed to start:', err);
    process.exit(1);
  }
}
