//! Format-preserving edits of TOML (Codex's `config.toml`) with `toml_edit`.
//!
//! `toml_edit` keeps comments, order and spacing of everything it parsed; a new
//! `[mcp_servers.NAME]` table goes right after the other `mcp_servers` tables, and removing it
//! gives back the original bytes. A `mcp_servers` table we have to create is implicit (no
//! `[mcp_servers]` header of its own), so nothing of it is left once its last entry goes.
//!
//! New text from `toml_edit` uses `\n`; a file that uses `\r\n` throughout is edited as `\n`
//! and converted back, so it stays CRLF.

use std::path::Path;

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::entry::RawEntry;
use crate::error::{line_column, ClientsError};

fn parse(path: &Path, text: &str) -> Result<DocumentMut, ClientsError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
        ClientsError::Parse {
            path: path.to_owned(),
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    })
}

/// Runs `edit` on `text` with LF line ends, converting back when the file is all CRLF.
fn with_lf(
    text: &str,
    edit: impl FnOnce(&str) -> Result<String, ClientsError>,
) -> Result<String, ClientsError> {
    let crlf = text.contains("\r\n") && text.matches('\n').count() == text.matches("\r\n").count();
    if !crlf {
        return edit(text);
    }
    Ok(edit(&text.replace("\r\n", "\n"))?.replace('\n', "\r\n"))
}

fn wrong_type(path: &Path, text: &str, key: &str) -> ClientsError {
    // `DocumentMut` forgets positions; find the key's line the simple way.
    let pos = text
        .lines()
        .scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len() + 1;
            Some((start, line))
        })
        .find(|(_, l)| l.trim_start().starts_with(key))
        .map_or(0, |(start, _)| start);
    let (line, column) = line_column(text, pos);
    ClientsError::WrongType {
        path: path.to_owned(),
        line,
        column,
        key: key.to_owned(),
        expected: "a table",
    }
}

fn servers<'d>(
    path: &Path,
    text: &str,
    doc: &'d DocumentMut,
    key: &str,
) -> Result<Option<&'d dyn TableLike>, ClientsError> {
    match doc.get(key) {
        None => Ok(None),
        Some(item) => item
            .as_table_like()
            .map(Some)
            .ok_or_else(|| wrong_type(path, text, key)),
    }
}

fn servers_mut<'d>(
    path: &Path,
    text: &str,
    doc: &'d mut DocumentMut,
    key: &str,
) -> Result<&'d mut dyn TableLike, ClientsError> {
    if doc.get(key).is_none() {
        let mut t = Table::new();
        t.set_implicit(true);
        doc.insert(key, Item::Table(t));
    }
    doc.get_mut(key)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| wrong_type(path, text, key))
}

/// The entries of the table `key`; `None` when it is missing.
pub(crate) fn entries(
    path: &Path,
    text: &str,
    key: &str,
) -> Result<Option<Vec<RawEntry>>, ClientsError> {
    let doc = parse(path, text)?;
    let Some(table) = servers(path, text, &doc, key)? else {
        return Ok(None);
    };
    Ok(Some(
        table
            .iter()
            .map(|(k, item)| {
                let entry = item.as_table_like();
                RawEntry {
                    key: k.to_owned(),
                    command: entry
                        .and_then(|e| e.get("command"))
                        .and_then(Item::as_str)
                        .map(str::to_owned),
                    args: entry
                        .and_then(|e| e.get("args"))
                        .and_then(Item::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect(),
    ))
}

/// Adds `[key.name]` with `command` and `args`.
pub(crate) fn add_entry(
    path: &Path,
    text: &str,
    key: &str,
    name: &str,
    command: &str,
    args: &[String],
) -> Result<String, ClientsError> {
    with_lf(text, |text| {
        let mut doc = parse(path, text)?;
        servers_mut(path, text, &mut doc, key)?;
        let args: Array = args.iter().map(String::as_str).collect();
        match doc.get_mut(key) {
            Some(Item::Table(t)) => {
                let mut entry = Table::new();
                entry.insert("command", toml_edit::value(command));
                entry.insert("args", toml_edit::value(args));
                t.insert(name, Item::Table(entry));
            }
            Some(Item::Value(Value::InlineTable(t))) => {
                // `mcp_servers = { ... }` written inline: stay inline.
                let mut entry = InlineTable::new();
                entry.insert("command", command.into());
                entry.insert("args", Value::Array(args));
                t.insert(name, Value::InlineTable(entry));
            }
            _ => return Err(wrong_type(path, text, key)),
        }
        Ok(doc.to_string())
    })
}

/// Sets `command` of `[key.name]`, keeping the comment after it.
pub(crate) fn set_command(
    path: &Path,
    text: &str,
    key: &str,
    name: &str,
    command: &str,
) -> Result<String, ClientsError> {
    with_lf(text, |text| {
        let mut doc = parse(path, text)?;
        let table = servers_mut(path, text, &mut doc, key)?;
        let Some(slot) = table
            .get_mut(name)
            .and_then(Item::as_table_like_mut)
            .and_then(|e| e.get_mut("command"))
            .and_then(Item::as_value_mut)
        else {
            return Ok(text.to_owned());
        };
        let mut new = Value::from(command);
        *new.decor_mut() = slot.decor().clone();
        *slot = new;
        Ok(doc.to_string())
    })
}

/// Removes `[key.name]`; then removes the table `key` too if it is left empty and `prune`.
pub(crate) fn remove_entry(
    path: &Path,
    text: &str,
    key: &str,
    name: &str,
    prune: bool,
) -> Result<String, ClientsError> {
    with_lf(text, |text| {
        let mut doc = parse(path, text)?;
        if servers(path, text, &doc, key)?.is_none() {
            return Ok(text.to_owned());
        }
        let table = servers_mut(path, text, &mut doc, key)?;
        table.remove(name);
        if prune && table.is_empty() {
            doc.remove(key);
        }
        Ok(doc.to_string())
    })
}

/// Whether `text` has the top-level key `key`. Unreadable text counts as having it.
pub(crate) fn has_key(text: &str, key: &str) -> bool {
    text.parse::<DocumentMut>()
        .map_or(true, |d| d.get(key).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "config.toml";

    fn args(name: &str) -> Vec<String> {
        vec!["connect".to_owned(), name.to_owned()]
    }

    fn round_trip(text: &str) -> String {
        let p = Path::new(P);
        let added = add_entry(p, text, "mcp_servers", "x", "/b/mcp-companion", &args("x")).unwrap();
        let back =
            remove_entry(p, &added, "mcp_servers", "x", !has_key(text, "mcp_servers")).unwrap();
        assert_eq!(back, text, "through:\n{added}");
        added
    }

    #[test]
    fn tables_round_trip() {
        let added = round_trip(
            "model = \"o3\"\n\n[mcp_servers.a]\ncommand = \"npx\"\n\n[profiles.p]\nmodel = \"x\"\n",
        );
        assert!(
            added.contains("command = \"npx\"\n\n[mcp_servers.x]\ncommand = \"/b/mcp-companion\"\nargs = [\"connect\", \"x\"]\n\n[profiles.p]"),
            "{added}"
        );
        round_trip("# only a comment\nmodel = \"o3\" # trailing\n");
        round_trip("");
        round_trip("[mcp_servers]\n");
        let crlf = round_trip("model = \"o3\"\r\n\r\n[mcp_servers.a]\r\ncommand = \"npx\"\r\n");
        assert!(!crlf.replace("\r\n", "").contains('\n'), "{crlf:?}");
        round_trip("mcp_servers = { a = { command = \"npx\" } }\n");
    }

    #[test]
    fn set_command_keeps_comments() {
        let text = "[mcp_servers.x]\ncommand = \"/old/mcp-companion\" # moved\nargs = [\"connect\", \"x\"]\n";
        let set =
            set_command(Path::new(P), text, "mcp_servers", "x", "/new/mcp-companion").unwrap();
        assert_eq!(set, text.replace("/old/", "/new/"));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = entries(Path::new(P), "a = 1\nb = = 2\n", "mcp_servers").unwrap_err();
        assert!(e.to_string().starts_with("config.toml:2:"), "{e}");
        let e = entries(Path::new(P), "x = 1\nmcp_servers = 3\n", "mcp_servers").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.toml:2:1: `mcp_servers` should be a table"
        );
    }
}
