#!/usr/bin/env node
// Plays "the user in a browser" for the tests, with plain HTTP:
//
//   node login.mjs <authorize-url> [--login alice] [--password pw] [--no-deliver]
//
// It GETs the authorization URL with a cookie jar, follows redirects by hand
// while they stay on the authorization server's origin, submits the login
// form (#login-form) when one is shown, and stops at the first redirect that
// leaves the authorization server: the client's redirect_uri, e.g. its
// loopback listener http://127.0.0.1:<port>/callback?code=...&state=...
// That URL is then fetched once (GET, no cookies) to deliver the code to the
// client, unless --no-deliver is given. The redirect URL is printed on stdout.
//
// Exit codes: 0 = got a code (and delivered it), 3 = the redirect carried an
// OAuth error, 4 = the client's redirect URI could not be fetched (URL still
// printed), 1 = the flow failed before reaching the client, 2 = bad usage.

import { log, setLogName, isMain } from './lib/common.mjs';

import { parseArgs } from 'node:util';

const USAGE = `usage: node login.mjs <authorize-url> [--login USER] [--password PW] [--no-deliver] [--timeout-ms N]`;

/** A tiny cookie jar: name -> value, ignoring Path (sequential flows only). */
export class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v] = a.split('=').map((x) => x?.trim());
        if (/^max-age$/i.test(k)) return Number(v) <= 0;
        if (/^expires$/i.test(k)) return Date.parse(v) <= Date.now();
        return false;
      });
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** fetch() with an error message that names the URL and the network cause. */
async function fetchOrExplain(url, init) {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = err.cause?.code || err.cause?.message || err.name;
    throw new Error(`${init?.method || 'GET'} ${url} failed: ${cause || err.message}`);
  }
}

function textBetween(html, id) {
  const m = new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(html);
  return m ? m[1] : undefined;
}

/**
 * Completes the authorization at `authorizeUrl`. Resolves with
 * { redirectUrl, code, state, error, error_description, iss, delivered, deliveryStatus }.
 * Rejects when the flow cannot reach the client's redirect URI.
 */
export async function completeLogin(authorizeUrl, {
  login = 'alice',
  password = 'password',
  deliver = true,
  timeoutMs = 10000,
  maxSteps = 20,
  logFn = () => {},
} = {}) {
  const authOrigin = new URL(authorizeUrl).origin;
  const jar = new CookieJar();
  let url = authorizeUrl;
  let method = 'GET';
  let body;
  let submittedLogin = false;

  for (let step = 0; step < maxSteps; step += 1) {
    const target = new URL(url);
    if (target.origin !== authOrigin) {
      // Left the authorization server: this is the client's redirect_uri.
      const result = {
        redirectUrl: url,
        code: target.searchParams.get('code') ?? undefined,
        state: target.searchParams.get('state') ?? undefined,
        iss: target.searchParams.get('iss') ?? undefined,
        error: target.searchParams.get('error') ?? undefined,
        error_description: target.searchParams.get('error_description') ?? undefined,
        delivered: false,
        deliveryStatus: undefined,
        deliveryError: undefined,
      };
      if (deliver && (target.protocol === 'http:' || target.protocol === 'https:')) {
        logFn(`delivering redirect to ${target.origin}${target.pathname}`);
        try {
          const r = await fetchOrExplain(url, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
          await r.arrayBuffer().catch(() => {});
          result.delivered = true;
          result.deliveryStatus = r.status;
        } catch (err) {
          result.deliveryError = err.message;
        }
      }
      return result;
    }

    logFn(`${method} ${target.pathname}`);
    const headers = { accept: 'text/html,application/json;q=0.9' };
    const cookie = jar.header();
    if (cookie) headers.cookie = cookie;
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetchOrExplain(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    jar.store(res);

    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      await res.arrayBuffer().catch(() => {});
      if (!location) throw new Error(`${res.status} from ${target.pathname} without a Location header`);
      url = new URL(location, url).href;
      method = 'GET';
      body = undefined;
      continue;
    }

    const text = await res.text();
    if (res.status === 200 && text.includes('id="login-form"')) {
      if (submittedLogin) {
        throw new Error(`login as ${JSON.stringify(login)} was rejected: ${textBetween(text, 'message') || 'form shown again'}`);
      }
      const action = /<form id="login-form"[^>]*action="([^"]+)"/.exec(text)?.[1];
      if (!action) throw new Error('login form without an action attribute');
      url = new URL(action.replaceAll('&amp;', '&'), url).href;
      method = 'POST';
      body = new URLSearchParams({ login, password }).toString();
      submittedLogin = true;
      continue;
    }

    const err = textBetween(text, 'error');
    const desc = textBetween(text, 'error_description');
    let detail = err ? `${err}${desc ? `: ${desc}` : ''}` : text.slice(0, 300).replace(/\s+/g, ' ');
    try {
      const j = JSON.parse(text);
      if (j.error) detail = `${j.error}${j.error_description ? `: ${j.error_description}` : ''}`;
    } catch { /* not JSON */ }
    throw new Error(`authorization server answered ${res.status} at ${target.pathname}: ${detail}`);
  }
  throw new Error(`more than ${maxSteps} redirects; giving up`);
}

if (isMain(import.meta.url)) {
  setLogName('login');
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      options: {
        login: { type: 'string', default: 'alice' },
        password: { type: 'string', default: 'password' },
        'no-deliver': { type: 'boolean', default: false },
        'timeout-ms': { type: 'string', default: '10000' },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: true,
    }));
  } catch (err) {
    process.stderr.write(`error: ${err.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (positionals.length !== 1 || !URL.canParse(positionals[0])) {
    process.stderr.write(`error: expected exactly one authorization URL\n${USAGE}\n`);
    process.exit(2);
  }
  try {
    const result = await completeLogin(positionals[0], {
      login: values.login,
      password: values.password,
      deliver: !values['no-deliver'],
      timeoutMs: Number(values['timeout-ms']) || 10000,
      logFn: values.verbose ? log : () => {},
    });
    process.stdout.write(`${result.redirectUrl}\n`);
    if (result.delivered) log(`delivered to the client (HTTP ${result.deliveryStatus})`);
    if (result.deliveryError) {
      log(`could not deliver the redirect to the client: ${result.deliveryError}`);
      process.exit(4);
    }
    if (result.error) {
      log(`authorization failed: ${result.error}${result.error_description ? `: ${result.error_description}` : ''}`);
      process.exit(3);
    }
    process.exit(0);
  } catch (err) {
    log(`login failed: ${err.message}`);
    process.exit(1);
  }
}
