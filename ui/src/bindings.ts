// Generated from crates/companion-api/src/types.rs by `cargo test bindings`.
// Do not edit: change the Rust types and regenerate.

export type ServerState = "signed_in" | "expiring" | "needs_sign_in" | "step_up_required" | "error" | "not_required" | "unknown";

export type RecentView = { 
/**
 * Unix time.
 */
at: number, 
/**
 * The state it led to.
 */
state: ServerState, 
/**
 * What happened.
 */
message: string, };

export type ServerView = { 
/**
 * The name MCP clients use (`mcp-companion connect NAME`).
 */
name: string, 
/**
 * The MCP endpoint.
 */
url: string, 
/**
 * The auth mode: oauth, client_credentials, bearer, headers, none.
 */
auth: string, 
/**
 * The state.
 */
state: ServerState, 
/**
 * The same in words ("Signed in · expires in 52 min").
 */
status_line: string, 
/**
 * Seconds until the access token expires, at the time of this snapshot.
 */
expires_in: number | null, 
/**
 * Scopes granted.
 */
scopes: Array<string>, 
/**
 * The authorization server.
 */
issuer: string | null, 
/**
 * The last error.
 */
error: string | null, 
/**
 * Deployed by the organization: read-only here.
 */
managed: boolean, 
/**
 * Unix time the current token was obtained.
 */
refreshed_at: number | null, 
/**
 * MCP client bridges connected right now.
 */
bridges: number, 
/**
 * Recent events, oldest first.
 */
recent: Array<RecentView>, };

export type Field = { 
/**
 * What it is.
 */
label: string, 
/**
 * Its value, never a secret.
 */
value: string, };

export type ServerDetails = { 
/**
 * The live view.
 */
server: ServerView, 
/**
 * Configuration and what sign-in established (client id, registration, profile…).
 */
fields: Array<Field>, 
/**
 * The JSON an MCP client needs to launch the bridge for this server.
 */
client_config: string, 
/**
 * The latest log lines about this server, redacted.
 */
log: Array<string>, 
/**
 * The settings as the edit form starts from them (`None` for managed servers).
 */
edit: NewServer | null, };

export type NewAuth = { "mode": "oauth", 
/**
 * A pre-registered client id; empty: registered at sign-in.
 */
client_id: string, 
/**
 * Its secret, stored in the keychain; empty: none, or keep the stored one.
 */
client_secret: string, 
/**
 * Scopes to request, space-separated; empty: what the server advertises.
 */
scopes: string, 
/**
 * Auth0's `audience`; empty: none.
 */
audience: string, 
/**
 * Provider profile name; empty or "auto": detected from the issuer.
 */
profile: string, } | { "mode": "bearer", 
/**
 * The token; empty on edit: keep the stored one.
 */
token: string, } | { "mode": "headers", 
/**
 * Name and value pairs; an empty value on edit keeps the stored one.
 */
headers: Array<HeaderValue>, } | { "mode": "none" };

export type HeaderValue = { 
/**
 * Its name, e.g. `X-Api-Key`.
 */
name: string, 
/**
 * Its value. Secret.
 */
value: string, };

export type NewServer = { 
/**
 * The name.
 */
name: string, 
/**
 * The MCP endpoint.
 */
url: string, 
/**
 * How it authenticates.
 */
auth: NewAuth, };

export type RegistrationKind = "dynamic" | "metadata_document" | "pre_registered" | "none";

export type Step = { 
/**
 * Milliseconds since the start.
 */
at_ms: number, 
/**
 * The stage.
 */
step: string, 
/**
 * HTTP method, for a request.
 */
method: string | null, 
/**
 * URL, for a request.
 */
url: string | null, 
/**
 * HTTP status.
 */
status: number | null, 
/**
 * Duration, in milliseconds.
 */
took_ms: number | null, 
/**
 * What was learned.
 */
note: string, };

export type Discovered = { 
/**
 * The URL examined.
 */
url: string, 
/**
 * A name to suggest (from the host).
 */
suggested_name: string, 
/**
 * Whether the server asks for a sign-in.
 */
auth_required: boolean, 
/**
 * The authorization server.
 */
issuer: string | null, 
/**
 * How the client will be registered.
 */
registration: RegistrationKind, 
/**
 * Scopes the server advertises.
 */
scopes: Array<string>, 
/**
 * The provider profile detected from the issuer.
 */
profile: string | null, 
/**
 * Advice for this provider ("Auth0 needs a pre-registered client…").
 */
profile_hint: string | null, 
/**
 * Every step, in order.
 */
steps: Array<Step>, };

export type TestReport = { 
/**
 * Whether every step succeeded.
 */
ok: boolean, 
/**
 * The negotiated MCP version.
 */
protocol_version: string | null, 
/**
 * The server's name and version, from `initialize`.
 */
server_info: string | null, 
/**
 * Its tools.
 */
tools: Array<string>, 
/**
 * What failed.
 */
error: string | null, 
/**
 * What to do about it.
 */
hint: string | null, 
/**
 * Every step.
 */
steps: Array<Step>, };

export type Settings = { 
/**
 * Start MCP Companion when you log in.
 */
autostart: boolean, 
/**
 * Show a notification when a server needs you.
 */
notifications: boolean, };

export type Route = { "view": "list" } | { "view": "details", 
/**
 * Its name.
 */
name: string, } | { "view": "add", 
/**
 * The server URL.
 */
url: string, 
/**
 * The name.
 */
name: string, } | { "view": "settings" } | { "view": "clients" };

export type ClientView = { 
/**
 * Its id, as `mcp-companion install` takes it.
 */
id: string, 
/**
 * Its display name.
 */
name: string, 
/**
 * Its config file.
 */
path: string, 
/**
 * Whether that file exists.
 */
exists: boolean, 
/**
 * Servers installed by MCP Companion.
 */
installed: Array<string>, 
/**
 * Installed servers whose entry needs a repair, with why.
 */
drifted: Array<Field>, 
/**
 * Configured servers not installed in this client.
 */
missing: Array<string>, 
/**
 * Why the file could not be read, if so (it is never touched then).
 */
error: string | null, };

export type ErrorKind = "invalid" | "managed" | "not_found" | "keychain" | "network" | "failed";

export type ApiError = { 
/**
 * What kind.
 */
kind: ErrorKind, 
/**
 * What happened and what to do.
 */
message: string, };
