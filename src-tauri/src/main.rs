//! The MCP Companion window (`mcp-companion-app`); the tray is `mcp-companion-tray`.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // GDK on X11 opens an OpenGL context at start only to choose visuals, which loads the
    // system's GL driver into the tray process (with Mesa's software renderer, LLVM: about
    // 50 MB resident). The window's web content is composited by WebKit's own processes, so
    // GDK's GL is switched off, unless the user set GDK_GL.
    // This runs first, before any other thread exists.
    #[cfg(all(unix, not(target_os = "macos")))]
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
    }
    if let Err(e) = companion_app::run() {
        eprintln!("mcp-companion-app: {e}");
        std::process::exit(1);
    }
}
