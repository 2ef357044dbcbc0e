//! Renders `companion_core::tray::menu` and routes clicks back to it.

use companion_core::tray::{self, MenuEntry, TrayAction};
use companion_store::{ConfigStore, Paths};
use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Wry};

const TRAY_ID: &str = "main";

/// Builds the tray icon and its menu from the user's configuration.
pub(crate) fn create(app: &AppHandle) -> tauri::Result<()> {
    let menu = build_menu(app, &load_menu())?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(include_bytes!(
            "../../icons/tray-ok.png"
        ))?)
        .tooltip("MCP Companion")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_click(app, event.id().as_ref()))
        .build(app)?;
    Ok(())
}

fn load_menu() -> Vec<MenuEntry> {
    let loaded = Paths::for_user()
        .map_err(|e| e.to_string())
        .and_then(|p| ConfigStore::new(&p).load().map_err(|e| e.to_string()));
    match loaded {
        Ok(l) => tray::menu(Ok(&l.config)),
        Err(e) => tray::menu(Err(&e)),
    }
}

fn build_menu(app: &AppHandle, entries: &[MenuEntry]) -> tauri::Result<Menu<Wry>> {
    let mut items: Vec<Box<dyn IsMenuItem<Wry>>> = Vec::with_capacity(entries.len());
    for e in entries {
        match e {
            MenuEntry::Item { id, label, enabled } => {
                items.push(Box::new(MenuItem::with_id(
                    app,
                    id,
                    label,
                    *enabled,
                    None::<&str>,
                )?));
            }
            MenuEntry::Separator => items.push(Box::new(PredefinedMenuItem::separator(app)?)),
        }
    }
    let refs: Vec<&dyn IsMenuItem<Wry>> = items.iter().map(AsRef::as_ref).collect();
    Menu::with_items(app, &refs)
}

fn on_click(app: &AppHandle, id: &str) {
    match TrayAction::from_id(id) {
        Some(TrayAction::Quit) => app.exit(0),
        Some(TrayAction::Server(_)) | None => {}
    }
}
