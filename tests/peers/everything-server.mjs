#!/usr/bin/env node
// The official MCP "everything" server (@modelcontextprotocol/server-everything), over
// Streamable HTTP or the legacy HTTP+SSE transport, on an ephemeral loopback port, with the
// ready line the Rust tests read.
//
//   node everything-server.mjs streamableHttp   -> {"url":"http://127.0.0.1:PORT/mcp","pid":…}
//   node everything-server.mjs sse              -> {"url":"http://127.0.0.1:PORT/sse","pid":…}
//
// The server itself only reads PORT from the environment and logs to stdout, so this wrapper
// picks a free port, keeps stdout for the ready line (lib/common.mjs), imports the server's
// own transport module, and waits until it accepts connections.

import { printReadyLine, installLifecycle, LIFECYCLE_OPTIONS, HOST, http } from './lib/common.mjs';

import * as net from 'node:net';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: LIFECYCLE_OPTIONS, allowPositionals: true });
const mode = positionals[0] ?? 'streamableHttp';
if (values.help || !['streamableHttp', 'sse'].includes(mode)) {
  process.stderr.write('usage: node everything-server.mjs [streamableHttp|sse]\n');
  process.exit(values.help ? 0 : 2);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: HOST, port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function accepting(port) {
  return new Promise((resolve) => {
    const req = http.request({ host: HOST, port, method: 'GET', path: '/__ready' }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

const port = await freePort();
process.env.PORT = String(port);
installLifecycle([], {
  watchStdin: !values['no-stdin-watch'],
  maxLifetimeSeconds: Number(values['max-lifetime'] ?? 0),
});
await import(`@modelcontextprotocol/server-everything/dist/transports/${mode}.js`);
for (let i = 0; i < 300 && !(await accepting(port)); i++) {
  await new Promise((r) => setTimeout(r, 20));
}
const path = mode === 'sse' ? '/sse' : '/mcp';
printReadyLine({ url: `http://${HOST}:${port}${path}`, pid: process.pid });
