#!/usr/bin/env node
// An official MCP SDK client (Client + StdioClientTransport) that drives
// `mcp-companion connect` over stdio, as Claude Desktop or Cursor would, against the
// "everything" server, and reports what it saw as ONE JSON line on stdout.
//
//   node bridge-client.mjs --bridge /path/to/mcp-companion -- connect URL [connect options…]
//   node bridge-client.mjs --bridge BIN --whoami --pass-env XDG_CONFIG_HOME … -- connect NAME
//
// Like an MCP client, the SDK gives the bridge only a few variables of its own environment
// (HOME, PATH, USER, …); --pass-env NAME (repeatable) adds one, as an MCP client config's
// "env" block would.
//
// Steps (each recorded in "steps", the first failure stops the run and sets "error"):
// initialize, tools/list, tools/call echo, a long-running call with progress
// notifications, sampling and elicitation round trips (server → client requests answered by
// this client through the bridge), resources/list, prompts/list, ping, and then close
// (stdin EOF) with the bridge's exit code.
//
// With --whoami (against mcp-server.mjs instead): initialize, tools/list, tools/call whoami
// (its result, parsed, is the report's "whoami"), ping, close.

import { printReadyLine } from './lib/common.mjs';

import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

const { values, positionals } = parseArgs({
  options: {
    bridge: { type: 'string' },
    'skip-server-requests': { type: 'boolean', default: false },
    whoami: { type: 'boolean', default: false },
    'pass-env': { type: 'string', multiple: true },
  },
  allowPositionals: true,
});
if (!values.bridge || positionals.length === 0) {
  process.stderr.write('usage: node bridge-client.mjs --bridge BIN -- connect URL [options]\n');
  process.exit(2);
}

// The SDK runs notification handlers a microtask later but handles responses at once, so a
// progress notification that arrives in the same read as its response is reported through
// onerror as "for an unknown token" instead of reaching onprogress. Count those too: they did
// arrive, in order, through the bridge.
const report = { steps: [], progress: [], late_progress: 0, server_requests: [], whoami: null, exit_code: null, error: null };
const step = async (name, fn) => {
  const started = performance.now();
  try {
    const detail = await fn();
    report.steps.push({ name, ok: true, ms: Math.round(performance.now() - started), detail });
  } catch (err) {
    report.steps.push({ name, ok: false, ms: Math.round(performance.now() - started) });
    throw new Error(`${name}: ${err?.message ?? err}`);
  }
};

const transport = new StdioClientTransport({
  command: values.bridge,
  args: positionals,
  env: Object.fromEntries((values['pass-env'] || [])
    .filter((k) => process.env[k] !== undefined)
    .map((k) => [k, process.env[k]])),
  stderr: 'inherit',
});
const client = new Client(
  { name: 'bridge-client', version: '1.0.0' },
  { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } },
);
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  report.server_requests.push('sampling/createMessage');
  const text = req.params.messages.map((m) => m.content?.text ?? '').join(' ');
  return { model: 'bridge-test-model', role: 'assistant', content: { type: 'text', text: `sampled(${text})` } };
});
client.setRequestHandler(ElicitRequestSchema, async () => {
  report.server_requests.push('elicitation/create');
  return { action: 'accept', content: { name: 'Ada Lovelace', check: true, integer: 7 } };
});
client.setRequestHandler(ListRootsRequestSchema, async () => {
  report.server_requests.push('roots/list');
  return { roots: [{ uri: 'file:///tmp/bridge-test', name: 'bridge-test' }] };
});

client.onerror = (err) => {
  if (String(err?.message).includes('progress notification for an unknown token')) report.late_progress += 1;
};

const text = (result) => (result.content ?? []).map((c) => c.text ?? '').join('\n');

/** Against mcp-server.mjs: who the server thinks is calling. */
async function whoamiSteps() {
  await step('tools/list', async () => {
    const tools = (await client.listTools()).tools.map((t) => t.name);
    if (!tools.includes('whoami')) throw new Error(`no whoami tool in ${tools}`);
    return { count: tools.length };
  });
  await step('tools/call whoami', async () => {
    const r = await client.callTool({ name: 'whoami', arguments: {} });
    if (r.isError) throw new Error(text(r));
    report.whoami = JSON.parse(text(r));
    return report.whoami;
  });
  await step('ping', async () => client.ping());
}

/** Against the "everything" server: every kind of message, both ways. */
async function everythingSteps() {
  let tools = [];
  await step('tools/list', async () => {
    tools = (await client.listTools()).tools.map((t) => t.name);
    if (!tools.includes('echo')) throw new Error(`no echo tool in ${tools}`);
    return { count: tools.length };
  });
  await step('tools/call echo', async () => {
    const r = await client.callTool({ name: 'echo', arguments: { message: 'hello through the bridge' } });
    if (!text(r).includes('hello through the bridge')) throw new Error(text(r));
    return text(r);
  });
  await step('progress notifications', async () => {
    const r = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => report.progress.push(p.progress) },
    );
    await new Promise((r) => setTimeout(r, 50)); // let a late notification's microtask run
    if (report.progress.length + report.late_progress !== 3) {
      throw new Error(`progress ${JSON.stringify(report.progress)}, late ${report.late_progress}`);
    }
    return text(r);
  });
  if (!values['skip-server-requests']) {
    await step('sampling round trip', async () => {
      const r = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'ping', maxTokens: 5 } });
      if (!text(r).includes('sampled(')) throw new Error(text(r));
      return text(r);
    });
    await step('elicitation round trip', async () => {
      const r = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      if (!text(r).includes('Ada Lovelace')) throw new Error(text(r));
      return text(r).split('\n')[0];
    });
    await step('roots round trip', async () => {
      const r = await client.callTool({ name: 'get-roots-list', arguments: {} });
      if (!text(r).includes('bridge-test')) throw new Error(text(r));
      return 'ok';
    });
  }
  await step('resources/list', async () => ({ count: (await client.listResources()).resources.length }));
  await step('prompts/list', async () => ({ count: (await client.listPrompts()).prompts.length }));
  await step('ping', async () => client.ping());
  await step('concurrent calls', async () => {
    const calls = Array.from({ length: 16 }, (_, i) =>
      client.callTool({ name: 'get-sum', arguments: { a: i, b: 1000 } }));
    const results = await Promise.all(calls);
    results.forEach((r, i) => {
      if (!text(r).includes(String(i + 1000))) throw new Error(`call ${i}: ${text(r)}`);
    });
    return { calls: results.length };
  });
}

try {
  await step('initialize', async () => {
    await client.connect(transport);
    return { server: client.getServerVersion(), protocol: transport.protocolVersion ?? null };
  });
  await (values.whoami ? whoamiSteps() : everythingSteps());
} catch (err) {
  report.error = String(err?.message ?? err);
}

// Closing the transport ends the bridge's stdin; it must exit 0 on its own.
const exited = new Promise((resolve) => {
  const proc = transport._process;
  if (!proc || proc.exitCode !== null) return resolve(proc?.exitCode ?? null);
  proc.once('exit', (code) => resolve(code));
});
const closeStarted = performance.now();
try {
  transport._process?.stdin?.end();
} catch { /* already gone */ }
report.exit_code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
report.exit_ms = Math.round(performance.now() - closeStarted);
await client.close().catch(() => {});
printReadyLine(report);
process.exit(0);
