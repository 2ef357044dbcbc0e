//! The tray menu as data: what the tray app shows and what each entry does.
//!
//! The Tauri layer renders these entries and routes clicks back through [`TrayAction::from_id`];
//! it holds no logic of its own, so everything about the menu is tested here without a GUI.

use crate::config::Config;

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
    /// A divider.
    Separator,
}

/// What a click on a menu entry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    /// Quit the app.
    Quit,
    /// A server line was clicked (nothing to do yet; details arrive with the window).
    Server(String),
}

const QUIT_ID: &str = "quit";
const SERVER_PREFIX: &str = "server:";

impl TrayAction {
    /// The action for a menu id, if any.
    pub fn from_id(id: &str) -> Option<Self> {
        if id == QUIT_ID {
            return Some(Self::Quit);
        }
        id.strip_prefix(SERVER_PREFIX)
            .map(|n| Self::Server(n.to_owned()))
    }
}

/// The menu for a configuration, or for the error that kept it from loading.
pub fn menu(config: Result<&Config, &str>) -> Vec<MenuEntry> {
    let mut entries = Vec::new();
    match config {
        Ok(c) if c.servers.is_empty() => entries.push(MenuEntry::Item {
            id: "no-servers".to_owned(),
            label: "No servers yet: mcp-companion add NAME URL".to_owned(),
            enabled: false,
        }),
        Ok(c) => {
            for s in &c.servers {
                entries.push(MenuEntry::Item {
                    id: format!("{SERVER_PREFIX}{}", s.name),
                    label: format!("{} — {}", s.name, s.url),
                    enabled: true,
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

    fn labels(m: &[MenuEntry]) -> Vec<String> {
        m.iter()
            .map(|e| match e {
                MenuEntry::Item { label, .. } => label.clone(),
                MenuEntry::Separator => "---".into(),
            })
            .collect()
    }

    #[test]
    fn lists_servers_then_quit() {
        let c = Config::parse(
            "c",
            "[servers.a]\nurl = \"https://a.io/mcp\"\n[servers.b]\nurl = \"https://b.io\"\n",
        )
        .unwrap();
        let m = menu(Ok(&c));
        assert_eq!(
            labels(&m),
            ["a — https://a.io/mcp", "b — https://b.io", "---", "Quit"]
        );
        let MenuEntry::Item { id, .. } = &m[0] else {
            panic!()
        };
        assert_eq!(
            TrayAction::from_id(id),
            Some(TrayAction::Server("a".into()))
        );
        assert_eq!(TrayAction::from_id("quit"), Some(TrayAction::Quit));
        assert_eq!(TrayAction::from_id("no-servers"), None);
    }

    #[test]
    fn empty_and_broken_configs_say_so() {
        assert_eq!(
            labels(&menu(Ok(&Config::default())))[0],
            "No servers yet: mcp-companion add NAME URL"
        );
        let err = format!("/x/config.toml:3:1: {}\n  hint: y", "z".repeat(200));
        let l = labels(&menu(Err(&err)));
        assert!(
            l[0].starts_with("Config error: /x/config.toml:3:1: zzz"),
            "{l:?}"
        );
        assert!(l[0].ends_with('…') && l[0].chars().count() == "Config error: ".len() + 80);
    }
}
