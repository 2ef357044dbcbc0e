//! Desktop notifications for broker events: which ones and how often is
//! `companion_core::notify::Gate`; a click (a person) starts the sign-in. The app never opens
//! a browser from a background event by itself.

use companion_broker::{Event, State};
use companion_core::notify::{Gate, Need, Notice};

use crate::run::Tray;

/// Offers `ev` to the gate and shows what passes, unless notifications are switched off.
pub(crate) fn on_event(t: &Tray, gate: &mut Gate, ev: &Event, enabled: bool) {
    let need = match ev.state {
        State::NeedsSignIn => Need::SignIn,
        State::StepUpRequired => Need::StepUp,
        _ => Need::Nothing,
    };
    if let Some(n) = gate.offer(&ev.server, need, ev.message.as_deref()) {
        if enabled {
            show(t, n);
        }
    }
}

fn show(t: &Tray, n: Notice) {
    let t = t.clone();
    // `wait_for_action` blocks until the notification is clicked or closed: its own thread.
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .appname("MCP Companion")
            .summary(&n.title)
            .body(&n.body)
            .action("default", "Sign in")
            .show();
        match shown {
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default" {
                    t.sign_in(n.server.clone());
                }
            }),
            Err(e) => eprintln!("mcp-companion-tray: cannot show a notification: {e}"),
        }
    });
}
