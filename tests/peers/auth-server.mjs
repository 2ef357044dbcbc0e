#!/usr/bin/env node
// OAuth 2.1 / OpenID Connect authorization server for the end-to-end tests,
// built on the certified `oidc-provider` package (panva). No mocks: every
// protocol decision (PKCE, redirect URI matching, refresh token rotation and
// reuse detection, resource indicators, client authentication) is made by
// oidc-provider itself. This file only configures it and adds:
//   * a minimal login/consent UI that can be driven by plain HTTP,
//   * /__stats (JSON counters) and a few /__ control endpoints,
//   * optional "quirk" modes that emulate real providers.
//
// Run `node auth-server.mjs --help` for the flags. See README.md.

import { logger, setLogName, printReadyLine, isMain, listen, closeServer, readBody, pushBounded, bump, htmlEscape, installLifecycle, LIFECYCLE_OPTIONS, toInt, usageError, http, HOST } from './lib/common.mjs';

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import Provider, { errors } from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const log = logger('auth');

/** OpenID Connect scopes oidc-provider itself knows about ("static" scopes). */
const OIDC_SCOPES = ['openid', 'offline_access'];
/** Scopes of the MCP resource server (resource-server scopes in oidc-provider terms). */
const DEFAULT_RESOURCE_SCOPES = ['mcp:read', 'mcp:write'];
const LOOPBACK_HOSTNAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);
const LOGIN_NAME = /^[A-Za-z0-9._@+-]{1,64}$/;

export const AUTH_USAGE = `auth-server.mjs: oidc-provider based OAuth authorization server for tests.

Prints one JSON line on stdout when ready, logs to stderr.

Flags:
  --port N                     listen port on 127.0.0.1 (default 0 = ephemeral)
  --access-ttl S               access token lifetime in seconds (default 600, env PEER_ACCESS_TTL)
  --token-delay-ms MS           hold each token request MS ms; one whose client hangs up meanwhile
                               is dropped unprocessed (tests of a broker killed mid-refresh)
  --refresh-ttl S              refresh token lifetime in seconds (default 86400)
  --auto-login USER            GET /interaction/:uid logs USER in and grants consent at once
  --password P                 the login form also requires password=P (default: any password)
  --resource URL               allowed resource indicator (repeatable); the first one is also the
                               default resource for requests without one. Without this flag any
                               http(s) URL on a loopback host is accepted and there is no default.
  --resource-scopes "A B"      scopes of the resource server (default "mcp:read mcp:write")
  --no-registration            disable dynamic client registration
  --client ID:SECRET:REDIRECT  pre-register a client (repeatable). Empty SECRET = public client
                               (token_endpoint_auth_method none). REDIRECT is a redirect URI or the
                               word "loopback" (= any http://127.0.0.1|localhost|[::1] URL, any
                               port, any path).
  --client-auth-method M       auth method for --client clients with a secret
                               (client_secret_basic (default) | client_secret_post)
  --client-credentials ID:SECRET  register a confidential client that may use the
                               client_credentials grant (repeatable; client_secret_basic, or
                               --client-auth-method)
  --client-jwks ID:FILE        register a client that may use the client_credentials grant and
                               authenticates with private_key_jwt, its public keys read from FILE
                               (a JWKS: {"keys":[...]}) (repeatable)
  --require-audience           Auth0-like: /authorize needs an "audience" parameter, which becomes
                               the token audience; "resource" is ignored at /authorize
  --reject-resource            Entra-like: a "resource" parameter at /authorize or /token is an
                               error (invalid_target); tokens get the default resource
  --require-offline-access     only issue refresh tokens when offline_access was requested
                               (oidc-provider's default policy; SEP-2207 style)
  --no-rotate                  do not rotate refresh tokens (the same one is returned)
  --no-stdin-watch             do not exit when stdin reaches EOF
  --max-lifetime S             exit after S seconds no matter what
`;

export const AUTH_OPTIONS = {
  'access-ttl': { type: 'string' },
  'token-delay-ms': { type: 'string' },
  'refresh-ttl': { type: 'string' },
  'auto-login': { type: 'string' },
  password: { type: 'string' },
  resource: { type: 'string', multiple: true },
  'resource-scopes': { type: 'string' },
  'no-registration': { type: 'boolean', default: false },
  client: { type: 'string', multiple: true },
  'client-auth-method': { type: 'string' },
  'client-credentials': { type: 'string', multiple: true },
  'client-jwks': { type: 'string', multiple: true },
  'require-audience': { type: 'boolean', default: false },
  'reject-resource': { type: 'boolean', default: false },
  'require-offline-access': { type: 'boolean', default: false },
  'no-rotate': { type: 'boolean', default: false },
};

/** Converts parseArgs values into startAuthServer() options. Throws on bad input. */
export function authOptionsFromArgs(values, { portKey = 'port' } = {}) {
  const clientAuthMethod = values['client-auth-method'] || 'client_secret_basic';
  if (!['client_secret_basic', 'client_secret_post'].includes(clientAuthMethod)) {
    throw new Error(`--client-auth-method must be client_secret_basic or client_secret_post, got ${clientAuthMethod}`);
  }
  const clients = (values.client || []).map((spec) => {
    const first = spec.indexOf(':');
    const second = first === -1 ? -1 : spec.indexOf(':', first + 1);
    if (first <= 0 || second === -1 || second === spec.length - 1) {
      throw new Error(`--client expects ID:SECRET:REDIRECT_URI_OR_loopback, got ${JSON.stringify(spec)}`);
    }
    return {
      clientId: spec.slice(0, first),
      clientSecret: spec.slice(first + 1, second),
      redirect: spec.slice(second + 1),
    };
  });
  const ccClients = (values['client-credentials'] || []).map((spec) => {
    const idx = spec.indexOf(':');
    if (idx <= 0 || idx === spec.length - 1) {
      throw new Error(`--client-credentials expects ID:SECRET, got ${JSON.stringify(spec)}`);
    }
    return { clientId: spec.slice(0, idx), clientSecret: spec.slice(idx + 1) };
  });
  const jwksClients = (values['client-jwks'] || []).map((spec) => {
    const idx = spec.indexOf(':');
    if (idx <= 0 || idx === spec.length - 1) {
      throw new Error(`--client-jwks expects ID:FILE, got ${JSON.stringify(spec)}`);
    }
    const file = spec.slice(idx + 1);
    const jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!Array.isArray(jwks.keys) || jwks.keys.some((k) => k.d !== undefined)) {
      throw new Error(`--client-jwks ${file}: expected a JWKS of public keys ({"keys":[...]}, no "d")`);
    }
    return { clientId: spec.slice(0, idx), jwks };
  });
  for (const r of values.resource || []) {
    if (!URL.canParse(r)) throw new Error(`--resource must be an absolute URL, got ${JSON.stringify(r)}`);
  }
  if (values['require-audience'] && values['reject-resource']) {
    throw new Error('--require-audience and --reject-resource cannot be combined');
  }
  return {
    port: toInt(values[portKey], `--${portKey}`, 0),
    accessTtl: toInt(values['access-ttl'] ?? process.env.PEER_ACCESS_TTL, '--access-ttl', 600) || 600,
    refreshTtl: toInt(values['refresh-ttl'], '--refresh-ttl', 86400) || 86400,
    autoLogin: values['auto-login'] || undefined,
    password: values.password,
    resources: values.resource || [],
    resourceScopes: values['resource-scopes'] ? values['resource-scopes'].split(/\s+/).filter(Boolean) : undefined,
    registration: !values['no-registration'],
    clients,
    clientAuthMethod,
    ccClients,
    jwksClients,
    requireAudience: !!values['require-audience'],
    rejectResource: !!values['reject-resource'],
    requireOfflineAccess: !!values['require-offline-access'],
    rotateRefreshTokens: !values['no-rotate'],
    tokenDelayMs: toInt(values['token-delay-ms'], '--token-delay-ms', 0),
  };
}

function isLoopbackUrl(value) {
  const u = URL.parse(value);
  return !!u && (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_HOSTNAMES.has(u.hostname);
}

/** The decoded JOSE header of a client assertion, or undefined. */
function assertionHeader(jwt) {
  if (typeof jwt !== 'string') return undefined;
  try {
    const { alg, kid, typ } = JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));
    return { alg, kid, typ };
  } catch {
    return { error: 'undecodable' };
  }
}

function newStats() {
  return {
    started_at: new Date().toISOString(),
    token_requests: {
      total: 0,
      by_grant_type: {},
      succeeded_by_grant_type: {},
      failed_by_grant_type: {},
    },
    token_log: [],
    authorization_requests: 0,
    authorization_log: [],
    registrations: 0,
    registration_log: [],
    interactions: { login_form_shown: 0, logins: 0, login_failures: 0, consents: 0, aborted: 0 },
    refresh_token_reuse: [],
    grants_revoked: [],
    revocation_requests: 0,
    errors: [],
  };
}

/**
 * Starts the authorization server.
 * Returns { issuer, urls, provider, stats(), resetStats(), setResources(list), close() }.
 */
export async function startAuthServer(options = {}) {
  const o = {
    port: 0,
    accessTtl: 600,
    refreshTtl: 86400,
    resources: [],
    resourceScopes: DEFAULT_RESOURCE_SCOPES,
    registration: true,
    clients: [],
    clientAuthMethod: 'client_secret_basic',
    ccClients: [],
    jwksClients: [],
    rotateRefreshTokens: true,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  // Allowed resources live in a mutable array so that an in-process caller
  // can replace them later with setResources().
  const resources = [...o.resources];
  const resourceScopes = [...o.resourceScopes];
  let stats = newStats();

  const server = http.createServer();
  const port = await listen(server, o.port);
  const issuer = `http://${HOST}:${port}`;

  // --- signing key --------------------------------------------------------
  // Without `jwks`, oidc-provider falls back to a well-known development key
  // (and warns). Generate a fresh RS256 key per process instead.
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const signingJwk = { ...(await exportJWK(privateKey)), kid: `peer-${crypto.randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' };

  // --- pre-registered clients ----------------------------------------------
  const anyLoopbackClients = new Set();
  const staticClients = [];
  for (const c of o.clients) {
    const loopback = c.redirect === 'loopback';
    if (loopback) anyLoopbackClients.add(c.clientId);
    const redirectUris = loopback ? ['http://127.0.0.1/callback'] : [c.redirect];
    const native = loopback || isLoopbackUrl(c.redirect) || !/^https?:/.test(c.redirect);
    staticClients.push({
      client_id: c.clientId,
      ...(c.clientSecret ? { client_secret: c.clientSecret } : {}),
      // Native clients get RFC 8252 port-agnostic loopback redirect matching
      // from oidc-provider (see Client#redirectUriAllowed).
      application_type: native ? 'native' : 'web',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: c.clientSecret ? o.clientAuthMethod : 'none',
    });
  }
  for (const c of o.ccClients) {
    staticClients.push({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      grant_types: ['client_credentials'],
      // A client that can only use client_credentials has no front channel.
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: o.clientAuthMethod,
    });
  }

  for (const c of o.jwksClients) {
    staticClients.push({
      client_id: c.clientId,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      // RFC 7523 client assertions signed with a key from the client's JWKS.
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: c.jwks,
    });
  }

  // --- resource indicator helpers -------------------------------------------
  const primaryResource = () => resources[0];
  const resourceAllowed = (r) => (resources.length ? resources.includes(r) : isLoopbackUrl(r));

  // Was a `resource` parameter actually sent by the client in this request
  // (as opposed to filled in by defaultResource or taken from the grant)?
  const explicitResource = (ctx) => {
    switch (ctx.oidc?.route) {
      case 'authorization':
        return ctx.method === 'GET' ? ctx.query.resource !== undefined : ctx.oidc.body?.resource !== undefined;
      case 'token':
      case 'pushed_authorization_request':
        return ctx.oidc.body?.resource !== undefined;
      default:
        return false;
    }
  };

  const configuration = {
    // In-memory adapter (oidc-provider's default). It warns on stderr; fine for tests.
    clients: staticClients,

    // RFC 7591 says an omitted grant_types means ["authorization_code"]. Many
    // MCP clients omit it and still expect refresh tokens, and oidc-provider's
    // issueRefreshToken below checks client.grantTypeAllowed('refresh_token'),
    // so default both grants for dynamically registered clients.
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },

    // Cookie signing keys. Without them oidc-provider's cookies are unsigned;
    // with them every cookie gets a companion "<name>.sig" cookie. An HTTP
    // client must send BOTH back (a normal cookie jar does).
    cookies: {
      keys: [crypto.randomBytes(32).toString('base64url')],
    },

    jwks: { keys: [signingJwk] },

    // Only OpenID Connect scopes belong here (the docs say resource-server
    // scopes must not be listed). mcp:read/mcp:write are resource-server
    // scopes, returned by getResourceServerInfo below. scopes_supported in the
    // discovery document is patched in the middleware further down so that it
    // advertises both kinds.
    scopes: OIDC_SCOPES,

    responseTypes: ['code'],

    // Auth0-like quirk: accept the non-standard `audience` parameter.
    extraParams: o.requireAudience ? ['audience'] : [],

    routes: {
      authorization: '/authorize',
      registration: '/register',
      token: '/token',
      jwks: '/jwks',
      revocation: '/revoke',
      introspection: '/introspect',
      userinfo: '/userinfo',
      end_session: '/logout',
    },

    // Any login name is a valid account; `sub` is the login name.
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub };
        },
      };
    },

    // Where oidc-provider sends the user agent for login/consent. The default
    // is the same path, but devInteractions (oidc-provider's built-in dev UI)
    // must be disabled or it would handle /interaction/:uid itself.
    interactions: {
      url(ctx, interaction) {
        return `/interaction/${interaction.uid}`;
      },
    },

    features: {
      devInteractions: { enabled: false },
      // DPoP is on by default in oidc-provider 9; a client that sends a DPoP
      // header would get DPoP-bound tokens the MCP server cannot verify.
      dPoP: { enabled: false },
      registration: {
        enabled: o.registration,
        // No initial access token: open registration, like MCP servers expect.
        initialAccessToken: false,
      },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: o.ccClients.length + o.jwksClients.length > 0 },
      resourceIndicators: {
        enabled: true,
        // Called (without `oneOf`) when an authorization / client_credentials
        // request carries no `resource`; with `oneOf` when the grant has
        // several resources and the token request did not pick one.
        async defaultResource(ctx, client, oneOf) {
          if (oneOf) {
            return oneOf.includes(primaryResource()) ? primaryResource() : oneOf[0];
          }
          if (o.requireAudience && ctx.oidc.route === 'authorization') {
            throw new errors.InvalidRequest('the audience parameter is required');
          }
          return primaryResource();
        },
        // Token requests that omit `resource` still get a JWT for the granted
        // resource. (oidc-provider's default would issue an opaque,
        // userinfo-only token when the grant includes `openid`.)
        async useGrantedResource() {
          return true;
        },
        // Decides whether a resource indicator is acceptable and how its
        // access tokens look. Throwing InvalidTarget rejects the request.
        async getResourceServerInfo(ctx, resourceIndicator) {
          if (o.rejectResource && explicitResource(ctx)) {
            throw new errors.InvalidTarget('the resource parameter is not supported by this authorization server');
          }
          if (!resourceAllowed(resourceIndicator)) {
            throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: resourceScopes.join(' '),
            audience: resourceIndicator,
            accessTokenTTL: o.accessTtl,
            // JWT access token (RFC 9068, typ "at+jwt") signed with the
            // provider's RS256 key, verifiable via jwks_uri.
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },

    // PKCE for every client, public or confidential. oidc-provider 9 supports
    // only S256 (and advertises code_challenge_methods_supported: ["S256"]).
    pkce: {
      required: () => true,
    },

    // Always rotate: each refresh returns a new refresh token and marks the
    // old one consumed. Presenting a consumed refresh token again is treated
    // as reuse: oidc-provider destroys it AND revokes the whole grant (all
    // access/refresh tokens of it), then answers invalid_grant.
    rotateRefreshToken: o.rotateRefreshTokens,

    // Default policy: refresh tokens only when offline_access was granted.
    // Tests want them for every client that registered the refresh_token
    // grant (that is how most MCP authorization servers behave).
    async issueRefreshToken(ctx, client, code) {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      if (o.requireOfflineAccess) return code.scopes.has('offline_access');
      return true;
    },

    // Default: tokens without offline_access die with the browser session.
    // Our refresh tokens must outlive the login session cookie.
    async expiresWithSession() {
      return false;
    },

    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || o.accessTtl,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || o.accessTtl,
      AuthorizationCode: 120,
      IdToken: 3600,
      RefreshToken: o.refreshTtl,
      Interaction: 900,
      Session: 86400,
      Grant: Math.max(o.refreshTtl * 2, 86400),
    },

    // CORS is only relevant for browser JavaScript; allow loopback origins.
    clientBasedCORS(ctx, origin) {
      return isLoopbackUrl(origin);
    },

    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1>Authorization server error</h1>
<p id="error">${htmlEscape(out.error)}</p>
<p id="error_description">${htmlEscape(out.error_description || '')}</p>`);
    },
  };

  const provider = new Provider(issuer, configuration);

  // Port-agnostic AND path-agnostic loopback redirects for clients
  // pre-registered with REDIRECT "loopback". (Port-agnostic matching for
  // application_type=native is built into oidc-provider; path-agnostic is not.)
  if (anyLoopbackClients.size) {
    const original = provider.Client.prototype.redirectUriAllowed;
    provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
      if (anyLoopbackClients.has(this.clientId) && URL.parse(value)?.protocol === 'http:' && isLoopbackUrl(value)) {
        return true;
      }
      return original.call(this, value);
    };
  }

  // --- events -> stats + stderr log ------------------------------------------
  const knownGrants = new Set();
  provider.on('grant.saved', (grant) => knownGrants.add(grant.jti));
  provider.on('grant.revoked', (ctx, grantId) => {
    knownGrants.delete(grantId);
    pushBounded(stats.grants_revoked, { at: new Date().toISOString(), grant_id: grantId, route: ctx?.oidc?.route });
    log(`grant revoked: ${grantId} (route ${ctx?.oidc?.route})`);
  });
  provider.on('grant.error', (ctx, err) => {
    if (err?.error_detail === 'refresh token already used') {
      const rt = ctx.oidc?.entities?.RefreshToken;
      pushBounded(stats.refresh_token_reuse, {
        at: new Date().toISOString(),
        client_id: ctx.oidc?.client?.clientId,
        grant_id: rt?.grantId,
      });
      log(`refresh token REUSE detected for client ${ctx.oidc?.client?.clientId}; grant ${rt?.grantId} revoked`);
    }
  });
  for (const ev of [
    'authorization.error', 'grant.error', 'registration_create.error', 'revocation.error',
    'introspection.error', 'userinfo.error', 'discovery.error', 'jwks.error', 'end_session.error',
    'pushed_authorization_request.error', 'server_error',
  ]) {
    provider.on(ev, (ctx, err) => {
      const entry = {
        at: new Date().toISOString(),
        event: ev,
        route: ctx?.oidc?.route,
        error: err?.error || err?.message,
        error_description: err?.error_description,
        error_detail: err?.error_detail,
      };
      pushBounded(stats.errors, entry, 200);
      log(`${ev}: ${entry.error}${entry.error_description ? ` (${entry.error_description})` : ''}${entry.error_detail ? ` [${entry.error_detail}]` : ''}`);
      if (ev === 'server_error') log(err);
    });
  }

  // --- interaction UI -------------------------------------------------------

  function page(title, body) {
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${htmlEscape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:28em;margin:2em auto}label{display:block;margin:.6em 0}input{width:100%}</style>
</head><body>
${body}
</body></html>`;
  }

  function loginPage(details, message = '') {
    const { uid, params } = details;
    return page('Sign in', `<h1>Sign in to the test authorization server</h1>
<p>Client <code id="client_id">${htmlEscape(params.client_id)}</code> asks for
scope <code id="scope">${htmlEscape(params.scope || '')}</code>
on resource <code id="resource">${htmlEscape([params.resource].flat().filter(Boolean).join(' '))}</code>.</p>
${message ? `<p id="message" style="color:#b00">${htmlEscape(message)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${htmlEscape(uid)}/login" autocomplete="off">
  <label>User name <input id="login" name="login" type="text" required autofocus value="${htmlEscape(params.login_hint || '')}"></label>
  <label>Password <input id="password" name="password" type="password"></label>
  <button id="submit" type="submit">Sign in and allow</button>
</form>
<form id="abort-form" method="post" action="/interaction/${htmlEscape(uid)}/abort">
  <button id="cancel" type="submit">Cancel</button>
</form>`);
  }

  // Builds (or extends) the Grant for this interaction: every requested
  // OpenID scope, and every requested resource-server scope for every
  // requested resource. Returns the grant id.
  async function grantConsent(details, accountId) {
    const { params, prompt, grantId } = details;
    let grant;
    if (grantId) grant = await provider.Grant.find(grantId);
    if (!grant) grant = new provider.Grant({ accountId, clientId: params.client_id });

    const requested = String(params.scope || '').split(' ').filter(Boolean);
    const oidcScopes = requested.filter((s) => OIDC_SCOPES.includes(s));
    if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
    const rsScopes = requested.filter((s) => resourceScopes.includes(s));
    let targets = [params.resource].flat().filter(Boolean);
    if (!targets.length && primaryResource()) targets = [primaryResource()];
    for (const r of targets) {
      if (rsScopes.length) grant.addResourceScope(r, rsScopes.join(' '));
    }
    // What oidc-provider itself says is missing (present on consent prompts).
    const d = prompt?.details || {};
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    return grant.save();
  }

  // Finishes the interaction and redirects (303) back into oidc-provider.
  async function finish(ctx, result, merge = true) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  async function completeLogin(ctx, details, accountId) {
    // Login and consent in one step: the resumed authorization request then
    // finds a grant covering everything requested and issues the code.
    const consentGrantId = await grantConsent(details, accountId);
    stats.interactions.logins += 1;
    stats.interactions.consents += 1;
    log(`login: ${accountId} for client ${details.params.client_id}`);
    await finish(ctx, { login: { accountId }, consent: { grantId: consentGrantId } }, false);
  }

  async function interactionRoute(ctx, uid, action) {
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Interaction not found', `<h1>Interaction not found</h1>
<p id="error">${htmlEscape(err.message)}</p>
<p>The interaction cookie (_interaction + _interaction.sig, path /interaction/&lt;uid&gt;) was not sent
or the interaction expired. The HTTP client must keep the cookies set by /authorize.</p>`);
      log(`interaction ${uid}: ${err.message}`);
      return;
    }
    if (details.uid !== uid) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'interaction uid does not match the interaction cookie' };
      return;
    }
    const promptName = details.prompt?.name;

    if (action === 'abort') {
      stats.interactions.aborted += 1;
      await finish(ctx, { error: 'access_denied', error_description: 'End-User aborted the interaction' }, false);
      return;
    }

    if (action === 'login') {
      const form = new URLSearchParams((await readBody(ctx.req, 64 * 1024)).toString('utf8'));
      const login = (form.get('login') || '').trim();
      if (!LOGIN_NAME.test(login) || (o.password !== undefined && form.get('password') !== o.password)) {
        stats.interactions.login_failures += 1;
        ctx.status = 200;
        ctx.type = 'html';
        ctx.body = loginPage(details, 'Invalid user name or password.');
        return;
      }
      await completeLogin(ctx, details, login);
      return;
    }

    // GET /interaction/:uid
    if (promptName === 'login') {
      if (o.autoLogin) {
        await completeLogin(ctx, details, o.autoLogin);
        return;
      }
      stats.interactions.login_form_shown += 1;
      ctx.type = 'html';
      ctx.body = loginPage(details);
      return;
    }
    if (promptName === 'consent') {
      // Already logged in (session cookie): consent is always automatic.
      const accountId = details.session?.accountId;
      const consentGrantId = await grantConsent(details, accountId);
      stats.interactions.consents += 1;
      await finish(ctx, { consent: { grantId: consentGrantId } }, true);
      return;
    }
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: `unsupported prompt ${promptName}` };
  }

  // --- middleware in front of oidc-provider's router ---------------------------
  // provider.use() inserts Koa middleware that runs before oidc-provider's
  // own routes (same ctx). After `await next()` ctx.oidc is populated.
  provider.use(async (ctx, next) => {
    const p = ctx.path;

    // Control / stats endpoints.
    if (p === '/__stats' && ctx.method === 'GET') {
      ctx.set('cache-control', 'no-store');
      ctx.body = stats;
      return;
    }
    if (p === '/__reset-stats' && ctx.method === 'POST') {
      stats = newStats();
      ctx.body = { ok: true };
      return;
    }
    if (p === '/__revoke-all' && ctx.method === 'POST') {
      const ids = [...knownGrants];
      await Promise.all(ids.map(async (id) => {
        await Promise.all([
          provider.AccessToken.revokeByGrantId(id),
          provider.RefreshToken.revokeByGrantId(id),
          provider.AuthorizationCode.revokeByGrantId(id),
          provider.Grant.adapter.destroy(id),
        ]);
        pushBounded(stats.grants_revoked, { at: new Date().toISOString(), grant_id: id, route: '__revoke-all' });
      }));
      knownGrants.clear();
      log(`__revoke-all: revoked ${ids.length} grant(s)`);
      ctx.body = { ok: true, revoked: ids.length };
      return;
    }

    // --token-delay-ms: hold token requests before oidc-provider sees them. A client that
    // disconnects during the wait (a killed broker) never reaches the provider, so its refresh
    // token is not consumed: the "server still accepts the stored token" case.
    if (p === '/token' && ctx.method === 'POST' && o.tokenDelayMs > 0) {
      const gone = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), o.tokenDelayMs);
        ctx.req.socket.once('close', () => { clearTimeout(timer); resolve(true); });
      });
      if (gone || ctx.req.socket.destroyed) {
        stats.token_requests_abandoned = (stats.token_requests_abandoned || 0) + 1;
        log('token request abandoned by the client during --token-delay-ms; not processed');
        return;
      }
    }

    // Login / consent UI.
    const m = /^\/interaction\/([^/]+)(?:\/(login|abort))?$/.exec(p);
    if (m) {
      const action = m[2] || 'show';
      if ((action === 'show' && ctx.method !== 'GET') || (action !== 'show' && ctx.method !== 'POST')) {
        ctx.status = 405;
        return;
      }
      ctx.set('cache-control', 'no-store');
      await interactionRoute(ctx, m[1], action);
      return;
    }

    // Authorization endpoint bookkeeping (+ Auth0-like audience rewrite).
    if (p === '/authorize' && ctx.method === 'GET') {
      const q = ctx.query;
      stats.authorization_requests += 1;
      pushBounded(stats.authorization_log, {
        at: new Date().toISOString(),
        client_id: q.client_id,
        response_type: q.response_type,
        redirect_uri: q.redirect_uri,
        scope: q.scope,
        resource: q.resource,
        audience: q.audience,
        code_challenge_method: q.code_challenge_method,
        has_code_challenge: q.code_challenge !== undefined,
        has_state: q.state !== undefined,
        prompt: q.prompt,
      });
      const sp = new URLSearchParams(ctx.querystring);
      let rewrite = false;
      if (o.requireAudience) {
        // Auth0 ignores `resource`; the token audience comes from `audience`.
        sp.delete('resource');
        if (sp.get('audience')) sp.set('resource', sp.get('audience'));
        rewrite = true;
      }
      if (String(sp.get('scope') || '').split(' ').includes('offline_access') && !sp.has('prompt')) {
        // oidc-provider follows OIDC Core: offline_access is silently dropped
        // unless prompt=consent is present. Plain OAuth clients (MCP) do not
        // send prompt, so add it; consent is automatic here anyway.
        sp.set('prompt', 'consent');
        rewrite = true;
      }
      if (rewrite) ctx.querystring = sp.toString();
    }

    await next();

    // After oidc-provider handled the request.
    const route = ctx.oidc?.route;
    if (route === 'discovery' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body.scopes_supported = [...OIDC_SCOPES, ...resourceScopes];
    } else if (route === 'token') {
      const body = ctx.oidc.body || {};
      const gt = String(body.grant_type || '(none)');
      const ok = ctx.status === 200;
      stats.token_requests.total += 1;
      bump(stats.token_requests.by_grant_type, gt);
      bump(ok ? stats.token_requests.succeeded_by_grant_type : stats.token_requests.failed_by_grant_type, gt);
      pushBounded(stats.token_log, {
        at: new Date().toISOString(),
        grant_type: gt,
        client_id: ctx.oidc.client?.clientId,
        client_auth: ctx.oidc.client?.clientAuthMethod,
        resource: body.resource,
        scope: body.scope,
        has_code_verifier: body.code_verifier !== undefined,
        // The client assertion's header (private_key_jwt): which key signed it.
        assertion_header: assertionHeader(body.client_assertion),
        status: ctx.status,
        error: ok ? undefined : ctx.body?.error,
        error_description: ok ? undefined : ctx.body?.error_description,
        issued_refresh_token: ok ? !!ctx.body?.refresh_token : undefined,
      });
      log(`token ${gt} -> ${ctx.status}${ok ? '' : ` ${ctx.body?.error}: ${ctx.body?.error_description}`}`);
    } else if (route === 'registration' && ctx.method === 'POST') {
      const body = ctx.oidc.body || {};
      stats.registrations += 1;
      pushBounded(stats.registration_log, {
        at: new Date().toISOString(),
        status: ctx.status,
        client_id: ctx.body?.client_id,
        error: ctx.status === 201 ? undefined : ctx.body?.error,
        error_description: ctx.status === 201 ? undefined : ctx.body?.error_description,
        application_type: body.application_type,
        redirect_uris: body.redirect_uris,
        grant_types: body.grant_types,
        token_endpoint_auth_method: body.token_endpoint_auth_method,
        scope: body.scope,
        client_name: body.client_name,
      });
      log(`registration -> ${ctx.status} ${ctx.body?.client_id || ctx.body?.error || ''}`);
    } else if (route === 'revocation') {
      stats.revocation_requests += 1;
    }
  });

  server.on('request', provider.callback());

  const urls = {
    issuer,
    metadata: `${issuer}/.well-known/oauth-authorization-server`,
    openid_configuration: `${issuer}/.well-known/openid-configuration`,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    registration_endpoint: o.registration ? `${issuer}/register` : null,
    jwks_uri: `${issuer}/jwks`,
    revocation_endpoint: `${issuer}/revoke`,
    stats: `${issuer}/__stats`,
    reset_stats: `${issuer}/__reset-stats`,
    revoke_all: `${issuer}/__revoke-all`,
  };

  log(`authorization server listening at ${issuer} (access ttl ${o.accessTtl}s, refresh ttl ${o.refreshTtl}s${o.autoLogin ? `, auto-login ${o.autoLogin}` : ''})`);

  return {
    issuer,
    urls,
    provider,
    stats: () => stats,
    resetStats: () => { stats = newStats(); },
    /** Replaces the allowed resources; the first becomes the default resource. */
    setResources(list) {
      resources.splice(0, resources.length, ...list);
    },
    close: () => closeServer(server),
  };
}

// ---------------------------------------------------------------------------
// CLI entry point
// ---------------------------------------------------------------------------

if (isMain(import.meta.url)) {
  setLogName('auth');
  let values;
  let opts;
  try {
    ({ values } = parseArgs({
      options: { port: { type: 'string' }, ...AUTH_OPTIONS, ...LIFECYCLE_OPTIONS },
      allowPositionals: false,
    }));
    if (values.help) {
      process.stdout.write(AUTH_USAGE);
      process.exit(0);
    }
    opts = authOptionsFromArgs(values);
  } catch (err) {
    usageError(err.message, AUTH_USAGE);
  }
  try {
    const as = await startAuthServer(opts);
    installLifecycle([() => as.close()], {
      watchStdin: !values['no-stdin-watch'],
      maxLifetimeSeconds: toInt(values['max-lifetime'], '--max-lifetime', 0),
    });
    printReadyLine({ ...as.urls, pid: process.pid });
  } catch (err) {
    log('failed to start:', err);
    process.exit(1);
  }
}
