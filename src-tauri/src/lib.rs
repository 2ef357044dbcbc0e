//! Wiring of the tray app: plugins, state, tray, window, deep links, notifications, and the
//! embedded credential broker. No logic lives here: the menu is `companion_core::tray`, links
//! are `companion_core::deeplink`, notifications are gated by `companion_core::notify`, and
//! everything the window asks is `companion_api`.

mod commands;
mod notify;
mod tray;

use std::sync::Mutex;

use companion_api::{Api, ApiError, Route, Settings};
use companion_core::deeplink::{self, DeepLink};
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};

const WINDOW: &str = "main";

/// What the commands share.
pub(crate) struct AppState {
    pub(crate) api: Api,
    /// Where the window should go when it next asks (set by the tray or a link).
    route: Mutex<Route>,
}

impl AppState {
    pub(crate) fn take_route(&self) -> Route {
        match self.route.lock() {
            Ok(mut r) => std::mem::replace(&mut *r, Route::List),
            Err(_) => Route::List,
        }
    }
}

/// Runs the credential broker inside the app (unless one already serves the user).
fn start_broker() {
    match companion_broker::BrokerOptions::for_user("tray") {
        Ok(opts) => {
            tauri::async_runtime::spawn(async move {
                if let Err(e) = companion_broker::serve_for_user(opts).await {
                    eprintln!("mcp-companion-app: the credential broker cannot start: {e}");
                }
            });
        }
        Err(e) => eprintln!("mcp-companion-app: the credential broker cannot start: {e}"),
    }
}

/// Opens the window on `route`, creating it if needed. The window exists only while open, so
/// the tray alone stays small.
pub(crate) fn open_window(app: &AppHandle, route: Route) {
    if let Some(state) = app.try_state::<AppState>() {
        if let Ok(mut r) = state.route.lock() {
            *r = route.clone();
        }
    }
    if let Some(w) = app.get_webview_window(WINDOW) {
        let _ = w.emit("route", route);
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, WINDOW, WebviewUrl::App("index.html".into()))
        .title("MCP Companion")
        .inner_size(960.0, 640.0)
        .min_inner_size(720.0, 480.0)
        .build();
    if let Err(e) = built {
        eprintln!("mcp-companion-app: cannot open the window: {e}");
    }
}

/// Acts on an `mcp-companion://` link, after validating it.
fn on_link(app: &AppHandle, link: &str) {
    match deeplink::parse(link) {
        Ok(DeepLink::Add { url, name }) => open_window(
            app,
            Route::Add {
                url: url.as_str().to_owned(),
                name: name.map(|n| n.as_str().to_owned()).unwrap_or_default(),
            },
        ),
        // The broker (in this app or a daemon) matches it to the sign-in waiting for it.
        Ok(DeepLink::Callback { url }) => tray::call(companion_broker::Op::Callback { url }),
        Err(e) => eprintln!("mcp-companion-app: ignored a link: {e}"),
    }
}

/// Saves the settings and applies the start-at-login switch.
pub(crate) fn apply_settings(app: &AppHandle, api: &Api, s: &Settings) -> Result<(), ApiError> {
    use tauri_plugin_autostart::ManagerExt;
    let autostart = app.autolaunch();
    let now = autostart.is_enabled().unwrap_or(false);
    let changed = match (s.autostart, now) {
        (true, false) => autostart.enable(),
        (false, true) => autostart.disable(),
        _ => Ok(()),
    };
    changed.map_err(|e| ApiError::failed(format!("cannot change start at login: {e}")))?;
    api.save_settings(s)
}

pub(crate) fn copy_text(app: &AppHandle, text: &str) -> Result<(), ApiError> {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    app.clipboard()
        .write_text(text)
        .map_err(|e| ApiError::failed(format!("cannot copy to the clipboard: {e}")))
}

/// Whether a WebDriver session drives this app (the window must be visible to be clicked).
fn under_automation() -> bool {
    std::env::var("TAURI_WEBVIEW_AUTOMATION").is_ok_and(|v| v == "true")
        || std::env::var_os("MCP_COMPANION_OPEN_WINDOW").is_some()
}

/// Starts the app and runs until the user quits.
pub fn run() -> tauri::Result<()> {
    let exe = std::env::current_exe().unwrap_or_default();
    let api = match Api::for_user(Api::cli_beside(&exe)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mcp-companion-app: {e}");
            return Ok(());
        }
    };
    let app = tauri::Builder::default()
        // First plugin: a second launch (a link, the menu entry) hands over to the running app
        // and exits; with "deep-link", its link reaches `on_open_url` below.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if !argv.iter().any(|a| a.starts_with(deeplink::SCHEME)) {
                open_window(app, Route::List);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .manage(AppState {
            api: api.clone(),
            route: Mutex::new(Route::List),
        })
        .invoke_handler(tauri::generate_handler![
            commands::servers,
            commands::details,
            commands::sign_in,
            commands::sign_out,
            commands::discover,
            commands::add_server,
            commands::update_server,
            commands::remove_server,
            commands::test_connection,
            commands::settings,
            commands::save_settings,
            commands::clients,
            commands::install_client,
            commands::uninstall_client,
            commands::take_route,
            commands::copy_client_config,
        ])
        .setup(move |app| {
            // Sign-ins started by the embedded broker open the browser through the opener
            // plugin (after the broker's own http(s)-only check).
            let handle = app.handle().clone();
            companion_auth::browser::set_opener(move |url| {
                use tauri_plugin_opener::OpenerExt;
                handle
                    .opener()
                    .open_url(url, None::<&str>)
                    .map_err(|e| e.to_string())
            });
            start_broker();
            setup_links(app.handle());
            // Keep the login item in step with the setting (on by default).
            let _ = apply_settings(app.handle(), &api, &api.settings());
            tray::create(app.handle())?;
            if under_automation() {
                open_window(app.handle(), Route::List);
            }
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|_app, event| {
        // The tray app lives on when its last window closes; only Quit ends it.
        if let tauri::RunEvent::ExitRequested {
            api, code: None, ..
        } = event
        {
            api.prevent_exit();
        }
    });
    Ok(())
}

fn setup_links(app: &AppHandle) {
    use tauri_plugin_deep_link::DeepLinkExt;
    // Linux has no install step that registers the scheme: do it at start (a .desktop file and
    // a MIME default in the user's own directories).
    #[cfg(all(unix, not(target_os = "macos")))]
    if let Err(e) = app.deep_link().register_all() {
        eprintln!("mcp-companion-app: cannot register mcp-companion:// links: {e}");
    }
    let handle = app.clone();
    app.deep_link().on_open_url(move |event| {
        for u in event.urls() {
            on_link(&handle, u.as_str());
        }
    });
    // Started by a link (no instance was running).
    if let Ok(Some(urls)) = app.deep_link().get_current() {
        for u in urls {
            on_link(app, u.as_str());
        }
    }
}
