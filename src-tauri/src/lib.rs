//! Wiring of the tray app: plugins, state, tray. No logic lives here: the menu is
//! `companion_core::tray`, the configuration is read by `companion_store`.

mod tray;

/// Starts the app and runs until the user quits.
pub fn run() -> tauri::Result<()> {
    let app = tauri::Builder::default()
        .setup(|app| {
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
