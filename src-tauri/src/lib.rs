//! Wiring of the tray app: plugins, state, tray, and the embedded credential broker. No logic
//! lives here: the menu is `companion_core::tray`, the configuration is read by
//! `companion_store`, the broker is `companion_broker`.

mod tray;

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

/// Starts the app and runs until the user quits.
pub fn run() -> tauri::Result<()> {
    let app = tauri::Builder::default()
        // First plugin: a second launch hands over to the running app and exits.
        .plugin(tauri_plugin_single_instance::init(|_app, _argv, _cwd| {}))
        .setup(|app| {
            start_broker();
            tray::create(app.handle())?;
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
