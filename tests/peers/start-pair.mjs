#!/usr/bin/env node
// Starts the authorization server AND the MCP server in one process, wired to
// each other: the MCP URL is the authorization server's (default) resource,
// and the MCP server trusts the authorization server's issuer/JWKS.
//
// Accepts every flag of auth-server.mjs and mcp-server.mjs (except --port and
// --issuer; use --auth-port / --mcp-port). Prints one JSON ready line.

import { log, setLogName, printReadyLine, isMain, installLifecycle, LIFECYCLE_OPTIONS, toInt, usageError } from './lib/common.mjs';

import { parseArgs } from 'node:util';
import { startAuthServer, authOptionsFromArgs, AUTH_OPTIONS, AUTH_USAGE } from './auth-server.mjs';
import { startMcpServer, mcpOptionsFromArgs, MCP_OPTIONS, MCP_USAGE } from './mcp-server.mjs';

const USAGE = `start-pair.mjs: authorization server + MCP server in one process.

  --auth-port N   port of the authorization server (default 0 = ephemeral)
  --mcp-port N    port of the MCP server (default 0 = ephemeral)
  Extra --resource URLs are allowed in addition to the MCP URL (which is the default resource).

${AUTH_USAGE}
${MCP_USAGE}`;

/** Starts both servers. Returns { auth, mcp, readyLine, close() }. */
export async function startPair(authOpts = {}, mcpOpts = {}) {
  // 1. MCP server first: its URL is the resource the authorization server must know.
  const mcp = await startMcpServer({ ...mcpOpts, issuer: undefined });
  // 2. Authorization server, with the MCP URL as the primary (default) resource.
  const auth = await startAuthServer({
    ...authOpts,
    resources: [mcp.url, ...(authOpts.resources || []).filter((r) => r !== mcp.url)],
  });
  // 3. Tell the MCP server who issues its tokens.
  mcp.setIssuer(auth.issuer);

  const readyLine = {
    issuer: auth.issuer,
    mcp: mcp.url,
    prm: mcp.urls.prm,
    as_metadata: auth.urls.metadata,
    authorization_endpoint: auth.urls.authorization_endpoint,
    token_endpoint: auth.urls.token_endpoint,
    registration_endpoint: auth.urls.registration_endpoint,
    jwks_uri: auth.urls.jwks_uri,
    revocation_endpoint: auth.urls.revocation_endpoint,
    mcp_auth_mode: mcp.mode,
    stats: { auth: auth.urls.stats, mcp: mcp.urls.stats },
    control: {
      auth_reset_stats: auth.urls.reset_stats,
      auth_revoke_all: auth.urls.revoke_all,
      mcp_reset_stats: mcp.urls.reset_stats,
      mcp_drop_sessions: mcp.urls.drop_sessions,
      mcp_reject_tokens: mcp.urls.reject_tokens,
    },
    pid: process.pid,
  };

  return {
    auth,
    mcp,
    readyLine,
    async close() {
      await Promise.allSettled([mcp.close(), auth.close()]);
    },
  };
}

if (isMain(import.meta.url)) {
  setLogName('pair');
  let values;
  let authOpts;
  let mcpOpts;
  try {
    ({ values } = parseArgs({
      options: {
        'auth-port': { type: 'string' },
        'mcp-port': { type: 'string' },
        ...AUTH_OPTIONS,
        ...MCP_OPTIONS,
        ...LIFECYCLE_OPTIONS,
      },
      allowPositionals: false,
    }));
    if (values.help) {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    if (values.issuer) throw new Error('--issuer is not accepted by start-pair.mjs (the pair wires it itself)');
    authOpts = authOptionsFromArgs(values, { portKey: 'auth-port' });
    mcpOpts = mcpOptionsFromArgs(values, { portKey: 'mcp-port', requireIssuer: false });
    // The PRM advertises the authorization server's resource scopes unless told otherwise.
    mcpOpts.scopesSupported ??= authOpts.resourceScopes;
  } catch (err) {
    usageError(err.message, USAGE);
  }
  try {
    const pair = await startPair(authOpts, mcpOpts);
    installLifecycle([() => pair.close()], {
      watchStdin: !values['no-stdin-watch'],
      maxLifetimeSeconds: toInt(values['max-lifetime'], '--max-lifetime', 0),
    });
    printReadyLine(pair.readyLine);
  } catch (err) {
    log('failed to start:', err);
    process.exit(1);
  }
}
