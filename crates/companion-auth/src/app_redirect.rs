//! Sign-ins that come back through the app's own URL scheme (`mcp-companion://oauth/callback`)
//! instead of a loopback listener: for authorization servers whose pre-registered native clients
//! accept one fixed redirect URI.
//!
//! The browser hands the link to the operating system, which hands it to `mcp-companion-app`
//! (a deep link); that gives it to the broker, and [`AppRedirects::deliver`] passes it to the sign-in
//! waiting for that `state`. Anything else (no `state`, a `state` nobody waits for) is refused:
//! a link from a web page cannot complete a sign-in it did not start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::AuthError;

/// Sign-ins waiting for their redirect, by `state`.
#[derive(Debug, Default)]
pub struct AppRedirects {
    waiting: Mutex<HashMap<String, oneshot::Sender<String>>>,
}

/// Why a link was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// The link carries no `state`.
    #[error("the sign-in link has no state parameter")]
    NoState,
    /// No sign-in waits for this `state` (finished, timed out, or never started here).
    #[error("no sign-in is waiting for this link; start the sign-in again from MCP Companion")]
    NotWaiting,
}

impl AppRedirects {
    /// An empty registry, shared between the broker and its sign-ins.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<String>>> {
        match self.waiting.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Registers a sign-in waiting for `state`.
    pub(crate) fn expect(self: &Arc<Self>, state: &str) -> Waiter {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(state.to_owned(), tx);
        Waiter {
            owner: self.clone(),
            state: state.to_owned(),
            rx: Some(rx),
        }
    }

    /// Hands `link`'s query to the sign-in waiting for its `state`.
    pub fn deliver(&self, link: &str) -> Result<(), DeliverError> {
        let query = link.split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or_default();
        let state = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .ok_or(DeliverError::NoState)?;
        let tx = self.lock().remove(&state).ok_or(DeliverError::NotWaiting)?;
        tx.send(query.to_owned())
            .map_err(|_| DeliverError::NotWaiting)
    }
}

/// One sign-in's wait; unregisters itself when dropped.
#[derive(Debug)]
pub(crate) struct Waiter {
    owner: Arc<AppRedirects>,
    state: String,
    rx: Option<oneshot::Receiver<String>>,
}

impl Waiter {
    /// The callback's query string, or a timeout after `wait`.
    pub(crate) async fn wait(mut self, wait: Duration) -> Result<String, AuthError> {
        let Some(rx) = self.rx.take() else {
            return Err(AuthError::CallbackTimeout(wait.as_secs()));
        };
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(q)) => Ok(q),
            _ => Err(AuthError::CallbackTimeout(wait.as_secs())),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.owner.lock().remove(&self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_link_reaches_only_the_sign_in_that_waits_for_its_state() {
        let r = AppRedirects::new();
        let w = r.expect("s1");
        assert_eq!(
            r.deliver("mcp-companion://oauth/callback?code=c"),
            Err(DeliverError::NoState)
        );
        assert_eq!(
            r.deliver("mcp-companion://oauth/callback?code=c&state=other"),
            Err(DeliverError::NotWaiting)
        );
        r.deliver("mcp-companion://oauth/callback?code=c&state=s1")
            .unwrap();
        assert_eq!(
            w.wait(Duration::from_secs(1)).await.unwrap(),
            "code=c&state=s1"
        );
        // Delivered once; a replay finds nobody.
        assert_eq!(
            r.deliver("mcp-companion://oauth/callback?code=c&state=s1"),
            Err(DeliverError::NotWaiting)
        );
    }

    #[tokio::test]
    async fn a_finished_wait_unregisters() {
        let r = AppRedirects::new();
        let w = r.expect("s2");
        assert!(matches!(
            w.wait(Duration::from_millis(10)).await,
            Err(AuthError::CallbackTimeout(_))
        ));
        assert_eq!(
            r.deliver("mcp-companion://oauth/callback?state=s2"),
            Err(DeliverError::NotWaiting)
        );
    }
}
