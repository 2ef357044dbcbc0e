//! Renders `companion_core::tray` with tray-icon and muda, and routes clicks. The menu follows
//! the broker's status events; every decision (labels, actions, icon) is made in the core.

use std::cell::RefCell;
use std::time::Duration;

use companion_api::Route;
use companion_broker::{BrokerClient, Endpoint, Op, Reply};
use companion_core::tray::{self, IconState, MenuEntry, ServerLine, TrayAction};
use tray_icon::menu::{IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use crate::run::{on_main_thread, Tray};

thread_local! {
    /// The tray icon: GTK objects live on the main thread, and so does this.
    static ICON: RefCell<Option<TrayIcon>> = const { RefCell::new(None) };
    /// Kept while the tray runs, so the copied text stays available to paste (on X11 the
    /// owner of a selection serves it).
    static CLIPBOARD: RefCell<Option<arboard::Clipboard>> = const { RefCell::new(None) };
    /// What the tray shows now: a status that changes nothing (most 30 s refreshes) leaves the
    /// published menu and icon alone instead of rebuilding them.
    static SHOWN: RefCell<Option<(Vec<MenuEntry>, IconState)>> = const { RefCell::new(None) };
}

fn png(state: IconState) -> &'static [u8] {
    match state {
        IconState::Ok => include_bytes!("../../icons/tray-ok.png"),
        IconState::Attention => include_bytes!("../../icons/tray-attention.png"),
        IconState::Error => include_bytes!("../../icons/tray-error.png"),
    }
}

/// Decodes one of the icons above (8-bit RGBA PNGs, checked at build time by being ours).
fn icon(state: IconState) -> Result<Icon, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot load the tray icon {state:?}: {e}");
    let mut reader = png::Decoder::new(std::io::Cursor::new(png(state)))
        .read_info()
        .map_err(|e| fail(&e))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| fail(&"the image is too large"))?;
    let mut rgba = vec![0; size];
    let info = reader.next_frame(&mut rgba).map_err(|e| fail(&e))?;
    rgba.truncate(info.buffer_size());
    Icon::from_rgba(rgba, info.width, info.height).map_err(|e| fail(&e))
}

/// Builds the tray icon on the main thread and routes menu clicks.
pub(crate) fn create(t: &Tray) -> Result<(), String> {
    // Until the broker answers (milliseconds), show the configured names as "Checking…".
    let names: Vec<ServerLine> = companion_store::Paths::for_user()
        .ok()
        .and_then(|p| companion_store::ConfigStore::new(&p).load().ok())
        .map(|l| {
            l.config
                .names()
                .map(|n| ServerLine {
                    name: n.to_owned(),
                    health: tray::Health::Unknown,
                })
                .collect()
        })
        .unwrap_or_default();
    let menu = build_menu(&tray::menu(Ok(&names)))
        .map_err(|e| format!("cannot build the tray menu: {e}"))?;
    let built = TrayIconBuilder::new()
        .with_id("main")
        .with_icon(icon(IconState::Ok)?)
        .with_tooltip("MCP Companion")
        .with_menu(Box::new(menu))
        .with_menu_on_left_click(true)
        .build()
        .map_err(|e| format!("cannot show the tray icon: {e}"))?;
    ICON.with(|i| *i.borrow_mut() = Some(built));
    let t = t.clone();
    MenuEvent::set_event_handler(Some(move |e: MenuEvent| on_click(&t, e.id().as_ref())));
    Ok(())
}

/// Shows the broker's view now and after every event; reconnects if the broker goes away.
pub(crate) async fn follow_broker(t: Tray) {
    loop {
        let (Ok(mut calls), Ok(mut events)) = (
            BrokerClient::connect(&Endpoint::for_user()).await,
            BrokerClient::connect(&Endpoint::for_user()).await,
        ) else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        if events.subscribe().await.is_err() {
            continue;
        }
        let mut gate = companion_core::notify::Gate::new();
        loop {
            match calls.call(Op::Status).await {
                Ok(Reply::Status { servers }) => {
                    let lines: Vec<ServerLine> = servers
                        .iter()
                        .map(companion_broker::ServerStatus::tray_line)
                        .collect();
                    on_main_thread(move || show(Ok(lines)));
                }
                Ok(_) => {}
                Err(e) if e.kind == companion_broker::ErrorKind::Config => {
                    on_main_thread(move || show(Err(e.message)));
                }
                Err(_) => break,
            }
            // Wake on an event, or every 30 s so expiry countdowns stay current.
            match tokio::time::timeout(Duration::from_secs(30), events.next_event()).await {
                Ok(Some(ev)) => {
                    let enabled = t.api.settings().notifications;
                    crate::notify::on_event(&t, &mut gate, &ev, enabled);
                }
                Err(_) => {}
                Ok(None) => break,
            }
        }
    }
}

fn show(lines: Result<Vec<ServerLine>, String>) {
    let entries = match &lines {
        Ok(l) => tray::menu(Ok(l)),
        Err(e) => tray::menu(Err(e)),
    };
    let l = lines.as_deref().unwrap_or(&[]);
    let state = tray::icon(l);
    let (same_menu, same_icon) = SHOWN.with(|s| match &*s.borrow() {
        Some((e, i)) => (*e == entries, *i == state),
        None => (false, false),
    });
    ICON.with(|i| {
        let Some(t) = &*i.borrow() else {
            return;
        };
        if !same_menu {
            match build_menu(&entries) {
                Ok(menu) => t.set_menu(Some(Box::new(menu))),
                Err(e) => eprintln!("mcp-companion-tray: cannot update the tray menu: {e}"),
            }
        }
        if !same_icon {
            if let Ok(img) = icon(state) {
                let _ = t.set_icon(Some(img));
            }
        }
        let _ = t.set_tooltip(Some(tray::tooltip(l)));
    });
    SHOWN.with(|s| *s.borrow_mut() = Some((entries, state)));
}

fn items(entries: &[MenuEntry]) -> tray_icon::menu::Result<Vec<Box<dyn IsMenuItem>>> {
    let mut out: Vec<Box<dyn IsMenuItem>> = Vec::with_capacity(entries.len());
    for e in entries {
        match e {
            MenuEntry::Item { id, label, enabled } => {
                out.push(Box::new(MenuItem::with_id(id, label, *enabled, None)));
            }
            MenuEntry::Separator => out.push(Box::new(PredefinedMenuItem::separator())),
            MenuEntry::Submenu {
                label,
                items: children,
            } => {
                let kids = items(children)?;
                let refs: Vec<&dyn IsMenuItem> = kids.iter().map(AsRef::as_ref).collect();
                out.push(Box::new(Submenu::with_items(label, true, &refs)?));
            }
        }
    }
    Ok(out)
}

fn build_menu(entries: &[MenuEntry]) -> tray_icon::menu::Result<Menu> {
    let all = items(entries)?;
    let refs: Vec<&dyn IsMenuItem> = all.iter().map(AsRef::as_ref).collect();
    Menu::with_items(&refs)
}

fn on_click(t: &Tray, id: &str) {
    match TrayAction::from_id(id) {
        Some(TrayAction::Quit) => on_main_thread(gtk::main_quit),
        // The person clicked: only now may a browser open.
        Some(TrayAction::SignIn(server)) => t.sign_in(server),
        Some(TrayAction::SignOut(server)) => t.call(Op::SignOut { server }),
        Some(TrayAction::Details(name)) => t.open_window(&Route::Details { name }),
        Some(TrayAction::AddServer) => t.open_window(&Route::Add {
            url: String::new(),
            name: String::new(),
        }),
        Some(TrayAction::Open) => t.open_window(&Route::List),
        Some(TrayAction::CopyClientConfig(name)) => {
            let text = t.api.client_config(&name);
            on_main_thread(move || {
                if let Err(e) = copy(&text) {
                    eprintln!("mcp-companion-tray: {e}");
                }
            });
        }
        None => {}
    }
}

fn copy(text: &str) -> Result<(), String> {
    CLIPBOARD.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(
                arboard::Clipboard::new()
                    .map_err(|e| format!("cannot copy to the clipboard: {e}"))?,
            );
        }
        match c.as_mut() {
            Some(cb) => cb
                .set_text(text)
                .map_err(|e| format!("cannot copy to the clipboard: {e}")),
            None => Err("cannot copy to the clipboard".to_owned()),
        }
    })
}
