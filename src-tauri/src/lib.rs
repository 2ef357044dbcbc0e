//! Wiring of the window process (`mcp-companion-app`): plugins, state, the window, deep links.
//! It lives only while its window is open. The tray, notifications and the credential broker
//! are `mcp-companion-tray` (no WebKit, so the tray stays small while idle); this process starts
//! it when no broker runs. No logic lives here: links are `companion_core::deeplink`, the
//! route and the login item are `companion_api::desktop`, everything the window asks is
//! `companion_api`.

mod commands;

use std::sync::Mutex;
use std::time::Duration;

use companion_api::desktop::{self, TRAY_PROGRAM};
use companion_api::{Api, ApiError, Route, Settings};
use companion_broker::{BrokerClient, Endpoint, Op, StartCommand};
use companion_core::deeplink::{self, DeepLink};
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};

const WINDOW: &str = "main";

/// What the commands share.
pub(crate) struct AppState {
    pub(crate) api: Api,
    /// Where the window should go when it next asks (set by the command line or a link).
    route: Mutex<Route>,
    /// `mcp-companion-tray`, beside this program: the login item starts it.
    tray: std::path::PathBuf,
}

impl AppState {
    pub(crate) fn take_route(&self) -> Route {
        match self.route.lock() {
            Ok(mut r) => std::mem::replace(&mut *r, Route::List),
            Err(_) => Route::List,
        }
    }
}

/// Opens the window on `route`, or brings the open one there.
fn open_window(app: &AppHandle, route: Route) {
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
        // Nothing else keeps this process useful.
        app.exit(1);
    }
}

/// What a link asks of the window, after validating it: a route to open, or nothing (a sign-in
/// callback goes to the broker).
fn on_link(link: &str) -> Option<Route> {
    match deeplink::parse(link) {
        Ok(DeepLink::Add { url, name }) => Some(Route::Add {
            url: url.as_str().to_owned(),
            name: name.map(|n| n.as_str().to_owned()).unwrap_or_default(),
        }),
        Ok(DeepLink::Callback { .. }) => None,
        Err(e) => {
            eprintln!("mcp-companion-app: ignored a link: {e}");
            None
        }
    }
}

/// Hands a sign-in callback to the broker (in the tray or a daemon), which matches it to the
/// sign-in waiting for its `state`. With no broker, nobody waits for it: it completes nothing.
async fn deliver_callback(link: &str) {
    let Ok(DeepLink::Callback { url }) = deeplink::parse(link) else {
        return;
    };
    let sent = match BrokerClient::connect(&Endpoint::for_user()).await {
        Ok(mut c) => c
            .call(Op::Callback { url })
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("the credential broker is not running ({e})")),
    };
    if let Err(e) = sent {
        eprintln!("mcp-companion-app: a sign-in link was not delivered: {e}");
    }
}

/// Acts on links handed to the running window (a second launch, through single instance).
fn on_links(app: &AppHandle, links: Vec<String>) {
    for l in &links {
        match deeplink::parse(l) {
            Ok(DeepLink::Callback { .. }) => {
                let l = l.clone();
                tauri::async_runtime::spawn(async move { deliver_callback(&l).await });
            }
            _ => {
                if let Some(r) = on_link(l) {
                    open_window(app, r);
                }
            }
        }
    }
}

/// Saves the settings and applies the start-at-login switch (the login item starts the tray).
pub(crate) fn apply_settings(s: &AppState, settings: &Settings) -> Result<(), ApiError> {
    desktop::set_start_at_login(settings.autostart, &s.tray)?;
    s.api.save_settings(settings)
}

pub(crate) fn copy_text(app: &AppHandle, text: &str) -> Result<(), ApiError> {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    app.clipboard()
        .write_text(text)
        .map_err(|e| ApiError::failed(format!("cannot copy to the clipboard: {e}")))
}

/// Makes sure a broker runs (starting the tray, which embeds it, when none does), then tells the
/// window to re-read the list after every broker event, and every 30 s so expiry countdowns
/// stay current.
async fn follow_broker(app: AppHandle, tray: std::path::PathBuf) {
    let start = StartCommand::tray(
        tray,
        companion_store::Paths::for_user()
            .map(|p| p.log_dir().join("broker.log"))
            .unwrap_or_else(|_| std::env::temp_dir().join("mcp-companion-broker.log")),
    );
    let mut started = false;
    let mut warned = false;
    loop {
        let connected = if started {
            BrokerClient::connect(&Endpoint::for_user())
                .await
                .map_err(|e| e.to_string())
        } else {
            // Once: after that, the tray's own restarts (or Quit) are the person's business.
            started = true;
            BrokerClient::connect_or_start(&Endpoint::for_user(), &start)
                .await
                .map_err(|e| e.to_string())
        };
        let mut events = match connected {
            Ok(c) => c,
            Err(e) => {
                // Once, not every second: the window shows the broker's absence itself.
                if !std::mem::replace(&mut warned, true) {
                    eprintln!("mcp-companion-app: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if events.subscribe().await.is_err() {
            continue;
        }
        warned = false;
        let _ = app.emit("servers-changed", ());
        // An event, or 30 s without one; `Ok(None)`: the broker went away.
        while !matches!(
            tokio::time::timeout(Duration::from_secs(30), events.next_event()).await,
            Ok(None)
        ) {
            let _ = app.emit("servers-changed", ());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Starts the window and runs until it closes.
pub fn run() -> tauri::Result<()> {
    let exe = std::env::current_exe().unwrap_or_default();
    let tray = desktop::beside(&exe, TRAY_PROGRAM);
    let api = match Api::for_user(Api::cli_beside(&exe)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mcp-companion-app: {e}");
            return Ok(());
        }
    };
    let argv: Vec<String> = std::env::args().collect();
    let app = tauri::Builder::default()
        // First plugin: a second launch (a link, the tray's menu) hands its arguments over to
        // the running window and exits; with "deep-link", its links reach `on_open_url` below.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if !argv.iter().any(|a| a.starts_with(deeplink::SCHEME)) {
                open_window(app, desktop::route_from_args(&argv));
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .manage(AppState {
            api,
            route: Mutex::new(desktop::route_from_args(&argv)),
            tray: tray.clone(),
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
            // Anything this process opens in a browser goes through the opener plugin (after
            // companion_auth's http(s)-only check). Sign-ins themselves run in the broker.
            let handle = app.handle().clone();
            companion_auth::browser::set_opener(move |url| {
                use tauri_plugin_opener::OpenerExt;
                handle
                    .opener()
                    .open_url(url, None::<&str>)
                    .map_err(|e| e.to_string())
            });
            use tauri_plugin_deep_link::DeepLinkExt;
            let handle = app.handle().clone();
            app.deep_link().on_open_url(move |event| {
                on_links(
                    &handle,
                    event.urls().iter().map(|u| u.to_string()).collect(),
                );
            });
            // Started by a link (no window was open)?
            let links: Vec<String> = match app.deep_link().get_current() {
                Ok(Some(urls)) => urls.iter().map(|u| u.to_string()).collect(),
                _ => Vec::new(),
            };
            let callbacks: Vec<String> = links
                .iter()
                .filter(|l| matches!(deeplink::parse(l), Ok(DeepLink::Callback { .. })))
                .cloned()
                .collect();
            if !links.is_empty() && callbacks.len() == links.len() {
                // Only a browser handing a sign-in back: deliver it, no window.
                let handle = app.handle().clone();
                tauri::async_runtime::spawn(async move {
                    for l in &callbacks {
                        deliver_callback(l).await;
                    }
                    handle.exit(0);
                });
                return Ok(());
            }
            let route = links
                .iter()
                .find_map(|l| on_link(l))
                .unwrap_or_else(|| desktop::route_from_args(&argv));
            for l in &callbacks {
                let l = l.clone();
                tauri::async_runtime::spawn(async move { deliver_callback(&l).await });
            }
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(follow_broker(handle, tray.clone()));
            open_window(app.handle(), route);
            Ok(())
        })
        .build(tauri::generate_context!())?;
    // The default: the process ends when its window closes.
    app.run(|_app, _event| {});
    Ok(())
}
