//! The details pane's log view: the latest lines about one server from the broker's and the
//! bridges' log files, redacted once more on the way out.
//!
//! Tokens never reach the logs in the first place; the redaction here is a second line of
//! defence for anything that looks like a credential (a `Bearer …` value, a JWT, a
//! `token=`/`secret=` parameter).

use std::path::Path;

/// Longest stretch of a log file read from its end.
const TAIL_BYTES: u64 = 512 * 1024;

/// The last `max` lines mentioning `server` across the log files in `dir`, oldest first.
pub(crate) fn tail(dir: &Path, server: &str, max: usize) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("log") {
            continue;
        }
        let Ok(text) = read_tail(&path) else { continue };
        let file_is_about = path
            .file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|s| s.ends_with(&format!("-{server}")));
        lines.extend(
            text.lines()
                .filter(|l| file_is_about || mentions(l, server))
                .map(redact),
        );
    }
    // Lines start with an RFC 3339 timestamp: sorting merges the files in time order.
    lines.sort();
    let skip = lines.len().saturating_sub(max);
    lines.split_off(skip)
}

fn read_tail(path: &Path) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    // Drop a partial first line.
    Ok(if len > TAIL_BYTES {
        text.split_once('\n')
            .map_or(String::new(), |(_, r)| r.to_owned())
    } else {
        text
    })
}

/// Whether `line` is about `server` (a whole-word match, so "wiki" is not "wiki2").
fn mentions(line: &str, server: &str) -> bool {
    line.match_indices(server).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + server.len()..].chars().next();
        let word =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        !word(before) && !word(after)
    })
}

/// Replaces anything that looks like a credential with `[redacted]`.
pub(crate) fn redact(line: &str) -> String {
    let mut out = Vec::new();
    let mut after_bearer = false;
    for word in line.split(' ') {
        let lower = word.to_ascii_lowercase();
        let secret_param = ["token=", "secret=", "password=", "code=", "assertion="]
            .iter()
            .find_map(|k| lower.find(k).map(|i| i + k.len()));
        if after_bearer || looks_like_jwt(word) {
            out.push("[redacted]".to_owned());
        } else if let Some(i) = secret_param {
            out.push(format!("{}[redacted]", &word[..i]));
        } else {
            out.push(word.to_owned());
        }
        after_bearer = lower == "bearer" || lower.ends_with("bearer");
    }
    out.join(" ")
}

fn looks_like_jwt(word: &str) -> bool {
    let w =
        word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_' && c != '.');
    let parts: Vec<&str> = w.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("sent Authorization: Bearer abc.def to x"),
            "sent Authorization: Bearer [redacted] to x"
        );
        assert_eq!(
            redact("got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln back"),
            "got [redacted] back"
        );
        assert_eq!(
            redact("POST /token refresh_token=r1&client_secret=s2"),
            "POST /token refresh_token=[redacted]"
        );
        assert_eq!(redact("signed in to wiki"), "signed in to wiki");
    }

    #[test]
    fn only_lines_about_the_server() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("broker.log"),
            "2026-01-01T00:00:02Z INFO refreshed server=wiki\n\
             2026-01-01T00:00:03Z INFO refreshed server=wiki2\n\
             2026-01-01T00:00:05Z WARN wiki: token=abc rejected\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("connect-wiki.log"),
            "2026-01-01T00:00:04Z INFO connected\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "wiki\n").unwrap();
        assert_eq!(
            tail(dir.path(), "wiki", 10),
            [
                "2026-01-01T00:00:02Z INFO refreshed server=wiki",
                "2026-01-01T00:00:04Z INFO connected",
                "2026-01-01T00:00:05Z WARN wiki: token=[redacted] rejected",
            ]
        );
        assert_eq!(tail(dir.path(), "wiki", 1).len(), 1);
        assert!(tail(&dir.path().join("nope"), "wiki", 10).is_empty());
    }
}
