//! The tray menu as data: what the tray app shows and what each entry does.
//!
//! The Tauri layer renders these entries and routes clicks back through [`TrayAction::from_id`];
//! it holds no logic of its own, so everything about the menu (labels, which actions a state
//! offers, the icon for the worst state, the tooltip) is tested here without a GUI.

/// One entry of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuEntry {
    /// A clickable (or greyed-out) line.
    Item {
        /// Stable id, routed back through [`TrayAction::from_id`].
        id: String,
        /// What the user reads.
        label: String,
        /// Whether it can be clicked.
        enabled: bool,
    },
    /// A submenu.
    Submenu {
        /// Its label.
        label: String,
        /// Its entries.
        items: Vec<MenuEntry>,
    },
    /// A divider.
    Separator,
}

/// A server's health, as the tray shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Signed in; seconds until the access token expires (refreshed before then).
    SignedIn {
        /// Seconds left, when known.
        expires_in: Option<u64>,
    },
    /// The token is about to expire and cannot be renewed.
    Expiring {
        /// Seconds left.
        expires_in: u64,
    },
    /// A person must sign in.
    NeedsSignIn,
    /// The server asks for more scopes.
    StepUp,
    /// The server or its authorization server cannot be reached, or refused.
    Error(String),
    /// Static credentials or none: nothing to sign in to.
    NotRequired,
    /// Not known yet (the broker has not answered).
    Unknown,
}

/// A server line of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLine {
    /// The server's name.
    pub name: String,
    /// Its health.
    pub health: Health,
}

/// Which tray icon to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IconState {
    /// Everything works.
    Ok,
    /// Something needs the user (a sign-in, an approval, an expiring token).
    Attention,
    /// Something is broken.
    Error,
}

/// What a click on a menu entry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    /// Quit the app.
    Quit,
    /// Sign in (or re-authenticate) to a server.
    SignIn(String),
    /// Sign out of a server.
    SignOut(String),
    /// Open the window on a server's details.
    Details(String),
    /// Copy the JSON an MCP client needs to launch the bridge for a server.
    CopyClientConfig(String),
    /// Open the window on the add-server wizard.
    AddServer,
    /// Open the window.
    Open,
}

const QUIT_ID: &str = "quit";
const ADD_ID: &str = "add-server";
const OPEN_ID: &str = "open";
// Per-server ids are "<action>:<name>"; a server name never contains ':'.
const SIGN_IN: &str = "sign-in:";
const SIGN_OUT: &str = "sign-out:";
const DETAILS: &str = "details:";
const COPY: &str = "copy-config:";

impl TrayAction {
    /// The action for a menu id, if any.
    pub fn from_id(id: &str) -> Option<Self> {
        match id {
            QUIT_ID => return Some(Self::Quit),
            ADD_ID => return Some(Self::AddServer),
            OPEN_ID => return Some(Self::Open),
            _ => {}
        }
        type Make = fn(String) -> TrayAction;
        let per_server: [(&str, Make); 4] = [
            (SIGN_IN, Self::SignIn),
            (SIGN_OUT, Self::SignOut),
            (DETAILS, Self::Details),
            (COPY, Self::CopyClientConfig),
        ];
        per_server
            .iter()
            .find_map(|(prefix, make)| id.strip_prefix(prefix).map(|n| make(n.to_owned())))
    }
}

fn duration(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// The status line of a server ("Signed in · expires in 52 min").
pub fn status_line(h: &Health) -> String {
    match h {
        Health::SignedIn {
            expires_in: Some(e),
        } => format!("Signed in · expires in {}", duration(*e)),
        Health::SignedIn { expires_in: None } => "Signed in".to_owned(),
        Health::Expiring { expires_in } => {
            format!("Expiring in {} · sign in again", duration(*expires_in))
        }
        Health::NeedsSignIn => "Needs sign-in".to_owned(),
        Health::StepUp => "Needs approval for more access".to_owned(),
        Health::Error(e) => format!("Unreachable: {}", first_line(e, 60)),
        Health::NotRequired => "No sign-in needed".to_owned(),
        Health::Unknown => "Checking…".to_owned(),
    }
}

fn icon_of(h: &Health) -> IconState {
    match h {
        Health::SignedIn { .. } | Health::NotRequired | Health::Unknown => IconState::Ok,
        Health::Expiring { .. } | Health::NeedsSignIn | Health::StepUp => IconState::Attention,
        Health::Error(_) => IconState::Error,
    }
}

/// The icon for the worst state across servers.
pub fn icon(servers: &[ServerLine]) -> IconState {
    servers
        .iter()
        .map(|s| icon_of(&s.health))
        .max()
        .unwrap_or(IconState::Ok)
}

/// The tooltip: a one-line summary.
pub fn tooltip(servers: &[ServerLine]) -> String {
    let attention: Vec<&str> = servers
        .iter()
        .filter(|s| icon_of(&s.health) != IconState::Ok)
        .map(|s| s.name.as_str())
        .collect();
    match (servers.len(), attention.len()) {
        (0, _) => "MCP Companion: no servers yet".to_owned(),
        (n, 0) => format!(
            "MCP Companion: {n} server{} ready",
            if n == 1 { "" } else { "s" }
        ),
        (_, _) => format!(
            "MCP Companion: {} need{} attention",
            attention.join(", "),
            if attention.len() == 1 { "s" } else { "" }
        ),
    }
}

/// The menu for the servers, or for the error that kept them from loading.
pub fn menu(servers: Result<&[ServerLine], &str>) -> Vec<MenuEntry> {
    let mut entries = Vec::new();
    match servers {
        Ok([]) => entries.push(MenuEntry::Item {
            id: "no-servers".to_owned(),
            label: "No servers yet".to_owned(),
            enabled: false,
        }),
        Ok(servers) => {
            for s in servers {
                let mut items = vec![MenuEntry::Item {
                    id: format!("status:{}", s.name),
                    label: status_line(&s.health),
                    enabled: false,
                }];
                match &s.health {
                    Health::NeedsSignIn | Health::Expiring { .. } | Health::Error(_) => {
                        items.push(MenuEntry::Item {
                            id: format!("{SIGN_IN}{}", s.name),
                            label: "Sign in".to_owned(),
                            enabled: true,
                        });
                    }
                    Health::StepUp => {
                        items.push(MenuEntry::Item {
                            id: format!("{SIGN_IN}{}", s.name),
                            label: "Approve more access…".to_owned(),
                            enabled: true,
                        });
                    }
                    Health::SignedIn { .. } => {
                        items.push(MenuEntry::Item {
                            id: format!("{SIGN_IN}{}", s.name),
                            label: "Re-authenticate".to_owned(),
                            enabled: true,
                        });
                        items.push(MenuEntry::Item {
                            id: format!("{SIGN_OUT}{}", s.name),
                            label: "Sign out".to_owned(),
                            enabled: true,
                        });
                    }
                    Health::NotRequired | Health::Unknown => {}
                }
                items.push(MenuEntry::Separator);
                items.push(MenuEntry::Item {
                    id: format!("{COPY}{}", s.name),
                    label: "Copy client config".to_owned(),
                    enabled: true,
                });
                items.push(MenuEntry::Item {
                    id: format!("{DETAILS}{}", s.name),
                    label: "Details…".to_owned(),
                    enabled: true,
                });
                let mark = match icon_of(&s.health) {
                    IconState::Ok => "",
                    IconState::Attention => " ⚠",
                    IconState::Error => " ✕",
                };
                entries.push(MenuEntry::Submenu {
                    label: format!("{}{mark}", s.name),
                    items,
                });
            }
        }
        Err(e) => entries.push(MenuEntry::Item {
            id: "config-error".to_owned(),
            label: format!("Config error: {}", first_line(e, 80)),
            enabled: false,
        }),
    }
    entries.push(MenuEntry::Separator);
    entries.push(MenuEntry::Item {
        id: ADD_ID.to_owned(),
        label: "Add server…".to_owned(),
        enabled: true,
    });
    entries.push(MenuEntry::Item {
        id: OPEN_ID.to_owned(),
        label: "Open MCP Companion".to_owned(),
        enabled: true,
    });
    entries.push(MenuEntry::Item {
        id: QUIT_ID.to_owned(),
        label: "Quit".to_owned(),
        enabled: true,
    });
    entries
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or_default();
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(m: &[MenuEntry]) -> Vec<String> {
        let mut out = Vec::new();
        for e in m {
            match e {
                MenuEntry::Item { label, .. } => out.push(label.clone()),
                MenuEntry::Separator => out.push("---".into()),
                MenuEntry::Submenu { label, items } => {
                    out.push(format!("[{label}]"));
                    out.extend(flat(items).into_iter().map(|l| format!("  {l}")));
                }
            }
        }
        out
    }

    fn line(name: &str, health: Health) -> ServerLine {
        ServerLine {
            name: name.into(),
            health,
        }
    }

    #[test]
    fn one_submenu_per_server_with_the_actions_its_state_allows() {
        let servers = [
            line(
                "linear",
                Health::SignedIn {
                    expires_in: Some(52 * 60),
                },
            ),
            line("jira", Health::NeedsSignIn),
            line("wiki", Health::Error("connection refused".into())),
            line("local", Health::NotRequired),
            line("tools", Health::StepUp),
        ];
        assert_eq!(
            flat(&menu(Ok(&servers))),
            [
                "[linear]",
                "  Signed in · expires in 52 min",
                "  Re-authenticate",
                "  Sign out",
                "  ---",
                "  Copy client config",
                "  Details…",
                "[jira ⚠]",
                "  Needs sign-in",
                "  Sign in",
                "  ---",
                "  Copy client config",
                "  Details…",
                "[wiki ✕]",
                "  Unreachable: connection refused",
                "  Sign in",
                "  ---",
                "  Copy client config",
                "  Details…",
                "[local]",
                "  No sign-in needed",
                "  ---",
                "  Copy client config",
                "  Details…",
                "[tools ⚠]",
                "  Needs approval for more access",
                "  Approve more access…",
                "  ---",
                "  Copy client config",
                "  Details…",
                "---",
                "Add server…",
                "Open MCP Companion",
                "Quit",
            ]
        );
        assert_eq!(
            TrayAction::from_id("sign-in:jira"),
            Some(TrayAction::SignIn("jira".into()))
        );
        assert_eq!(
            TrayAction::from_id("sign-out:linear"),
            Some(TrayAction::SignOut("linear".into()))
        );
        assert_eq!(TrayAction::from_id("quit"), Some(TrayAction::Quit));
        assert_eq!(
            TrayAction::from_id("details:wiki"),
            Some(TrayAction::Details("wiki".into()))
        );
        assert_eq!(
            TrayAction::from_id("copy-config:wiki"),
            Some(TrayAction::CopyClientConfig("wiki".into()))
        );
        assert_eq!(
            TrayAction::from_id("add-server"),
            Some(TrayAction::AddServer)
        );
        assert_eq!(TrayAction::from_id("open"), Some(TrayAction::Open));
        assert_eq!(TrayAction::from_id("status:linear"), None);
    }

    #[test]
    fn icon_and_tooltip_show_the_worst() {
        let ok = [
            line("a", Health::SignedIn { expires_in: None }),
            line("b", Health::NotRequired),
        ];
        assert_eq!(icon(&ok), IconState::Ok);
        assert_eq!(tooltip(&ok), "MCP Companion: 2 servers ready");
        let attention = [
            line("a", Health::NeedsSignIn),
            line(
                "b",
                Health::SignedIn {
                    expires_in: Some(5),
                },
            ),
        ];
        assert_eq!(icon(&attention), IconState::Attention);
        assert_eq!(tooltip(&attention), "MCP Companion: a needs attention");
        let broken = [
            line("a", Health::NeedsSignIn),
            line("b", Health::Error("x".into())),
        ];
        assert_eq!(icon(&broken), IconState::Error);
        assert_eq!(icon(&[]), IconState::Ok);
        assert_eq!(tooltip(&[]), "MCP Companion: no servers yet");
    }

    #[test]
    fn empty_and_broken_configs_say_so() {
        assert_eq!(
            flat(&menu(Ok(&[])))[..4],
            ["No servers yet", "---", "Add server…", "Open MCP Companion"]
        );
        let err = format!("/x/config.toml:3:1: {}\n  hint: y", "z".repeat(200));
        let l = flat(&menu(Err(&err)));
        assert!(
            l[0].starts_with("Config error: /x/config.toml:3:1: zzz"),
            "{l:?}"
        );
        assert!(l[0].ends_with('…') && l[0].chars().count() == "Config error: ".len() + 80);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(
            status_line(&Health::SignedIn {
                expires_in: Some(59)
            }),
            "Signed in · expires in 59 s"
        );
        assert_eq!(
            status_line(&Health::SignedIn {
                expires_in: Some(3 * 3600)
            }),
            "Signed in · expires in 3 h"
        );
        assert_eq!(
            status_line(&Health::Expiring { expires_in: 30 }),
            "Expiring in 30 s · sign in again"
        );
    }
}
