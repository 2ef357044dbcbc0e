//! A private desktop's default browser: tests point `x-scheme-handler/http(s)` at a script, so
//! `xdg-open URL` (what the app and `open` do) runs it, as a real desktop runs its browser.

use std::path::Path;

/// Writes `home/browser.sh` with `body` (`$1` is the URL), a desktop entry for it in
/// `home/data/applications`, and `home/config/mimeapps.list` making it the default browser.
/// `XDG_DATA_HOME` and `XDG_CONFIG_HOME` must be `home/data` and `home/config`.
pub fn install_browser(home: &Path, body: &str) {
    let browser = home.join("browser.sh");
    std::fs::write(&browser, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(home.join("data/applications")).unwrap();
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(
        home.join("data/applications/test-browser.desktop"),
        format!(
            "[Desktop Entry]\nType=Application\nName=Test browser\nExec={} %u\nNoDisplay=true\n\
             MimeType=x-scheme-handler/http;x-scheme-handler/https;\n",
            browser.display()
        ),
    )
    .unwrap();
    std::fs::write(
        home.join("config/mimeapps.list"),
        "[Default Applications]\nx-scheme-handler/http=test-browser.desktop\n\
         x-scheme-handler/https=test-browser.desktop\n",
    )
    .unwrap();
}
