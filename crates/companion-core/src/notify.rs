//! Which broker events deserve a desktop notification, and when not to repeat one.
//!
//! A bridge that needs a sign-in asks the broker on every request; the broker emits an event
//! each time. A person should see one notification per server per episode: a new one only after
//! the server was fine again in between. The app never opens a browser from a background event:
//! the notification's click (a person) starts the sign-in.

use std::collections::HashMap;

/// A server's state as far as notifications are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// Nothing to ask of the person.
    Nothing,
    /// Nobody is signed in.
    SignIn,
    /// The server asks for more scopes.
    StepUp,
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The server it is about (a click signs in to it).
    pub server: String,
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
}

/// Remembers what was already shown.
#[derive(Debug, Default)]
pub struct Gate {
    shown: HashMap<String, Need>,
}

impl Gate {
    /// A gate that has shown nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The notice for `server` entering `need` (with the broker's message, e.g. "asks for scope
    /// mcp:admin"), unless one was already shown for this episode.
    pub fn offer(&mut self, server: &str, need: Need, message: Option<&str>) -> Option<Notice> {
        let before = self.shown.insert(server.to_owned(), need);
        if need == Need::Nothing || before == Some(need) {
            return None;
        }
        let (title, body) = match need {
            Need::SignIn => (
                format!("{server} needs you to sign in"),
                "An MCP client is waiting for it. Click to sign in.".to_owned(),
            ),
            Need::StepUp => (
                format!(
                    "{server} {}",
                    message
                        .filter(|m| !m.is_empty())
                        .unwrap_or("asks for more access")
                ),
                "Click to review and approve in your browser.".to_owned(),
            ),
            Need::Nothing => return None,
        };
        Some(Notice {
            server: server.to_owned(),
            title,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_per_server_per_episode() {
        let mut g = Gate::new();
        let first = g.offer("wiki", Need::SignIn, None).unwrap();
        assert_eq!(first.title, "wiki needs you to sign in");
        // Every further request of the waiting bridge: silence.
        assert_eq!(g.offer("wiki", Need::SignIn, None), None);
        assert_eq!(g.offer("wiki", Need::SignIn, None), None);
        // Another server is its own episode.
        assert!(g.offer("jira", Need::SignIn, None).is_some());
        // Fine again, then lost again: a new episode.
        assert_eq!(g.offer("wiki", Need::Nothing, None), None);
        assert!(g.offer("wiki", Need::SignIn, None).is_some());
    }

    #[test]
    fn step_up_names_the_scope() {
        let mut g = Gate::new();
        let n = g
            .offer("tools", Need::StepUp, Some("asks for scope mcp:admin"))
            .unwrap();
        assert_eq!(n.title, "tools asks for scope mcp:admin");
        assert_eq!(g.offer("tools", Need::StepUp, Some("x")), None);
        // A step-up after a sign-in request is news.
        assert!(g.offer("tools", Need::SignIn, None).is_some());
    }
}
