//! The thin I/O shell: find the home directory, read a client's file, back it up once, and
//! replace it atomically without clobbering another writer.
//!
//! [`update`] is optimistic: read, compute the new text with a pure function, read again just
//! before replacing the file, and if someone else (usually the client itself: Claude Code
//! rewrites `~/.claude.json` all the time) changed it in between, compute again from their
//! version. After [`ATTEMPTS`] tries it gives up rather than lose their change. A change
//! landing between that last read and the rename itself can still be lost; no portable lock
//! exists that every client honours.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use companion_store::atomic::write_atomic;

use crate::client::{Environment, Os};
use crate::error::ClientsError;
use crate::plan::Plan;

/// How many times [`update`] recomputes when another program changed the file under it.
pub const ATTEMPTS: usize = 3;

/// What a backup's file name adds to the original's: `<file>.mcp-companion-backup-<time>`.
pub const BACKUP_SUFFIX: &str = ".mcp-companion-backup-";

/// The directories of this process's user: `$HOME` (`%USERPROFILE%` on Windows),
/// `$XDG_CONFIG_HOME` when absolute, `%APPDATA%`.
pub fn environment() -> Result<Environment, ClientsError> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let os = Os::current();
    let home = if os == Os::Windows {
        var("USERPROFILE").or_else(|| var("HOME"))
    } else {
        var("HOME")
    }
    .ok_or(ClientsError::NoHome)?;
    Ok(Environment {
        os,
        home,
        xdg_config_home: var("XDG_CONFIG_HOME").filter(|p| p.is_absolute()),
        appdata: var("APPDATA"),
    })
}

/// The running binary's absolute path, symlinks resolved: what our entries run.
pub fn running_binary() -> Result<String, ClientsError> {
    let exe = std::env::current_exe()
        .and_then(fs::canonicalize)
        .map_err(|e| ClientsError::io("find", "the running mcp-companion binary", e))?;
    exe.to_str()
        .map(str::to_owned)
        .ok_or_else(|| ClientsError::NotText { path: exe.clone() })
}

/// Whether a command path from a client's file exists on this machine.
pub fn command_exists(path: &str) -> bool {
    Path::new(path).is_file()
}

/// The file's text, or `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<String>, ClientsError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ClientsError::NotText {
                path: path.to_owned(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientsError::io("read", path, e)),
    }
}

/// Our backups of `path`, oldest first.
pub fn backups(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}{BACKUP_SUFFIX}", name.to_string_lossy());
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The file as it was before MCP Companion first changed it, from the oldest backup.
pub fn original(path: &Path) -> Option<String> {
    backups(path)
        .first()
        .and_then(|b| fs::read_to_string(b).ok())
}

/// Where a backup of `path` made at `now` goes.
pub fn backup_path(path: &Path, now: SystemTime) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(BACKUP_SUFFIX);
    name.push(timestamp(now));
    PathBuf::from(name)
}

/// `YYYYMMDDTHHMMSS` in UTC (no time zone database here; UTC also sorts right across DST).
fn timestamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename), with the permissions
/// `mode_from` has. When `mode_from` does not exist this is
/// [`companion_store::atomic::write_atomic`] (0600, directories 0700): a client's file is
/// the user's, and may be read by group or others on purpose, so we keep whatever it had.
pub fn write_keeping_mode(path: &Path, bytes: &[u8], mode_from: &Path) -> io::Result<()> {
    let perms = match fs::metadata(mode_from) {
        Ok(m) => m.permissions(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return write_atomic(path, bytes),
        Err(e) => return Err(e),
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    // Left over by a crashed run with our process id: ours to delete.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(perms)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// How [`update`] runs.
#[derive(Clone, Copy)]
pub struct UpdateOptions<'a> {
    /// Compute and report, write nothing (`--diff`).
    pub dry_run: bool,
    /// The time for a backup's name.
    pub now: SystemTime,
    /// Called after the change is computed and before the file is read again to check that
    /// nobody changed it: lets tests play the other writer.
    pub before_replace: Option<&'a dyn Fn(&Path)>,
}

impl std::fmt::Debug for UpdateOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateOptions")
            .field("dry_run", &self.dry_run)
            .field("now", &self.now)
            .field("before_replace", &self.before_replace.is_some())
            .finish()
    }
}

impl UpdateOptions<'_> {
    /// Write for real, now.
    pub fn now() -> Self {
        Self {
            dry_run: false,
            now: SystemTime::now(),
            before_replace: None,
        }
    }
}

/// What [`update`] did.
#[derive(Debug, Clone)]
pub struct Update {
    /// The text the change was computed from (`None`: no file).
    pub before: Option<String>,
    /// The change.
    pub plan: Plan,
    /// Whether the file was replaced.
    pub written: bool,
    /// The backup made before this first change, if one was.
    pub backup: Option<PathBuf>,
}

/// Changes the file at `path` with `compute(current text, original text)`.
///
/// `original` is the oldest backup's text (see [`original`]). A file that fails to parse is
/// never written: `compute`'s error comes back untouched. Before the first change MCP Companion
/// ever makes to an existing file, a backup is kept beside it ([`backup_path`]). A symlinked
/// file is written through the link, so dotfile managers keep working.
pub fn update(
    path: &Path,
    opts: &UpdateOptions<'_>,
    compute: impl Fn(Option<&str>, Option<&str>) -> Result<Plan, ClientsError>,
) -> Result<Update, ClientsError> {
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|e| ClientsError::io("resolve", path, e))?
        }
        _ => path.to_owned(),
    };
    for _ in 0..ATTEMPTS {
        let before = read(&target)?;
        let plan = compute(before.as_deref(), original(path).as_deref())?;
        let Some(after) = plan.text.as_deref() else {
            return Ok(Update {
                before,
                plan,
                written: false,
                backup: None,
            });
        };
        if opts.dry_run {
            return Ok(Update {
                before,
                plan,
                written: false,
                backup: None,
            });
        }
        if let Some(hook) = opts.before_replace {
            hook(&target);
        }
        if read(&target)? != before {
            continue;
        }
        let backup = match &before {
            Some(text) if backups(path).is_empty() => {
                let b = backup_path(path, opts.now);
                write_keeping_mode(&b, text.as_bytes(), &target)
                    .map_err(|e| ClientsError::io("back up", &b, e))?;
                Some(b)
            }
            _ => None,
        };
        write_keeping_mode(&target, after.as_bytes(), &target)
            .map_err(|e| ClientsError::io("write", &target, e))?;
        return Ok(Update {
            before,
            plan,
            written: true,
            backup,
        });
    }
    Err(ClientsError::Contended {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |s| timestamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101T000000");
        assert_eq!(at(951_782_400), "20000229T000000");
        assert_eq!(at(1_798_761_599), "20261231T235959");
        assert_eq!(at(4_107_542_400), "21000301T000000");
    }

    #[test]
    fn backup_names() {
        let p = backup_path(Path::new("/h/.cursor/mcp.json"), UNIX_EPOCH);
        assert_eq!(
            p,
            Path::new("/h/.cursor/mcp.json.mcp-companion-backup-19700101T000000")
        );
    }

    #[cfg(unix)]
    #[test]
    fn writes_keep_the_files_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mcp.json");
        fs::write(&p, "{}").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        write_keeping_mode(&p, b"{ }", &p).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "{ }");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let fresh = d.path().join("new/mcp.json");
        write_keeping_mode(&fresh, b"{}", &fresh).unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            2,
            "no temp files left"
        );
    }
}
