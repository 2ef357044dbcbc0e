//! The MCP Companion tray app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(e) = companion_app::run() {
        eprintln!("mcp-companion-app: {e}");
        std::process::exit(1);
    }
}
