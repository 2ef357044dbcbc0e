//! Start-up and the threads: single instance, broker, login item, scheme handler, tray, GTK.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use companion_api::desktop::{self, APP_PROGRAM};
use companion_api::{Api, Route};
use companion_broker::{BrokerClient, Endpoint, Op};
use gtk::glib;

/// What click handlers and the broker follower share.
#[derive(Debug, Clone)]
pub(crate) struct Tray {
    pub(crate) api: Api,
    pub(crate) rt: tokio::runtime::Handle,
    /// `mcp-companion-app`, beside this program.
    app: PathBuf,
}

impl Tray {
    /// Starts a sign-in (a person asked: from the menu or a notification).
    pub(crate) fn sign_in(&self, server: String) {
        self.call(Op::SignIn {
            server,
            headless: false,
        });
    }

    /// Sends `op` to the broker in the background; failures go to stderr (the broker reports
    /// a sign-in's outcome as an event, which the menu shows).
    pub(crate) fn call(&self, op: Op) {
        self.rt.spawn(async move {
            match BrokerClient::connect(&Endpoint::for_user()).await {
                Ok(mut c) => {
                    if let Err(e) = c.call(op).await {
                        eprintln!("mcp-companion-tray: {e}");
                    }
                }
                Err(e) => {
                    eprintln!("mcp-companion-tray: the credential broker is not running: {e}")
                }
            }
        });
    }

    /// Opens the window on `route`: starts `mcp-companion-app`, whose single-instance plugin
    /// hands a second launch (with its arguments) to the window already open.
    pub(crate) fn open_window(&self, route: &Route) {
        open_window(&self.app, route);
    }
}

fn open_window(app: &Path, route: &Route) {
    let spawned = Command::new(app)
        .args(desktop::route_args(route))
        .stdin(Stdio::null())
        .spawn();
    match spawned {
        // Reaped in the background, so no zombie is left when the window closes.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => eprintln!(
            "mcp-companion-tray: cannot open the window: cannot start {} ({e}); \
             reinstall MCP Companion so that it sits beside this program",
            app.display()
        ),
    }
}

/// Holds an exclusive `flock` on `tray.lock` in the broker's private directory for as long as
/// the returned file lives: one tray per user. `None` when another tray holds it.
fn single_instance(ep: &Endpoint) -> Result<Option<File>, String> {
    let dir = ep.dir();
    companion_store::atomic::create_private_dir(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("tray.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// Runs the tray until Quit. `background`: a start that wants the broker, not the window (see
/// [`companion_broker::TRAY_BACKGROUND_ARG`]).
pub(crate) fn run(background: bool) -> Result<(), String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let app = desktop::beside(&exe, APP_PROGRAM);
    let endpoint = Endpoint::for_user();
    // Kept open until the process ends: the lock is released with it.
    let Some(_lock) = single_instance(&endpoint)? else {
        // A second launch. In the background (a bridge, the window or the login item wanted a
        // broker, and the running tray's is there or about to be): nothing to do. Otherwise a
        // person started it (a desktop's menu entry, a terminal) and wants MCP Companion, so
        // show its window, and leave the running tray be.
        if !background {
            open_window_detached(&app);
        }
        return Ok(());
    };
    let api = Api::for_user(Api::cli_beside(&exe)).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mcp-companion-tray")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // The broker, unless one already serves the user (a daemon): then the tray follows that
    // one. Sign-ins open the browser through companion_auth's default opener.
    match companion_broker::BrokerOptions::for_user("tray") {
        Ok(opts) => drop(rt.spawn(async move {
            if let Err(e) = companion_broker::serve_for_user(opts).await {
                eprintln!("mcp-companion-tray: the credential broker cannot start: {e}");
            }
        })),
        Err(e) => eprintln!("mcp-companion-tray: the credential broker cannot start: {e}"),
    }
    // Linux has no install step that registers the scheme: do it at every start.
    if let Err(e) = desktop::register_scheme_handler(&app) {
        eprintln!("mcp-companion-tray: {e}");
    }
    // Keep the login item in step with the setting (on by default).
    if let Err(e) = desktop::set_start_at_login(api.settings().autostart, &exe) {
        eprintln!("mcp-companion-tray: {e}");
    }
    gtk::init().map_err(|e| {
        format!("cannot start GTK ({e}); the tray needs a graphical session (DISPLAY)")
    })?;
    let tray = Tray {
        api,
        rt: rt.handle().clone(),
        app,
    };
    crate::menu::create(&tray)?;
    let follower = tray.clone();
    rt.spawn(async move { crate::menu::follow_broker(follower).await });
    gtk::main();
    // Quit was a menu click: its D-Bus reply (and any other queued message) is still in GDBus's
    // queue, and a process that exits without sending it leaves the caller with "recipient
    // disconnected without replying". Flush the session connection first.
    if let Ok(bus) = gtk::gio::bus_get_sync(gtk::gio::BusType::Session, gtk::gio::Cancellable::NONE)
    {
        let _ = bus.flush_sync(gtk::gio::Cancellable::NONE);
    }
    // Quit: in-flight work (a keychain write, a sign-in) gets a moment, then everything ends.
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

/// Starts the window and returns without waiting for it (this process is about to exit).
fn open_window_detached(app: &Path) {
    use std::os::unix::process::CommandExt;
    let spawned = Command::new(app)
        .stdin(Stdio::null())
        // Its own process group: it outlives this short-lived launcher and its terminal.
        .process_group(0)
        .spawn();
    if let Err(e) = spawned {
        eprintln!(
            "mcp-companion-tray: MCP Companion is already running; cannot open its window \
             ({}: {e})",
            app.display()
        );
    }
}

/// Runs `f` on the GTK main thread (tray-icon, muda and the clipboard live there).
pub(crate) fn on_main_thread(f: impl FnOnce() + Send + 'static) {
    glib::MainContext::default().invoke(f);
}
