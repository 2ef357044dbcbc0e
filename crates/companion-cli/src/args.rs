//! Command-line arguments.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "\
Use OAuth-protected remote MCP servers from any MCP client.

MCP Companion signs you in to remote MCP servers, keeps the tokens in your OS keychain, and
bridges stdio MCP clients (Claude Desktop, Cursor, …) to them.";

const AFTER_HELP: &str = "\
Examples:
  mcp-companion add linear https://mcp.linear.app/mcp
  mcp-companion list
  mcp-companion show linear --json
  mcp-companion remove linear

Files:
  The config file is config.toml in the platform config directory (on Linux
  ~/.config/mcp-companion/config.toml); `--config` or MCP_COMPANION_CONFIG points elsewhere.
  It never holds a secret: tokens and keys live in the OS keychain.

Exit codes:
  0  success
  1  the operation failed
  2  usage or configuration error (bad arguments, unknown server, invalid config file)";

/// The `mcp-companion` command line.
#[derive(Debug, Parser)]
#[command(name = "mcp-companion", version, about = ABOUT, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// Use this config file instead of the platform default.
    #[arg(long, global = true, env = "MCP_COMPANION_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Add a remote MCP server.
    #[command(after_help = ADD_HELP)]
    Add(Box<AddArgs>),
    /// List the configured servers.
    #[command(
        visible_alias = "ls",
        after_help = "Example:\n  mcp-companion list --json"
    )]
    List(ListArgs),
    /// Show one server's settings.
    #[command(after_help = "Example:\n  mcp-companion show linear")]
    Show(ShowArgs),
    /// Store or clear a server's secrets in the OS keychain (also for managed servers).
    #[command(subcommand, after_help = SECRET_HELP)]
    Secret(SecretCommand),
    /// Remove a server from the configuration.
    #[command(
        visible_alias = "rm",
        after_help = "Example:\n  mcp-companion remove linear"
    )]
    Remove(RemoveArgs),
    /// Diagnose a server: discovery, sign-in, initialize, tools, with a timeline.
    #[command(visible_alias = "doctor", after_help = PROBE_HELP)]
    Probe(Box<ProbeArgs>),
    /// Bridge an MCP client on stdio to a remote server (what MCP clients run).
    #[command(after_help = CONNECT_HELP)]
    Connect(ConnectArgs),
    /// Sign in to a server (opens the browser).
    #[command(
        after_help = "Examples:\n  mcp-companion login linear\n\nThe tokens go to the OS keychain, held by the MCP Companion broker (started if needed),\nwhich refreshes them for every MCP client."
    )]
    Login(LoginArgs),
    /// Sign out of a server: revoke its tokens where the server supports it, and forget them.
    #[command(after_help = "Example:\n  mcp-companion logout linear")]
    Logout(LogoutArgs),
    /// Show every server's sign-in state.
    #[command(after_help = "Examples:\n  mcp-companion status\n  mcp-companion status --json")]
    Status(StatusArgs),
    /// Run the credential broker in the foreground (MCP clients and the CLI start it when needed).
    #[command(
        after_help = "The broker is the one owner of your tokens: bridges ask it for a valid token instead of\nrefreshing themselves. The tray app runs one too; only one runs per user at a time."
    )]
    Daemon(DaemonArgs),
    /// Print a fingerprint of the current token of a server (never the token itself).
    #[command(hide = true)]
    DebugToken(DebugTokenArgs),
    /// Add MCP Companion's servers to an MCP client's config file (or repair them there).
    #[command(after_help = INSTALL_HELP)]
    Install(InstallArgs),
    /// Remove MCP Companion's servers from an MCP client's config file.
    #[command(after_help = UNINSTALL_HELP)]
    Uninstall(UninstallArgs),
    /// Show which MCP clients have MCP Companion's servers, and which entries have drifted.
    #[command(after_help = CLIENTS_HELP)]
    Clients(ClientsArgs),
}

const ADD_HELP: &str = "\
Examples:
  # The usual case: everything is discovered when you sign in.
  mcp-companion add linear https://mcp.linear.app/mcp

  # An authorization server without dynamic registration (Auth0, Okta, Entra):
  mcp-companion add tools https://tools.example.com/mcp \\
      --client-id companion-desktop --audience https://tools.example.com/mcp

  # Microsoft Entra ID rejects the RFC 8707 resource parameter:
  mcp-companion add graph https://graph.example.com/mcp --client-id 1234 --no-resource

  # A server that takes API key headers (values go to the keychain, not the file):
  mcp-companion add keyed https://keyed.example.com/mcp --auth headers --header X-Api-Key

  # Client credentials with a private key (private_key_jwt): the PEM file is read once and
  # the key kept only in the OS keychain; the algorithm comes from the key unless given.
  mcp-companion add robot https://robot.example.com/mcp --auth client-credentials \
      --client-id robot --private-key robot-key.pem --key-id 2024-06

  # A local server without authentication, over the legacy SSE transport:
  mcp-companion add local http://127.0.0.1:8931/sse --auth none --transport sse

Names may use letters, digits, '-' and '_' (what every MCP client accepts).";

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// A short name for the server, used by `connect` and in MCP clients' configs.
    pub(crate) name: String,
    /// The server's MCP endpoint (https; http only for localhost).
    pub(crate) url: String,
    /// How to authenticate.
    #[arg(long, value_enum, default_value_t = AuthMode::Oauth)]
    pub(crate) auth: AuthMode,
    /// The MCP transport.
    #[arg(long, value_enum, default_value_t = TransportArg::Auto)]
    pub(crate) transport: TransportArg,
    /// A pre-registered OAuth client id (for servers without dynamic registration).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// A scope to request instead of what the server advertises (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// An extra authorization request parameter, such as `prompt=consent` (repeatable).
    #[arg(long = "authorize-param", value_name = "KEY=VALUE")]
    pub(crate) authorize_params: Vec<String>,
    /// Shorthand for `--authorize-param audience=URI` (Auth0).
    #[arg(long, value_name = "URI")]
    pub(crate) audience: Option<String>,
    /// Send this RFC 8707 resource instead of the server's own.
    #[arg(long, value_name = "URI", conflicts_with = "no_resource")]
    pub(crate) resource: Option<String>,
    /// Send no RFC 8707 resource parameter (Microsoft Entra ID).
    #[arg(long)]
    pub(crate) no_resource: bool,
    /// Sign-ins come back to mcp-companion://oauth/callback (through MCP Companion's link handler) instead of
    /// http://127.0.0.1: for pre-registered native clients that allow one fixed redirect URI.
    #[arg(long, requires = "client_id")]
    pub(crate) app_redirect: bool,
    /// A Client ID Metadata Document URL to use as the client id where supported.
    #[arg(long, value_name = "URL")]
    pub(crate) client_metadata_url: Option<String>,
    /// The authorization server's quirks profile: auto (detect from the issuer), generic, auth0,
    /// entra, okta, google or keycloak.
    #[arg(long, value_name = "PROFILE")]
    pub(crate) profile: Option<String>,
    /// Ask for the client secret of the pre-registered client (stored in the keychain, never in
    /// the config file). Read without echo from the terminal, or one line from standard input.
    #[arg(long)]
    pub(crate) client_secret: bool,
    /// A static bearer token (for example a JWT from another application): same as
    /// `--auth bearer`; the token is read without echo, or from standard input.
    #[arg(long, conflicts_with = "auth")]
    pub(crate) bearer: bool,
    /// A command that prints a bearer token (for example from a secrets manager). The broker
    /// runs it when a token is needed and caches the token until it expires.
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["auth", "bearer"])]
    pub(crate) token_command: Option<String>,
    /// A header name whose value is kept in the keychain (with `--auth headers`; repeatable).
    #[arg(long = "header", value_name = "NAME")]
    pub(crate) headers: Vec<String>,
    /// Token endpoint authentication (with `--auth client-credentials`; `private-key-jwt`
    /// when --private-key is given).
    #[arg(long, value_enum, value_name = "METHOD")]
    pub(crate) token_endpoint_auth: Option<ClientAuthArg>,
    /// A PEM file with the client's private key (PKCS#8) for private_key_jwt client
    /// credentials. Read once; the key is kept only in the OS keychain.
    #[arg(long, value_name = "FILE", conflicts_with = "client_secret")]
    pub(crate) private_key: Option<PathBuf>,
    /// The private key's algorithm (default: the one the key is for).
    #[arg(long, value_enum, value_name = "ALG", requires = "private_key")]
    pub(crate) key_alg: Option<KeyAlgArg>,
    /// The key id (`kid`) the authorization server knows the key by, when it has several.
    #[arg(long, value_name = "KID", requires = "private_key")]
    pub(crate) key_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub(crate) enum KeyAlgArg {
    /// ECDSA with P-256.
    #[value(alias = "es256")]
    Es256,
    /// RSA (PKCS#1 v1.5) with SHA-256.
    #[value(alias = "rs256")]
    Rs256,
}

impl From<KeyAlgArg> for companion_core::config::SigningAlg {
    fn from(a: KeyAlgArg) -> Self {
        match a {
            KeyAlgArg::Es256 => Self::Es256,
            KeyAlgArg::Rs256 => Self::Rs256,
        }
    }
}

const SECRET_HELP: &str = "\
Examples:
  # A server your organization manages needs its client secret from you:
  mcp-companion secret set wiki --client-secret

  # Header values, asked for in turn (or read one per line from standard input):
  mcp-companion secret set keyed --header X-Client-Id --header X-Client-Secret

  # A new static token, piped in:
  printf '%s\\n' \"$TOKEN\" | mcp-companion secret set jwt --bearer

  # A private key for private_key_jwt client credentials (the file is read once):
  mcp-companion secret set robot --private-key robot-key.pem

  mcp-companion secret clear robot --private-key

Values go only to the OS keychain, never to a file. This works for your own servers and for
those your organization manages (their settings stay locked). Which secret a server takes
follows from its auth mode, shown by `mcp-companion show NAME`.";

#[derive(Debug, Subcommand)]
pub(crate) enum SecretCommand {
    /// Store a server's client secret, bearer token, header values or private key.
    #[command(after_help = SECRET_SET_HELP)]
    Set(SecretSetArgs),
    /// Remove a server's client secret, bearer token, header values or private key.
    #[command(after_help = SECRET_CLEAR_HELP)]
    Clear(SecretClearArgs),
}

const SECRET_SET_HELP: &str = "\
Examples:
  mcp-companion secret set wiki --client-secret
  mcp-companion secret set keyed --header X-Api-Key
  mcp-companion secret set jwt --bearer < token.txt
  mcp-companion secret set robot --private-key robot-key.pem

The value is checked against the server's auth mode: a header the server does not list, or a
client secret for a server that signs with a private key, is refused with what it takes.";

const SECRET_CLEAR_HELP: &str = "\
Examples:
  mcp-companion secret clear wiki --client-secret
  mcp-companion secret clear keyed --header X-Api-Key
  mcp-companion secret clear robot --all

Tokens from a sign-in are not touched: `mcp-companion logout NAME` signs out.";

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["client_secret", "bearer", "headers", "private_key"])))]
pub(crate) struct SecretSetArgs {
    /// The server's name.
    pub(crate) name: String,
    /// The client secret (of a pre-registered OAuth client, or for client credentials).
    #[arg(long)]
    pub(crate) client_secret: bool,
    /// The static bearer token.
    #[arg(long)]
    pub(crate) bearer: bool,
    /// The value of this header (repeatable).
    #[arg(long = "header", value_name = "NAME")]
    pub(crate) headers: Vec<String>,
    /// A PEM file with the private key for private_key_jwt (read once).
    #[arg(long, value_name = "FILE")]
    pub(crate) private_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["client_secret", "bearer", "headers", "private_key", "all"])))]
pub(crate) struct SecretClearArgs {
    /// The server's name.
    pub(crate) name: String,
    /// The client secret.
    #[arg(long)]
    pub(crate) client_secret: bool,
    /// The static bearer token.
    #[arg(long)]
    pub(crate) bearer: bool,
    /// The value of this header (repeatable).
    #[arg(long = "header", value_name = "NAME")]
    pub(crate) headers: Vec<String>,
    /// The private key.
    #[arg(long)]
    pub(crate) private_key: bool,
    /// Every secret above that the server has (not its sign-in tokens).
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuthMode {
    /// OAuth 2.1 sign-in in the browser (default).
    Oauth,
    /// A static bearer token, kept in the keychain.
    Bearer,
    /// Static headers such as API keys, kept in the keychain.
    Headers,
    /// The OAuth client credentials grant (no browser).
    #[value(alias = "client_credentials")]
    ClientCredentials,
    /// No authentication.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportArg {
    /// Streamable HTTP, falling back to legacy SSE on 404/405.
    Auto,
    /// Streamable HTTP only.
    StreamableHttp,
    /// Legacy HTTP+SSE only.
    Sse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ClientAuthArg {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The server's name.
    pub(crate) name: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    /// The server's name.
    pub(crate) name: String,
}

const CONNECT_HELP: &str = "\
Speaks MCP on stdin/stdout to an MCP client (Claude Desktop, Cursor, ...) and relays every
message, byte for byte, to the remote server over Streamable HTTP, falling back to the legacy
HTTP+SSE transport when the server has no Streamable HTTP endpoint. Sign-in and token refresh
are done by the MCP Companion broker (the tray app, or `mcp-companion daemon`, started when
needed), once for every client.

Examples:
  mcp-companion connect linear                       # a server added with `mcp-companion add`
  mcp-companion connect https://mcp.example.com/mcp --header 'X-Api-Key: ${EXAMPLE_KEY}'
  mcp-companion connect http://127.0.0.1:8931/sse --transport sse

In Claude Desktop's claude_desktop_config.json (`mcp-companion install claude-desktop
--server linear` writes this for you):

  {\"mcpServers\": {
    \"linear\": {\"command\": \"/usr/local/bin/mcp-companion\", \"args\": [\"connect\", \"linear\"]},
    \"example\": {
      \"command\": \"/usr/local/bin/mcp-companion\",
      \"args\": [\"connect\", \"https://mcp.example.com/mcp\", \"--header\", \"X-Api-Key: ${EXAMPLE_KEY}\"],
      \"env\": {\"EXAMPLE_KEY\": \"...\"}
    }
  }}

${VAR} in a header value is read from the environment when connect starts, so a secret never
has to appear in the command's arguments. A URL target uses only the headers you give (no
sign-in); a configured name uses the server's settings.

stdout carries only JSON-RPC. Logs go to stderr and to connect-NAME.log in the log directory
(MCP_COMPANION_LOG=debug for more). When you need to sign in, every request is answered with
an error that says how, instead of hanging.

HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured; the system's certificate store
(or SSL_CERT_FILE) is trusted. At most 32 requests wait for responses at once; more wait their
turn, while notifications (cancellations among them) always go at once.

Exit codes: 0 the client closed stdin or the process got SIGTERM; 1 a fatal error;
2 a usage or configuration error (unknown server, bad --header).";

const PROBE_HELP: &str = "\
Runs a whole MCP session against the server and prints every step (URL, status, what was
learned, how long), so you can see exactly where it fails:

  resource metadata -> authorization server metadata -> registration -> sign-in
  -> initialize -> notifications/initialized -> GET stream -> tools/list -> tool calls

Examples:
  mcp-companion probe https://mcp.example.com/mcp
  mcp-companion doctor linear                      # a configured server, with its settings
  mcp-companion probe https://mcp.example.com/mcp --call search --args '{\"q\":\"hi\"}'
  mcp-companion probe URL --grant client-credentials --client-id ID --client-secret-env SECRET
  mcp-companion probe URL --json > report.json

Tokens live in memory only (`--store memory`) and are dropped when the probe ends.
Exits 0 when every step succeeded, 1 otherwise (the reason on the last line).";

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The server's name.
    pub(crate) name: String,
    /// Complete the sign-in without a browser (servers on this machine only, for tests).
    #[arg(long, hide = true)]
    pub(crate) headless: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The server's name.
    pub(crate) name: String,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DaemonArgs {
    /// Seconds between checks for tokens about to expire.
    #[arg(long, default_value_t = 15, hide = true)]
    pub(crate) tick: u64,
    /// Seconds to wait for the OS keychain (it may be showing an unlock prompt).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub(crate) keychain_timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct DebugTokenArgs {
    /// The server's name.
    pub(crate) name: String,
    /// Seconds of validity needed.
    #[arg(long, default_value_t = 0)]
    pub(crate) min_ttl: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// A server URL, or the name of a configured server.
    pub(crate) target: String,
    /// How to complete the sign-in: open the browser, or follow the redirects without one
    /// (loopback servers only, unless --insecure-test-mode).
    #[arg(long, value_enum, default_value_t = AuthorizeArg::Browser)]
    pub(crate) authorize: AuthorizeArg,
    /// Allow headless sign-in against servers that are not on this machine (tests only).
    #[arg(long)]
    pub(crate) insecure_test_mode: bool,
    /// Where tokens are kept during the probe.
    #[arg(long, value_enum, default_value_t = StoreArg::Memory)]
    pub(crate) store: StoreArg,
    /// Which grant obtains the token.
    #[arg(long, value_enum, default_value_t = GrantArg::AuthorizationCode)]
    pub(crate) grant: GrantArg,
    /// A pre-registered client id.
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Read the client secret from this environment variable (never from the command line).
    #[arg(long, value_name = "VAR")]
    pub(crate) client_secret_env: Option<String>,
    /// Send the client secret in the body (client_secret_post) instead of HTTP Basic.
    #[arg(long)]
    pub(crate) client_secret_post: bool,
    /// A Client ID Metadata Document URL to use as client id where supported.
    #[arg(long, value_name = "URL")]
    pub(crate) client_metadata_url: Option<String>,
    /// PKCS#8 PEM private key file for private_key_jwt (with --grant client-credentials).
    #[arg(long, value_name = "FILE")]
    pub(crate) private_key_pem: Option<std::path::PathBuf>,
    /// Signing algorithm for the private key.
    #[arg(long, value_name = "ALG", default_value = "ES256")]
    pub(crate) signing_alg: String,
    /// Identity provider token endpoint (enterprise-managed authorization, --grant id-jag).
    #[arg(long, value_name = "URL")]
    pub(crate) idp_token_endpoint: Option<String>,
    /// Read the identity provider's ID token from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub(crate) idp_id_token_env: Option<String>,
    /// Our client id at the identity provider.
    #[arg(long, value_name = "ID")]
    pub(crate) idp_client_id: Option<String>,
    /// A scope to request instead of the advertised ones (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// An extra authorization request parameter (repeatable).
    #[arg(long = "authorize-param", value_name = "KEY=VALUE")]
    pub(crate) authorize_params: Vec<String>,
    /// Send no RFC 8707 resource parameter.
    #[arg(long)]
    pub(crate) no_resource: bool,
    /// Do not authorize at all (servers without authentication).
    #[arg(long)]
    pub(crate) no_auth: bool,
    /// How to answer elicitation requests.
    #[arg(long, value_enum, default_value_t = ElicitationArg::Decline)]
    pub(crate) elicitation: ElicitationArg,
    /// Call this tool after listing tools.
    #[arg(long, value_name = "TOOL")]
    pub(crate) call: Option<String>,
    /// Arguments of --call, as a JSON object.
    #[arg(long, value_name = "JSON", requires = "call")]
    pub(crate) args: Option<String>,
    /// Call every tool with minimal schema-valid arguments (test servers only: tools have
    /// side effects).
    #[arg(long)]
    pub(crate) call_all_tools: bool,
    /// Seconds to wait for each response (the browser sign-in gets ten times as long).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub(crate) timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Go through the bridge: run `mcp-companion connect TARGET` and speak MCP over its stdio
    /// (the bridge does the HTTP and, for a configured server, the authorization).
    #[arg(long)]
    pub(crate) via_bridge: bool,
    /// Take the scenario and its context from MCP_CONFORMANCE_SCENARIO and
    /// MCP_CONFORMANCE_CONTEXT (the MCP conformance suite's client runner) and map them to the
    /// options above.
    #[arg(long)]
    pub(crate) conformance: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The name of a configured server, or a server URL.
    pub(crate) target: String,
    /// An extra header on every request, 'Name: value' (repeatable); ${VAR} in the value is
    /// read from the environment.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// The MCP transport (default: the server's setting; auto for a URL).
    #[arg(long, value_enum)]
    pub(crate) transport: Option<TransportArg>,
    /// Largest message accepted from the client or the server, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub(crate) max_message_bytes: usize,
    /// Seconds a request waits while you approve the extra scopes a server asks for.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub(crate) step_up_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuthorizeArg {
    /// Open the system browser.
    Browser,
    /// Follow redirects without a browser (loopback servers only).
    Headless,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreArg {
    /// Keep tokens in memory for the length of the probe.
    Memory,
    /// Use the configured server's tokens from the credential broker (OS keychain), through
    /// the bridge.
    Keychain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GrantArg {
    /// A person signs in (OAuth authorization code with PKCE).
    AuthorizationCode,
    /// Machine to machine: client secret or private key.
    ClientCredentials,
    /// Enterprise-managed authorization: an identity provider's ID token exchanged for an
    /// ID-JAG, then a JWT bearer grant.
    IdJag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ElicitationArg {
    /// Accept, with each field's default value.
    AcceptDefaults,
    /// Decline.
    Decline,
    /// Cancel.
    Cancel,
    /// Do not declare elicitation support.
    Off,
}

const INSTALL_HELP: &str = "\
Examples:
  mcp-companion install claude-desktop --server linear
  mcp-companion install cursor --all
  mcp-companion install vscode --all --project .      # .vscode/mcp.json of this project
  mcp-companion install claude-code --all --diff      # show the change, write nothing
  mcp-companion install codex --repair                # re-point entries at this binary

Each entry runs `<this mcp-companion> connect NAME`. Everything else in the file (other
servers, comments, order, formatting) is kept byte for byte; the first change to a file is
backed up beside it as FILE.mcp-companion-backup-YYYYMMDDTHHMMSS. An existing entry with the
same name that is not MCP Companion's is never overwritten.

Clients: claude-desktop, cursor, vscode, claude-code, codex, windsurf. --project applies to
cursor, vscode and claude-code.";

const UNINSTALL_HELP: &str = "\
Examples:
  mcp-companion uninstall cursor --server linear
  mcp-companion uninstall claude-desktop --all      # every MCP Companion entry, orphans too
  mcp-companion uninstall vscode --all --project . --diff

Only entries MCP Companion wrote are removed; the rest of the file is kept byte for byte.";

const CLIENTS_HELP: &str = "\
Examples:
  mcp-companion clients
  mcp-companion clients --project . --json

An entry has drifted when it runs an mcp-companion binary that is gone or is not this one
(`install CLIENT --repair` fixes it); it is orphaned when its server is no longer configured
(`uninstall CLIENT --all` removes it).";

/// An MCP client whose config file `install` edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ClientArg {
    /// Claude Desktop (claude_desktop_config.json).
    ClaudeDesktop,
    /// Cursor (~/.cursor/mcp.json, or PROJECT/.cursor/mcp.json).
    Cursor,
    /// VS Code (the user mcp.json, or PROJECT/.vscode/mcp.json).
    Vscode,
    /// Claude Code (~/.claude.json, user or project scope).
    ClaudeCode,
    /// Codex CLI (~/.codex/config.toml).
    Codex,
    /// Windsurf (~/.codeium/windsurf/mcp_config.json).
    Windsurf,
}

#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    /// The MCP client.
    #[arg(value_enum)]
    pub(crate) client: ClientArg,
    /// Install this configured server.
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub(crate) server: Option<String>,
    /// Install every configured server.
    #[arg(long)]
    pub(crate) all: bool,
    /// Print the change as a unified diff instead of writing it.
    #[arg(long)]
    pub(crate) diff: bool,
    /// Point MCP Companion entries that run another (old or missing) binary at this one.
    #[arg(long)]
    pub(crate) repair: bool,
    /// Use this project's config file instead of the user-wide one.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct UninstallArgs {
    /// The MCP client.
    #[arg(value_enum)]
    pub(crate) client: ClientArg,
    /// Remove this server's entry.
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub(crate) server: Option<String>,
    /// Remove every MCP Companion entry, including orphaned ones.
    #[arg(long)]
    pub(crate) all: bool,
    /// Print the change as a unified diff instead of writing it.
    #[arg(long)]
    pub(crate) diff: bool,
    /// Use this project's config file instead of the user-wide one.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ClientsArgs {
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also show this project's files (Cursor, VS Code, Claude Code).
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
