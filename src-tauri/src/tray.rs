//! Renders `companion_core::tray` and routes clicks to the broker. The menu follows the
//! broker's status events; every decision (labels, actions, icon) is made in the core.

use std::time::Duration;

use companion_broker::{BrokerClient, Endpoint, Op, Reply};
use companion_core::tray::{self, IconState, MenuEntry, ServerLine, TrayAction};
use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Wry};

const TRAY_ID: &str = "main";

fn icon(state: IconState) -> &'static [u8] {
    match state {
        IconState::Ok => include_bytes!("../../icons/tray-ok.png"),
        IconState::Attention => include_bytes!("../../icons/tray-attention.png"),
        IconState::Error => include_bytes!("../../icons/tray-error.png"),
    }
}

/// Builds the tray icon, then keeps its menu in step with the broker.
pub(crate) fn create(app: &AppHandle) -> tauri::Result<()> {
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
    let menu = build_menu(app, &tray::menu(Ok(&names)))?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(icon(IconState::Ok))?)
        .tooltip("MCP Companion")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_click(app, event.id().as_ref()))
        .build(app)?;
    let handle = app.clone();
    tauri::async_runtime::spawn(async move { follow_broker(handle).await });
    Ok(())
}

/// Shows the broker's view now and after every event; reconnects if the broker goes away.
async fn follow_broker(app: AppHandle) {
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
                    show(&app, Ok(lines));
                }
                Ok(_) => {}
                Err(e) if e.kind == companion_broker::ErrorKind::Config => {
                    show(&app, Err(e.message))
                }
                Err(_) => break,
            }
            // The window (if open) re-reads the list.
            let _ = app.emit("servers-changed", ());
            // Wake on an event, or every 30 s so expiry countdowns stay current.
            match tokio::time::timeout(Duration::from_secs(30), events.next_event()).await {
                Ok(Some(ev)) => {
                    let enabled = app
                        .try_state::<crate::AppState>()
                        .is_some_and(|s| s.api.settings().notifications);
                    crate::notify::on_event(&app, &mut gate, &ev, enabled);
                }
                Err(_) => {}
                Ok(None) => break,
            }
        }
    }
}

fn show(app: &AppHandle, lines: Result<Vec<ServerLine>, String>) {
    let handle = app.clone();
    let _ = app.run_on_main_thread(move || {
        let entries = match &lines {
            Ok(l) => tray::menu(Ok(l)),
            Err(e) => tray::menu(Err(e)),
        };
        let Some(t) = handle.tray_by_id(TRAY_ID) else {
            return;
        };
        if let Ok(menu) = build_menu(&handle, &entries) {
            let _ = t.set_menu(Some(menu));
        }
        let l = lines.as_deref().unwrap_or(&[]);
        if let Ok(img) = Image::from_bytes(icon(tray::icon(l))) {
            let _ = t.set_icon(Some(img));
        }
        let _ = t.set_tooltip(Some(tray::tooltip(l)));
    });
}

fn items(app: &AppHandle, entries: &[MenuEntry]) -> tauri::Result<Vec<Box<dyn IsMenuItem<Wry>>>> {
    let mut out: Vec<Box<dyn IsMenuItem<Wry>>> = Vec::with_capacity(entries.len());
    for e in entries {
        match e {
            MenuEntry::Item { id, label, enabled } => out.push(Box::new(MenuItem::with_id(
                app,
                id,
                label,
                *enabled,
                None::<&str>,
            )?)),
            MenuEntry::Separator => out.push(Box::new(PredefinedMenuItem::separator(app)?)),
            MenuEntry::Submenu {
                label,
                items: children,
            } => {
                let kids = items(app, children)?;
                let refs: Vec<&dyn IsMenuItem<Wry>> = kids.iter().map(AsRef::as_ref).collect();
                out.push(Box::new(Submenu::with_items(app, label, true, &refs)?));
            }
        }
    }
    Ok(out)
}

fn build_menu(app: &AppHandle, entries: &[MenuEntry]) -> tauri::Result<Menu<Wry>> {
    let all = items(app, entries)?;
    let refs: Vec<&dyn IsMenuItem<Wry>> = all.iter().map(AsRef::as_ref).collect();
    Menu::with_items(app, &refs)
}

fn on_click(app: &AppHandle, id: &str) {
    use companion_api::Route;
    match TrayAction::from_id(id) {
        Some(TrayAction::Quit) => app.exit(0),
        // The person clicked: only now may a browser open.
        Some(TrayAction::SignIn(server)) => sign_in(app, server),
        Some(TrayAction::SignOut(server)) => call(Op::SignOut { server }),
        Some(TrayAction::Details(name)) => crate::open_window(app, Route::Details { name }),
        Some(TrayAction::AddServer) => crate::open_window(
            app,
            Route::Add {
                url: String::new(),
                name: String::new(),
            },
        ),
        Some(TrayAction::Open) => crate::open_window(app, Route::List),
        Some(TrayAction::CopyClientConfig(name)) => {
            if let Some(s) = app.try_state::<crate::AppState>() {
                if let Err(e) = crate::copy_text(app, &s.api.client_config(&name)) {
                    eprintln!("mcp-companion-app: {e}");
                }
            }
        }
        None => {}
    }
}

/// Starts a sign-in (a person asked: from the menu or a notification).
pub(crate) fn sign_in(_app: &AppHandle, server: String) {
    call(Op::SignIn {
        server,
        headless: false,
    });
}

pub(crate) fn call(op: Op) {
    tauri::async_runtime::spawn(async move {
        if let Ok(mut c) = BrokerClient::connect(&Endpoint::for_user()).await {
            if let Err(e) = c.call(op).await {
                eprintln!("mcp-companion-app: {e}");
            }
        }
    });
}
