//! What the tray and the window share about their place on the desktop: where the other
//! program is, how the window is told which view to open, the login item, and the
//! `mcp-companion://` scheme handler.
//!
//! Two processes: `mcp-companion-tray` (tray icon, menu, notifications, the embedded broker; no
//! WebKit, so it stays small while idle) and `mcp-companion-app` (the window, started on demand
//! and gone when closed). Installers put them side by side, so each finds the other beside its
//! own executable.

use std::path::{Path, PathBuf};

use crate::types::{ApiError, Route};

/// The window program's file name (without the platform's executable suffix).
pub const APP_PROGRAM: &str = "mcp-companion-app";
/// The tray program's file name (without the platform's executable suffix).
pub const TRAY_PROGRAM: &str = "mcp-companion-tray";
/// The links both programs act on.
pub const SCHEME: &str = "mcp-companion";
/// The login item's name: the one the single-process app registered, so that its entry is
/// rewritten to start the tray rather than left behind.
const LOGIN_ITEM: &str = "MCP Companion";

/// The program called `name` beside `exe`, the way an installer lays them out.
pub fn beside(exe: &Path, name: &str) -> PathBuf {
    exe.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The arguments that make the window open on `route` (what the tray passes to
/// `mcp-companion-app`). The list needs none.
pub fn route_args(route: &Route) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |k: &str, v: &str| {
        out.push(k.to_owned());
        out.push(v.to_owned());
    };
    match route {
        Route::List => {}
        Route::Details { name } => {
            push("--route", "details");
            push("--name", name);
        }
        Route::Add { url, name } => {
            push("--route", "add");
            if !url.is_empty() {
                push("--url", url);
            }
            if !name.is_empty() {
                push("--name", name);
            }
        }
        Route::Settings => push("--route", "settings"),
        Route::Clients => push("--route", "clients"),
    }
    out
}

/// The route named by a window's command line (its own, or the one a second launch hands to the
/// running window). The first element is the program; anything not understood (a link, a
/// toolkit's option) is skipped, and a missing or unknown `--route` means the list.
pub fn route_from_args<S: AsRef<str>>(args: &[S]) -> Route {
    let mut route = None;
    let mut name = String::new();
    let mut url = String::new();
    let mut it = args.iter().skip(1).map(AsRef::as_ref);
    while let Some(a) = it.next() {
        let slot = match a {
            "--route" => &mut route,
            "--name" => {
                name = it.next().unwrap_or_default().to_owned();
                continue;
            }
            "--url" => {
                url = it.next().unwrap_or_default().to_owned();
                continue;
            }
            _ => continue,
        };
        *slot = it.next().map(str::to_owned);
    }
    match route.as_deref() {
        Some("details") if !name.is_empty() => Route::Details { name },
        Some("add") => Route::Add { url, name },
        Some("settings") => Route::Settings,
        Some("clients") => Route::Clients,
        _ => Route::List,
    }
}

/// `mcp-companion-tray --help`.
pub const TRAY_HELP: &str = "\
MCP Companion's tray: the tray icon and its menu, sign-in notifications, and the credential
broker that bridges (`mcp-companion connect`) get their tokens from. One runs per user.

Usage: mcp-companion-tray [--background]

Started again while a tray runs, it opens the MCP Companion window and exits.

Options:
      --background  Start the tray if none runs, and nothing else: with a tray already
                    running (or starting), exit at once without opening the window. The
                    login item, bridges and the window start the tray this way.
  -h, --help        Print this help
";

/// The tray's command line.
#[derive(Debug, PartialEq, Eq)]
pub enum TrayArgs {
    /// Run the tray; `background`: [`companion_broker::TRAY_BACKGROUND_ARG`] was given.
    Run {
        /// A start that wants the broker, not the window.
        background: bool,
    },
    /// Print [`TRAY_HELP`].
    Help,
}

impl TrayArgs {
    /// Parses the arguments after the program's name.
    pub fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Self, String> {
        let mut background = false;
        for a in args {
            match a.to_str() {
                Some("-h" | "--help") => return Ok(Self::Help),
                Some(companion_broker::TRAY_BACKGROUND_ARG) => background = true,
                _ => return Err(format!("unknown argument {}", a.to_string_lossy())),
            }
        }
        Ok(Self::Run { background })
    }
}

/// Makes the login item start `tray` in the background (or removes it): at login, a tray that
/// a bridge started first is left alone, with no window opened. Enabling always rewrites the
/// entry, so one left by an older layout (the single-process app, or a tray without
/// `--background`) is brought up to date.
pub fn set_start_at_login(enabled: bool, tray: &Path) -> Result<(), ApiError> {
    let what = |e: auto_launch::Error| {
        ApiError::failed(format!(
            "cannot change start at login ({e}); check that your autostart folder is writable"
        ))
    };
    let launcher = auto_launch::AutoLaunchBuilder::new()
        .set_app_name(LOGIN_ITEM)
        .set_app_path(&tray.display().to_string())
        .set_args(&[companion_broker::TRAY_BACKGROUND_ARG])
        .build()
        .map_err(what)?;
    if enabled {
        launcher.enable().map_err(what)
    } else if launcher.is_enabled().map_err(what)? {
        launcher.disable().map_err(what)
    } else {
        Ok(())
    }
}

/// The desktop entry's file name: the one tauri-plugin-deep-link wrote for the single-process
/// app, so that registration is replaced rather than doubled.
pub const HANDLER_ENTRY: &str = "mcp-companion-app-handler.desktop";

/// The desktop entry that makes `app` the handler of `mcp-companion://` links (Linux and the
/// BSDs: freedesktop.org desktop entries and MIME associations).
pub fn scheme_handler_entry(app: &Path) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nName=MCP Companion\nExec={} %u\nTerminal=false\n\
         MimeType=x-scheme-handler/{SCHEME};\nNoDisplay=true\n",
        exec_quote(&app.display().to_string())
    )
}

/// Quotes a path for a desktop entry's `Exec` key: a double-quoted argument in which `"`, `` ` ``,
/// `$` and `\` are backslash-escaped, then the string escaping of the file format (`\` doubled)
/// and `%` doubled (field codes).
fn exec_quote(path: &str) -> String {
    let mut quoted = String::from("\"");
    for c in path.chars() {
        match c {
            '"' | '`' | '$' => {
                quoted.push_str("\\\\");
                quoted.push(c);
            }
            '\\' => quoted.push_str("\\\\\\\\"),
            '%' => quoted.push_str("%%"),
            _ => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Registers `app` as the `mcp-companion://` handler for this user, as tauri-plugin-deep-link
/// does on Linux: a desktop entry in `$XDG_DATA_HOME/applications` (default
/// `~/.local/share/applications`), the MIME cache refreshed when `update-desktop-database` is
/// installed, and `xdg-mime default` to make it the default handler. There is no install step
/// on Linux that would do it, so the tray does it at every start (it is idempotent).
#[cfg(all(unix, not(target_os = "macos")))]
pub fn register_scheme_handler(app: &Path) -> Result<(), ApiError> {
    use std::process::Command;

    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| {
            ApiError::failed(
                "cannot register mcp-companion:// links: neither XDG_DATA_HOME nor HOME is set",
            )
        })?;
    let dir = data.join("applications");
    let file = dir.join(HANDLER_ENTRY);
    let entry = scheme_handler_entry(app);
    if std::fs::read_to_string(&file).ok().as_deref() != Some(entry.as_str()) {
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&file, &entry))
            .map_err(|e| {
                ApiError::failed(format!(
                    "cannot register mcp-companion:// links: cannot write {}: {e}",
                    file.display()
                ))
            })?;
    }
    // The cache is an optimisation some desktops use; without the tool, nothing is lost.
    match Command::new("update-desktop-database").arg(&dir).status() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ApiError::failed(format!(
                "cannot register mcp-companion:// links: update-desktop-database: {e}"
            )))
        }
        Ok(_) => {}
    }
    let mime = format!("x-scheme-handler/{SCHEME}");
    let status = Command::new("xdg-mime")
        .args(["default", HANDLER_ENTRY, &mime])
        .status()
        .map_err(|e| {
            ApiError::failed(format!(
                "cannot register mcp-companion:// links: cannot run xdg-mime ({e}); install xdg-utils"
            ))
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(ApiError::failed(format!(
            "cannot register mcp-companion:// links: `xdg-mime default {HANDLER_ENTRY} {mime}` failed ({status})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_entry_runs_the_app_with_the_link() {
        let e = scheme_handler_entry(Path::new("/opt/mcp companion/bin/mcp-companion-app"));
        assert_eq!(
            e,
            "[Desktop Entry]\nType=Application\nName=MCP Companion\n\
             Exec=\"/opt/mcp companion/bin/mcp-companion-app\" %u\nTerminal=false\n\
             MimeType=x-scheme-handler/mcp-companion;\nNoDisplay=true\n"
        );
        // Characters the Exec syntax reserves are escaped, not interpreted.
        let odd = scheme_handler_entry(Path::new("/h/a$b\"c`d\\e%f/app"));
        assert!(
            odd.contains("Exec=\"/h/a\\\\$b\\\\\"c\\\\`d\\\\\\\\e%%f/app\" %u\n"),
            "{odd}"
        );
    }

    #[test]
    fn routes_survive_the_command_line() {
        for r in [
            Route::List,
            Route::Details {
                name: "wiki".into(),
            },
            Route::Add {
                url: String::new(),
                name: String::new(),
            },
            Route::Add {
                url: "https://wiki.example.com/mcp".into(),
                name: "wiki".into(),
            },
            Route::Settings,
            Route::Clients,
        ] {
            let mut argv = vec!["/usr/bin/mcp-companion-app".to_owned()];
            argv.extend(route_args(&r));
            assert_eq!(route_from_args(&argv), r, "{argv:?}");
        }
    }

    #[test]
    fn unknown_arguments_mean_the_list() {
        let r = |a: &[&str]| route_from_args(a);
        assert_eq!(r(&["app"]), Route::List);
        assert_eq!(r(&["app", "mcp-companion://add?url=x"]), Route::List);
        assert_eq!(r(&["app", "--route", "nowhere"]), Route::List);
        assert_eq!(r(&["app", "--route", "details"]), Route::List, "no name");
        assert_eq!(r(&["app", "--route"]), Route::List);
        assert_eq!(
            r(&["app", "--sync", "--route", "details", "--name", "x"]),
            Route::Details { name: "x".into() }
        );
    }

    #[test]
    fn the_tray_takes_background_and_help_and_refuses_the_rest() {
        let parse = |a: &[&str]| TrayArgs::parse(a.iter().map(std::ffi::OsString::from));
        assert_eq!(parse(&[]), Ok(TrayArgs::Run { background: false }));
        assert_eq!(
            parse(&["--background"]),
            Ok(TrayArgs::Run { background: true })
        );
        assert_eq!(parse(&["--background", "-h"]), Ok(TrayArgs::Help));
        assert_eq!(parse(&["--help"]), Ok(TrayArgs::Help));
        assert_eq!(
            parse(&["--backgrund"]),
            Err("unknown argument --backgrund".to_owned())
        );
        assert!(TRAY_HELP.contains(companion_broker::TRAY_BACKGROUND_ARG));
    }

    #[test]
    fn programs_are_found_beside_each_other() {
        assert_eq!(
            beside(Path::new("/opt/mc/mcp-companion-tray"), APP_PROGRAM),
            Path::new(&format!(
                "/opt/mc/mcp-companion-app{}",
                std::env::consts::EXE_SUFFIX
            ))
        );
    }
}
