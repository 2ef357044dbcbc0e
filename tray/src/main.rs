//! The MCP Companion tray (`mcp-companion-tray`): the tray icon and its menu, notifications,
//! the login item, the `mcp-companion://` scheme registration and the embedded credential
//! broker. It links no WebKit, so it stays small while idle; the window is the separate program
//! `mcp-companion-app`, started beside it on demand.
//!
//! Threads: GTK and its main loop on the main thread (tray-icon and muda need it there); the
//! broker, the broker-event follower and clicks' broker calls on a tokio runtime of their own.
//! No logic lives here: the menu is `companion_core::tray`, notifications are gated by
//! `companion_core::notify`, settings and client configs come from `companion_api`.

#[cfg(all(unix, not(target_os = "macos")))]
mod menu;
#[cfg(all(unix, not(target_os = "macos")))]
mod notify;
#[cfg(all(unix, not(target_os = "macos")))]
mod run;

#[cfg(all(unix, not(target_os = "macos")))]
fn main() {
    use companion_api::desktop::{TrayArgs, TRAY_HELP};
    // GDK on X11 opens an OpenGL context at start only to choose visuals, which loads the
    // system's GL driver into the tray process (with Mesa's software renderer, LLVM: about
    // 50 MB resident). The tray draws no GL, so GDK's GL is switched off, unless the user set
    // GDK_GL. This runs first, before any other thread exists.
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
    }
    let background = match TrayArgs::parse(std::env::args_os().skip(1)) {
        Ok(TrayArgs::Help) => {
            let _ = std::io::Write::write_all(&mut std::io::stdout(), TRAY_HELP.as_bytes());
            return;
        }
        Ok(TrayArgs::Run { background }) => background,
        Err(e) => {
            eprintln!("mcp-companion-tray: {e}\n\n{TRAY_HELP}");
            std::process::exit(2);
        }
    };
    std::process::exit(match run::run(background) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mcp-companion-tray: {e}");
            1
        }
    });
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn main() {
    eprintln!(
        "mcp-companion-tray: this tray is built for Linux desktops (GTK); on this system use \
         `mcp-companion daemon` for the broker"
    );
    std::process::exit(1);
}
