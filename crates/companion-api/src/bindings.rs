//! The TypeScript declarations of every IPC type, for `ui/src/bindings.ts`.
//!
//! A test compares the committed file with what this produces, so the UI can never drift from
//! the Rust types; `MCP_COMPANION_UPDATE_BINDINGS=1 cargo test bindings` rewrites it.

use ts_rs::TS;

use crate::types::*;

/// The whole `bindings.ts`.
pub fn typescript() -> String {
    let decls = [
        ServerState::decl(),
        RecentView::decl(),
        ServerView::decl(),
        Field::decl(),
        ServerDetails::decl(),
        NewAuth::decl(),
        HeaderValue::decl(),
        NewServer::decl(),
        RegistrationKind::decl(),
        Step::decl(),
        Discovered::decl(),
        TestReport::decl(),
        Settings::decl(),
        Route::decl(),
        ClientView::decl(),
        ErrorKind::decl(),
        ApiError::decl(),
    ];
    let mut out = String::from(
        "// Generated from crates/companion-api/src/types.rs by `cargo test bindings`.\n\
         // Do not edit: change the Rust types and regenerate.\n",
    );
    for d in decls {
        out.push_str("\nexport ");
        out.push_str(&d);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bindings_are_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui/src/bindings.ts");
        let want = super::typescript();
        if std::env::var_os("MCP_COMPANION_UPDATE_BINDINGS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "ui/src/bindings.ts is out of date: run `MCP_COMPANION_UPDATE_BINDINGS=1 cargo test bindings`"
        );
    }
}
