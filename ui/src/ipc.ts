// The only module that talks to the app. One typed function per Tauri command; the types come
// from Rust (bindings.ts, generated). Views import from here and never call `invoke` directly.

import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  ApiError,
  ClientView,
  Discovered,
  ErrorKind,
  NewServer,
  Route,
  ServerDetails,
  ServerView,
  Settings,
  Step,
  TestReport,
} from "./bindings";

export type * from "./bindings";

const KINDS: readonly ErrorKind[] = ["invalid", "managed", "not_found", "keychain", "network", "failed"];

/** Whatever a command rejected with, as an `ApiError` (never trusting the payload's shape). */
export function asError(e: unknown): ApiError {
  if (typeof e === "object" && e !== null && "message" in e) {
    const o = e as { kind?: unknown; message?: unknown };
    const kind = KINDS.find((k) => k === o.kind) ?? "failed";
    return { kind, message: String(o.message) };
  }
  return { kind: "failed", message: String(e) };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw asError(e);
  }
}

/** Every server with its live status. */
export const servers = (): Promise<ServerView[]> => call("servers");
/** One server's details. */
export const details = (name: string): Promise<ServerDetails> => call("details", { name });
/** Starts a sign-in (the browser opens); resolves when it is complete. */
export const signIn = (name: string): Promise<void> => call("sign_in", { name });
/** Revokes and forgets the tokens. */
export const signOut = (name: string): Promise<void> => call("sign_out", { name });

/** What signing in to `url` will involve; `onStep` sees each step as it happens. */
export function discover(url: string, onStep: (s: Step) => void): Promise<Discovered> {
  const ch = new Channel<Step>();
  ch.onmessage = onStep;
  return call("discover", { url, onStep: ch });
}

/** Adds a server; secrets go to the keychain. */
export const addServer = (server: NewServer): Promise<void> => call("add_server", { server });
/** Replaces a server's settings; empty secrets keep the stored ones. */
export const updateServer = (name: string, server: NewServer): Promise<void> =>
  call("update_server", { name, server });
/** Removes a server and forgets its secrets. */
export const removeServer = (name: string): Promise<void> => call("remove_server", { name });

/** A whole MCP session through a real bridge. */
export function testConnection(name: string, onStep: (s: Step) => void): Promise<TestReport> {
  const ch = new Channel<Step>();
  ch.onmessage = onStep;
  return call("test_connection", { name, onStep: ch });
}

export const settings = (): Promise<Settings> => call("settings");
export const saveSettings = (settings: Settings): Promise<void> => call("save_settings", { settings });
export const clients = (): Promise<ClientView[]> => call("clients");
export const installClient = (client: string): Promise<string> => call("install_client", { client });
export const uninstallClient = (client: string): Promise<string> => call("uninstall_client", { client });
/** Where the tray or a link asked the window to go. */
export const takeRoute = (): Promise<Route> => call("take_route");
/** Copies the JSON an MCP client needs for this server. */
export const copyClientConfig = (name: string): Promise<void> => call("copy_client_config", { name });

/** The server list changed (a sign-in, a refresh, an error). */
export const onServersChanged = (f: () => void): Promise<UnlistenFn> => listen("servers-changed", f);
/** The tray or a link asks for another view. */
export const onRoute = (f: (r: Route) => void): Promise<UnlistenFn> =>
  listen<Route>("route", (e) => f(e.payload));
