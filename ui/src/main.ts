// The MCP Companion window: server list with live status, details, the add-server wizard,
// MCP clients and settings. Views render what the app sends; every decision is made in Rust.

import "./style.css";
import * as ipc from "./ipc";
import type {
  ApiError,
  ClientView,
  Discovered,
  NewAuth,
  Route,
  ServerDetails,
  ServerView,
  Step,
  TestReport,
} from "./ipc";

// ---- tiny DOM helpers (text only: nothing from a server is ever parsed as HTML) ----

type Attrs = Record<string, string | boolean | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (typeof v === "boolean") {
      if (v) el.setAttribute(k, "");
    } else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function field(label: string, input: HTMLElement, help?: string): HTMLElement {
  return h("label", { class: "field" }, h("span", {}, label), input, help ? h("small", {}, help) : null);
}

function input(id: string, value = "", attrs: Attrs = {}): HTMLInputElement {
  return h("input", { id, value, autocomplete: "off", spellcheck: "false", ...attrs });
}

function value(id: string): string {
  const el = document.getElementById(id);
  return el instanceof HTMLInputElement || el instanceof HTMLSelectElement ? el.value : "";
}

function errorBox(e: ApiError): HTMLElement {
  return h("div", { class: `error kind-${e.kind}`, role: "alert" }, e.message);
}

// ---- state ----

let list: ServerView[] = [];
let fetchedAt = Date.now();
let route: Route = { view: "list" };
const main = document.querySelector<HTMLElement>("#app");

function remaining(s: ServerView): number | null {
  if (s.expires_in === null) return null;
  return Math.max(0, s.expires_in - Math.floor((Date.now() - fetchedAt) / 1000));
}

function duration(secs: number): string {
  if (secs < 120) return `${secs} s`;
  if (secs < 7200) return `${Math.floor(secs / 60)} min ${String(secs % 60).padStart(2, "0")} s`;
  return `${Math.floor(secs / 3600)} h ${Math.floor((secs % 3600) / 60)} min`;
}

/** The status line, with a live countdown where there is an expiry. */
function statusText(s: ServerView): string {
  const left = remaining(s);
  if (s.state === "signed_in" && left !== null) return `Signed in · expires in ${duration(left)}`;
  if (s.state === "expiring" && left !== null) return `Expiring in ${duration(left)} · sign in again`;
  return s.status_line;
}

const TONE: Record<ServerView["state"], string> = {
  signed_in: "ok",
  not_required: "ok",
  unknown: "muted",
  expiring: "warn",
  needs_sign_in: "warn",
  step_up_required: "warn",
  error: "bad",
};

function when(unix: number): string {
  return new Date(unix * 1000).toLocaleString();
}

// ---- layout ----

function go(r: Route): void {
  route = r;
  render();
}

async function refresh(): Promise<void> {
  try {
    list = await ipc.servers();
    fetchedAt = Date.now();
  } catch (e) {
    list = [];
    showBanner(ipc.asError(e));
  }
  renderList();
  if (route.view === "details") void renderDetails(route.name, false);
  if (route.view === "list") document.getElementById("overview")?.replaceWith(overview());
}

function showBanner(e: ApiError | null): void {
  const b = document.getElementById("banner");
  if (!b) return;
  b.replaceChildren(...(e ? [errorBox(e)] : []));
}

function render(): void {
  if (!main) return;
  main.replaceChildren(
    h(
      "div",
      { class: "layout" },
      h(
        "aside",
        {},
        h("header", {}, h("h1", {}, h("a", { href: "#", id: "home", onclick: (e: Event) => { e.preventDefault(); go({ view: "list" }); } }, "MCP Companion"))),
        h("nav", { id: "server-list", "aria-label": "Servers" }),
        h(
          "footer",
          {},
          h("button", { id: "add-server", class: "primary", onclick: () => go({ view: "add", url: "", name: "" }) }, "Add server…"),
          h("button", { id: "open-clients", onclick: () => go({ view: "clients" }) }, "MCP clients"),
          h("button", { id: "open-settings", onclick: () => go({ view: "settings" }) }, "Settings"),
        ),
      ),
      h("section", { id: "pane" }, h("div", { id: "banner" })),
    ),
  );
  renderList();
  const pane = document.getElementById("pane");
  if (!pane) return;
  switch (route.view) {
    case "list":
      pane.append(overview());
      break;
    case "details":
      void renderDetails(route.name, true);
      break;
    case "add":
      pane.append(wizard(route.url, route.name));
      break;
    case "settings":
      void renderSettings(pane);
      break;
    case "clients":
      void renderClients(pane);
      break;
  }
}

function renderList(): void {
  const nav = document.getElementById("server-list");
  if (!nav) return;
  if (list.length === 0) {
    nav.replaceChildren(h("p", { class: "empty" }, "No servers yet. Add one to get started."));
    return;
  }
  nav.replaceChildren(
    ...list.map((s) =>
      h(
        "button",
        {
          class: `server ${route.view === "details" && route.name === s.name ? "selected" : ""}`,
          "data-server": s.name,
          onclick: () => go({ view: "details", name: s.name }),
        },
        h("span", { class: `dot ${TONE[s.state]}`, "aria-hidden": "true" }),
        h(
          "span",
          { class: "server-text" },
          h("strong", {}, s.name, s.managed ? h("span", { class: "badge", title: "Managed by your organization" }, "managed") : null),
          h("span", { class: "status", "data-status": s.state }, statusText(s)),
        ),
      ),
    ),
  );
}

function overview(): HTMLElement {
  const attention = list.filter((s) => TONE[s.state] !== "ok" && TONE[s.state] !== "muted");
  const summary =
    list.length === 0
      ? "MCP Companion signs you in to remote MCP servers and keeps your tokens in the OS keychain. Add a server, then install it in your MCP clients."
      : attention.length === 0
        ? `All ${list.length} server${list.length === 1 ? " is" : "s are"} ready.`
        : `${attention.map((s) => s.name).join(", ")} need${attention.length === 1 ? "s" : ""} your attention.`;
  return h(
    "div",
    { class: "card", id: "overview" },
    h("h2", {}, "Your servers"),
    h("p", {}, summary),
    list.length
      ? h(
          "table",
          {},
          h("thead", {}, h("tr", {}, h("th", {}, "Server"), h("th", {}, "Status"), h("th", {}, "Clients connected"), h("th", {}, ""))),
          h(
            "tbody",
            {},
            ...list.map((s) =>
              h(
                "tr",
                {},
                h("td", {}, h("strong", {}, s.name), h("br", {}), h("small", { class: "muted" }, s.url)),
                h("td", {}, h("span", { class: `dot ${TONE[s.state]}` }), " ", h("span", { class: "overview-status" }, statusText(s))),
                h("td", {}, String(s.bridges)),
                h(
                  "td",
                  { class: "actions" },
                  s.auth === "oauth" && (s.state === "needs_sign_in" || s.state === "expiring" || s.state === "error" || s.state === "step_up_required")
                    ? h("button", { class: "primary", onclick: () => void ipc.signIn(s.name).then(refresh, (e: unknown) => showBanner(ipc.asError(e))) }, "Sign in")
                    : null,
                  h("button", { onclick: () => go({ view: "details", name: s.name }) }, "Details"),
                ),
              ),
            ),
          ),
        )
      : null,
  );
}

// ---- details ----

function timeline(id: string): HTMLOListElement {
  return h("ol", { id, class: "timeline" });
}

function addStep(ol: HTMLElement, s: Step): void {
  const status = s.status === null ? "" : ` ${s.status}`;
  const took = s.took_ms === null ? "" : ` · ${s.took_ms} ms`;
  const bad = s.status !== null && s.status >= 400 && s.status !== 401;
  ol.append(
    h(
      "li",
      { class: bad ? "bad" : "" },
      h("span", { class: "step" }, s.step),
      s.method && s.url ? h("code", {}, `${s.method} ${s.url}${status}${took}`) : null,
      s.note ? h("span", { class: "note" }, s.note) : null,
    ),
  );
}

async function renderDetails(name: string, first: boolean): Promise<void> {
  const pane = document.getElementById("pane");
  if (!pane) return;
  let d: ServerDetails;
  try {
    d = await ipc.details(name);
  } catch (e) {
    pane.replaceChildren(h("div", { id: "banner" }), errorBox(ipc.asError(e)));
    return;
  }
  if (route.view !== "details" || route.name !== name) return;
  const existing = document.getElementById("details");
  if (!first && existing) {
    // A live update: keep forms and test results, refresh the status parts.
    existing.querySelector("#details-status")?.replaceWith(statusBlock(d.server));
    existing.querySelector("#details-actions")?.replaceWith(actions(d.server));
    existing.querySelector("#details-recent")?.replaceWith(recent(d.server));
    return;
  }
  pane.replaceChildren(
    h("div", { id: "banner" }),
    h(
      "div",
      { id: "details", class: "card" },
      h("h2", {}, d.server.name),
      h("p", { class: "url" }, d.server.url),
      statusBlock(d.server),
      actions(d.server),
      h("h3", {}, "Settings"),
      h("dl", { id: "details-fields" }, ...d.fields.flatMap((f) => [h("dt", {}, f.label), h("dd", {}, f.value)])),
      recent(d.server),
      h("h3", {}, "Test connection"),
      h("p", { class: "muted" }, "Runs a whole MCP session through the bridge, as your MCP clients do."),
      h("button", { id: "details-test", onclick: () => void runTest(d.server.name) }, "Test connection"),
      h("div", { id: "details-test-result" }),
      h("h3", {}, "Client configuration"),
      h("pre", { id: "details-client-config" }, d.client_config),
      h("button", { onclick: () => void ipc.copyClientConfig(d.server.name) }, "Copy"),
      d.edit ? editForm(d.server.name, d.edit) : h("p", { class: "muted" }, "Managed by your organization: settings are read-only here."),
      h("details", { id: "details-log" }, h("summary", {}, `Log (${d.log.length} lines, redacted)`), h("pre", {}, d.log.join("\n") || "Nothing logged about this server yet.")),
    ),
  );
}

function statusBlock(s: ServerView): HTMLElement {
  const left = remaining(s);
  return h(
    "div",
    { id: "details-status", class: `status-block ${TONE[s.state]}` },
    h("span", { class: `dot ${TONE[s.state]}` }),
    h("strong", { id: "details-status-line", "data-status": s.state }, statusText(s)),
    h(
      "dl",
      {},
      s.issuer ? h("dt", {}, "issuer") : null,
      s.issuer ? h("dd", {}, s.issuer) : null,
      s.scopes.length ? h("dt", {}, "scopes") : null,
      s.scopes.length ? h("dd", {}, s.scopes.join(" ")) : null,
      left !== null ? h("dt", {}, "token expires") : null,
      left !== null ? h("dd", {}, when(Math.floor(fetchedAt / 1000) + (s.expires_in ?? 0))) : null,
      s.refreshed_at !== null ? h("dt", {}, "last refresh") : null,
      s.refreshed_at !== null ? h("dd", {}, when(s.refreshed_at)) : null,
      h("dt", {}, "connected bridges"),
      h("dd", { id: "details-bridges" }, String(s.bridges)),
      s.error ? h("dt", {}, "last error") : null,
      s.error ? h("dd", { class: "bad" }, s.error) : null,
    ),
  );
}

function recent(s: ServerView): HTMLElement {
  return h(
    "div",
    { id: "details-recent" },
    s.recent.length ? h("h3", {}, "Recent events") : null,
    s.recent.length ? h("ul", {}, ...[...s.recent].reverse().map((r) => h("li", {}, h("time", {}, when(r.at)), " ", r.message))) : null,
  );
}

function actions(s: ServerView): HTMLElement {
  const busy = h("span", { id: "details-busy", class: "muted" });
  const run = (label: string, f: () => Promise<void>) => async () => {
    showBanner(null);
    busy.textContent = label;
    try {
      await f();
      busy.textContent = "";
      await refresh();
    } catch (e) {
      busy.textContent = "";
      showBanner(ipc.asError(e));
    }
  };
  const oauth = s.auth === "oauth";
  const signedIn = s.state === "signed_in" || s.state === "expiring";
  return h(
    "div",
    { id: "details-actions", class: "actions" },
    oauth
      ? h("button", { id: "details-signin", class: "primary", onclick: run("Finish signing in in your browser…", () => ipc.signIn(s.name)) }, signedIn ? "Re-authenticate" : s.state === "step_up_required" ? "Approve more access…" : "Sign in")
      : null,
    oauth && signedIn ? h("button", { id: "details-signout", onclick: run("Signing out…", () => ipc.signOut(s.name)) }, "Sign out") : null,
    !s.managed
      ? h("button", {
          id: "details-remove",
          class: "danger",
          onclick: run("Removing…", async () => {
            if (!window.confirm(`Remove ${s.name}? Its tokens and secrets are deleted from the keychain.`)) return;
            await ipc.removeServer(s.name);
            route = { view: "list" };
            render();
          }),
        }, "Remove")
      : null,
    busy,
  );
}

async function runTest(name: string): Promise<void> {
  const out = document.getElementById("details-test-result");
  if (!out) return;
  const ol = timeline("test-timeline");
  out.replaceChildren(h("p", { class: "muted" }, "Connecting…"), ol);
  let r: TestReport;
  try {
    r = await ipc.testConnection(name, (s) => addStep(ol, s));
  } catch (e) {
    out.replaceChildren(errorBox(ipc.asError(e)), ol);
    return;
  }
  out.replaceChildren(
    r.ok
      ? h("p", { class: "ok", id: "test-ok" }, `Connected: ${r.server_info ?? "server"} · MCP ${r.protocol_version ?? "?"} · ${r.tools.length} tool${r.tools.length === 1 ? "" : "s"}${r.tools.length ? `: ${r.tools.slice(0, 12).join(", ")}` : ""}`)
      : errorBox({ kind: "network", message: `${r.error ?? "The test failed."}${r.hint ? ` — ${r.hint}` : ""}` }),
    ol,
  );
  ol.replaceChildren();
  r.steps.forEach((s) => addStep(ol, s));
}

// ---- forms (add and edit share the auth fields) ----

function authFields(a: NewAuth, prefix: string, editing: boolean, needClientId = false): HTMLElement {
  const keep = editing ? "leave empty to keep the stored one" : undefined;
  const box = h("div", { id: `${prefix}-auth-fields` });
  const draw = (mode: string): void => {
    const o = a.mode === "oauth" ? a : { client_id: "", client_secret: "", scopes: "", audience: "", profile: "auto" };
    const headers = a.mode === "headers" ? a.headers : [{ name: "X-Api-Key", value: "" }];
    switch (mode) {
      case "oauth":
        box.replaceChildren(
          field(
            "Client ID",
            input(`${prefix}-client-id`, o.client_id, needClientId ? { placeholder: "required: ask the server's administrators", required: true } : { placeholder: "registered automatically when empty" }),
            needClientId
              ? "This authorization server does not register clients itself: its administrators give you a client ID."
              : "Needed when the authorization server does not register clients itself (Auth0, Okta, Entra).",
          ),
          field("Client secret", input(`${prefix}-client-secret`, "", { type: "password" }), keep ?? "Only for confidential clients; stored in the OS keychain."),
          field("Scopes", input(`${prefix}-scopes`, o.scopes, { placeholder: "what the server advertises" })),
          field("Audience", input(`${prefix}-audience`, o.audience, { placeholder: "Auth0 only" })),
          field(
            "Provider profile",
            h("select", { id: `${prefix}-profile` }, ...["auto", "generic", "auth0", "entra", "okta", "google", "keycloak"].map((p) => h("option", { value: p, selected: p === (o.profile || "auto") }, p))),
          ),
        );
        break;
      case "bearer":
        box.replaceChildren(field("Token", input(`${prefix}-token`, "", { type: "password" }), keep ?? "A JWT or API token; stored in the OS keychain, never in a file."));
        break;
      case "headers":
        box.replaceChildren(
          field("Header name", input(`${prefix}-header-name`, headers[0]?.name ?? "X-Api-Key")),
          field("Header value", input(`${prefix}-header-value`, "", { type: "password" }), keep ?? "Stored in the OS keychain."),
        );
        break;
      default:
        box.replaceChildren(h("p", { class: "muted" }, "No credentials are sent."));
    }
  };
  const select = h(
    "select",
    { id: `${prefix}-mode`, onchange: (e: Event) => draw((e.target as HTMLSelectElement).value) },
    ...[
      ["oauth", "Sign in with OAuth (browser)"],
      ["bearer", "Bearer token / JWT"],
      ["headers", "API key header"],
      ["none", "No authentication"],
    ].map(([v, l]) => h("option", { value: v ?? "", selected: v === a.mode }, l ?? "")),
  );
  draw(a.mode);
  return h("div", {}, field("Authentication", select), box);
}

function readAuth(prefix: string): NewAuth {
  switch (value(`${prefix}-mode`)) {
    case "oauth":
      return {
        mode: "oauth",
        client_id: value(`${prefix}-client-id`),
        client_secret: value(`${prefix}-client-secret`),
        scopes: value(`${prefix}-scopes`),
        audience: value(`${prefix}-audience`),
        profile: value(`${prefix}-profile`),
      };
    case "bearer":
      return { mode: "bearer", token: value(`${prefix}-token`) };
    case "headers":
      return { mode: "headers", headers: [{ name: value(`${prefix}-header-name`), value: value(`${prefix}-header-value`) }] };
    default:
      return { mode: "none" };
  }
}

function editForm(name: string, form: { name: string; url: string; auth: NewAuth }): HTMLElement {
  const msg = h("div", { id: "edit-message" });
  return h(
    "details",
    { id: "details-edit" },
    h("summary", {}, "Edit settings"),
    h(
      "form",
      {
        class: "form",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          msg.replaceChildren();
          try {
            await ipc.updateServer(name, { name, url: value("edit-url"), auth: readAuth("edit") });
            msg.replaceChildren(h("p", { class: "ok" }, "Saved."));
            await refresh();
          } catch (err) {
            msg.replaceChildren(errorBox(ipc.asError(err)));
          }
        },
      },
      field("Server URL", input("edit-url", form.url)),
      authFields(form.auth, "edit", true),
      h("button", { type: "submit", class: "primary" }, "Save"),
      msg,
    ),
  );
}

// ---- the add-server wizard ----

const REGISTRATION: Record<Discovered["registration"], string> = {
  dynamic: "dynamic client registration: nothing to set up",
  metadata_document: "client ID metadata document: nothing to set up",
  pre_registered: "no self-registration: a client ID from the server's administrators is needed",
  none: "no sign-in needed",
};

function wizard(url: string, name: string): HTMLElement {
  const ol = timeline("wizard-timeline");
  const found = h("div", { id: "wizard-found" });
  const msg = h("div", { id: "wizard-message" });
  const discoverNow = async (e?: Event): Promise<void> => {
    e?.preventDefault();
    msg.replaceChildren();
    found.replaceChildren(h("p", { class: "muted", id: "wizard-working" }, "Asking the server…"));
    ol.replaceChildren();
    try {
      const d = await ipc.discover(value("wizard-url"), (s) => addStep(ol, s));
      found.replaceChildren(confirmStep(d, name));
    } catch (err) {
      found.replaceChildren();
      msg.replaceChildren(errorBox(ipc.asError(err)));
    }
  };
  const card = h(
    "div",
    { id: "wizard", class: "card" },
    h("h2", {}, "Add a server"),
    h(
      "form",
      { class: "form row", onsubmit: discoverNow },
      field("Server URL", input("wizard-url", url, { placeholder: "https://mcp.example.com/mcp", required: true })),
      h("button", { id: "wizard-discover", type: "submit", class: "primary" }, "Continue"),
    ),
    msg,
    ol,
    found,
  );
  if (url) queueMicrotask(() => void discoverNow());
  return card;
}

function confirmStep(d: Discovered, name: string): HTMLElement {
  const msg = h("div", { id: "wizard-save-message" });
  const auth: NewAuth = d.auth_required
    ? { mode: "oauth", client_id: "", client_secret: "", scopes: "", audience: d.profile === "auth0" ? d.url : "", profile: "auto" }
    : { mode: "none" };
  return h(
    "form",
    {
      class: "form",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        msg.replaceChildren();
        const server = { name: value("wizard-name"), url: d.url, auth: readAuth("wizard") };
        try {
          await ipc.addServer(server);
        } catch (err) {
          msg.replaceChildren(errorBox(ipc.asError(err)));
          return;
        }
        await refresh();
        if (server.auth.mode !== "oauth") {
          go({ view: "details", name: server.name });
          return;
        }
        msg.replaceChildren(h("p", { class: "muted", id: "wizard-signing-in" }, "Finish signing in in your browser…"));
        try {
          await ipc.signIn(server.name);
        } catch (err) {
          msg.replaceChildren(errorBox(ipc.asError(err)), h("p", {}, "The server was added; sign in again from its details."));
          return;
        }
        await refresh();
        go({ view: "details", name: server.name });
      },
    },
    h(
      "dl",
      { id: "wizard-summary" },
      h("dt", {}, "sign-in"),
      h("dd", {}, d.auth_required ? "required" : "not required"),
      d.issuer ? h("dt", {}, "authorization server") : null,
      d.issuer ? h("dd", { id: "wizard-issuer" }, d.issuer) : null,
      h("dt", {}, "registration"),
      h("dd", { id: "wizard-registration" }, REGISTRATION[d.registration]),
      d.scopes.length ? h("dt", {}, "scopes") : null,
      d.scopes.length ? h("dd", {}, d.scopes.join(" ")) : null,
      d.profile ? h("dt", {}, "provider") : null,
      d.profile ? h("dd", {}, `${d.profile}${d.profile_hint ? ` — ${d.profile_hint}` : ""}`) : null,
    ),
    field("Name", input("wizard-name", name || d.suggested_name, { required: true }), "What MCP clients call it: mcp-companion connect NAME."),
    authFields(auth, "wizard", false, d.registration === "pre_registered"),
    h("button", { id: "wizard-save", type: "submit", class: "primary" }, d.auth_required ? "Add and sign in" : "Add server"),
    msg,
  );
}

// ---- settings and clients ----

async function renderSettings(pane: HTMLElement): Promise<void> {
  let s;
  try {
    s = await ipc.settings();
  } catch (e) {
    pane.append(errorBox(ipc.asError(e)));
    return;
  }
  const msg = h("div", { id: "settings-message" });
  const save = async (): Promise<void> => {
    const next = {
      autostart: (document.getElementById("settings-autostart") as HTMLInputElement | null)?.checked ?? true,
      notifications: (document.getElementById("settings-notifications") as HTMLInputElement | null)?.checked ?? true,
    };
    try {
      await ipc.saveSettings(next);
      msg.replaceChildren(h("p", { class: "ok" }, "Saved."));
    } catch (e) {
      msg.replaceChildren(errorBox(ipc.asError(e)));
    }
  };
  pane.append(
    h(
      "div",
      { class: "card", id: "settings" },
      h("h2", {}, "Settings"),
      h("label", { class: "check" }, h("input", { type: "checkbox", id: "settings-autostart", checked: s.autostart, onchange: save }), "Start MCP Companion when I log in"),
      h("label", { class: "check" }, h("input", { type: "checkbox", id: "settings-notifications", checked: s.notifications, onchange: save }), "Notify me when a server needs me to sign in"),
      msg,
    ),
  );
}

async function renderClients(pane: HTMLElement): Promise<void> {
  let cs: ClientView[];
  try {
    cs = await ipc.clients();
  } catch (e) {
    pane.append(errorBox(ipc.asError(e)));
    return;
  }
  const msg = h("div", { id: "clients-message" });
  const act = (f: () => Promise<string>) => async () => {
    try {
      msg.replaceChildren(h("p", { class: "ok" }, await f()));
    } catch (e) {
      msg.replaceChildren(errorBox(ipc.asError(e)));
    }
    pane.replaceChildren(h("div", { id: "banner" }));
    await renderClients(pane);
    pane.querySelector("#clients-message")?.replaceWith(msg);
  };
  pane.append(
    h(
      "div",
      { class: "card", id: "clients" },
      h("h2", {}, "MCP clients"),
      h("p", { class: "muted" }, "Put your servers into each MCP client's configuration. Every other entry, comment and format detail in those files is kept, and a backup is made before the first change."),
      msg,
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", {}, "Client"), h("th", {}, "State"), h("th", {}, ""))),
        h(
          "tbody",
          {},
          ...cs.map((c) => {
            const state = c.error
              ? h("span", { class: "bad" }, c.error)
              : c.drifted.length
                ? h("span", { class: "warn" }, `needs repair: ${c.drifted.map((d) => `${d.label} (${d.value})`).join(", ")}`)
                : c.installed.length
                  ? h("span", { class: "ok" }, `installed: ${c.installed.join(", ")}${c.missing.length ? `; not yet: ${c.missing.join(", ")}` : ""}`)
                  : h("span", { class: "muted" }, c.exists ? "not installed" : "no configuration file yet");
            return h(
              "tr",
              { "data-client": c.id },
              h("td", {}, h("strong", {}, c.name), h("br", {}), h("small", { class: "muted" }, c.path)),
              h("td", {}, state),
              h(
                "td",
                { class: "actions" },
                !c.error && (c.missing.length > 0 || c.drifted.length > 0)
                  ? h("button", { class: "primary", onclick: act(() => ipc.installClient(c.id)) }, c.drifted.length ? "Repair" : "Install")
                  : null,
                c.installed.length ? h("button", { onclick: act(() => ipc.uninstallClient(c.id)) }, "Remove") : null,
              ),
            );
          }),
        ),
      ),
    ),
  );
}

// ---- start ----

async function start(): Promise<void> {
  await ipc.onServersChanged(() => void refresh());
  await ipc.onRoute((r) => go(r));
  try {
    route = await ipc.takeRoute();
  } catch {
    route = { view: "list" };
  }
  render();
  await refresh();
  // Countdowns tick locally between snapshots.
  window.setInterval(() => {
    renderList();
    const line = document.getElementById("details-status-line");
    const s = route.view === "details" ? list.find((x) => route.view === "details" && x.name === route.name) : undefined;
    if (line && s) line.textContent = statusText(s);
  }, 1000);
}

void start();
