// Shared helpers for the test peers.
//
// IMPORTANT: import this module FIRST in every entry script. It redirects
// console.log/console.info to stderr, because stdout is reserved for the one
// JSON "ready line" that the Rust tests parse. (oidc-provider prints its
// notices with console.info, which would otherwise land on stdout.)

import * as fs from 'node:fs';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

// ---------------------------------------------------------------------------
// stdout discipline
// ---------------------------------------------------------------------------

console.log = console.error.bind(console);
console.info = console.error.bind(console);
console.debug = console.error.bind(console);

let logName = 'peer';

/** Sets the prefix used by log(). */
export function setLogName(name) {
  logName = name;
}

function writeLog(name, args) {
  const ts = new Date().toISOString().slice(11, 23);
  const text = args
    .map((a) => (typeof a === 'string' ? a : a instanceof Error ? (a.stack || a.message) : JSON.stringify(a)))
    .join(' ');
  process.stderr.write(`[${ts} ${name}] ${text}\n`);
}

/** Logs one line to stderr with a timestamp and the process' peer name. */
export function log(...args) {
  writeLog(logName, args);
}

/** A log function with a fixed component name (e.g. "auth", "mcp"). */
export function logger(name) {
  return (...args) => writeLog(name, args);
}

/** Writes the single ready line (compact JSON + "\n") to stdout. */
export function printReadyLine(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** True when the module at `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl) {
  if (!process.argv[1]) return false;
  try {
    return fs.realpathSync(fileURLToPath(moduleUrl)) === fs.realpathSync(path.resolve(process.argv[1]));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

export const HOST = '127.0.0.1';

/** Starts listening on 127.0.0.1:port (0 = ephemeral) and resolves with the bound port. */
export function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    const onError = (err) => reject(err);
    server.once('error', onError);
    server.listen({ host: HOST, port: Number(port) || 0 }, () => {
      server.off('error', onError);
      resolve(server.address().port);
    });
  });
}

/** Closes an http.Server, dropping keep-alive and in-flight (SSE) connections. */
export function closeServer(server) {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeIdleConnections?.();
    server.closeAllConnections?.();
  });
}

/** Reads a request body into a Buffer (with a size limit). */
export function readBody(req, limit = 4 * 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error(`request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Sends a JSON response. */
export function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Appends an entry to a bounded log array. */
export function pushBounded(list, entry, max = 500) {
  list.push(entry);
  if (list.length > max) list.splice(0, list.length - max);
}

/** Increments counter[key] (creating it). */
export function bump(counter, key, by = 1) {
  counter[key] = (counter[key] || 0) + by;
}

export function htmlEscape(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** A quoted-string safe value for WWW-Authenticate parameters. */
export function authParam(value) {
  return String(value).replace(/["\\\r\n]/g, ' ');
}

export { http };

// ---------------------------------------------------------------------------
// Lifecycle: clean exit on SIGTERM/SIGINT, stdin EOF, optional max lifetime
// ---------------------------------------------------------------------------

/**
 * Installs the shutdown triggers. `closeFns` are awaited (in order) before the
 * process exits with code 0. A second signal, or a hang longer than 3 s,
 * forces exit.
 *
 * stdin watch: when stdin is a pipe or socket (how a test harness spawns us),
 * EOF on stdin means the parent went away (or dropped our stdin on purpose),
 * so we exit. When stdin is a TTY, /dev/null or a file we do NOT watch it:
 * /dev/null would report EOF immediately.
 */
export function installLifecycle(closeFns, { watchStdin = true, maxLifetimeSeconds = 0 } = {}) {
  let shuttingDown = false;
  const shutdown = async (reason) => {
    if (shuttingDown) {
      log(`second shutdown request (${reason}); exiting now`);
      process.exit(0);
    }
    shuttingDown = true;
    log(`shutting down: ${reason}`);
    const force = setTimeout(() => {
      log('shutdown took longer than 3s; forcing exit');
      process.exit(0);
    }, 3000);
    force.unref();
    for (const fn of closeFns) {
      try {
        await fn();
      } catch (err) {
        log('error during shutdown:', err);
      }
    }
    process.exit(0);
  };

  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));

  if (watchStdin) {
    let kind = 'unknown';
    try {
      const st = fs.fstatSync(0);
      if (st.isFIFO()) kind = 'pipe';
      else if (st.isSocket()) kind = 'socket';
      else if (st.isCharacterDevice()) kind = 'chardev';
      else if (st.isFile()) kind = 'file';
    } catch {
      kind = 'closed';
    }
    if (kind === 'pipe' || kind === 'socket') {
      process.stdin.on('end', () => shutdown('stdin closed (EOF)'));
      process.stdin.on('close', () => shutdown('stdin closed'));
      process.stdin.on('error', () => shutdown('stdin error'));
      // Discard anything written to us; we only care about EOF.
      process.stdin.on('data', () => {});
      process.stdin.resume();
    } else {
      log(`stdin is ${kind}; not watching it for EOF (use SIGTERM to stop)`);
    }
  }

  if (maxLifetimeSeconds > 0) {
    setTimeout(() => shutdown(`max lifetime of ${maxLifetimeSeconds}s reached`), maxLifetimeSeconds * 1000).unref();
  }

  process.on('uncaughtException', (err) => {
    log('uncaught exception:', err);
  });
  process.on('unhandledRejection', (err) => {
    log('unhandled rejection:', err);
  });

  return shutdown;
}

// ---------------------------------------------------------------------------
// CLI parsing helpers
// ---------------------------------------------------------------------------

/** Options shared by every entry script. */
export const LIFECYCLE_OPTIONS = {
  'no-stdin-watch': { type: 'boolean', default: false },
  'max-lifetime': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
};

export function toInt(value, name, fallback) {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Prints an error for a bad command line and exits with code 2. */
export function usageError(message, usage) {
  process.stderr.write(`error: ${message}\n\n${usage}\n`);
  process.exit(2);
}
