//! Format-preserving edits of JSON and JSONC text, by splicing byte ranges.
//!
//! The text is parsed with `jsonc-parser` only to learn where things are (the byte ranges of
//! objects, members, commas and comments); every edit then replaces or inserts text at those
//! ranges, and every byte outside them is left exactly as it was: comments, blank lines, key
//! order, indentation, CRLF line ends, trailing commas.
//!
//! Why not `jsonc-parser`'s own CST editor (the `cst` feature)? It keeps comments and most
//! formatting, and we tried it first, but it decides the layout of what it inserts by itself: a
//! compact `{"mcpServers":{...}}` is re-indented on insert and not restored on removal, and
//! install-then-uninstall is only byte-identical where its heuristics happen to agree with
//! ours. We promise more than that, so the two layout rules are ours and are written so they
//! undo each other exactly:
//!
//! * **insert** appends the member after the object's last member: a comma goes right after
//!   the last value (or the existing trailing comma is kept and the new member gets one too),
//!   and the member goes after the last token before `}` (so a same-line comment stays with
//!   its member), on a new line with the last member's indentation, or inline for a one-line
//!   object. An empty object is opened up onto lines: `{}` becomes
//!   `{⏎<indent>"name": …⏎<outer indent>}`.
//! * **remove** deletes the member with the whitespace before it, and either its own comma or,
//!   for a last member without one, the comma after the previous member. An object left with
//!   only whitespace inside becomes `{}`.
//!
//! The known asymmetry: an empty object written with whitespace inside (`{ }`) comes back as
//! `{}`.

use std::path::Path;

use jsonc_parser::ast::{Object, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::tokens::{Token, TokenAndRange};
use jsonc_parser::{parse_to_ast, CollectOptions, CommentCollectionStrategy, ParseOptions};

use crate::entry::RawEntry;
use crate::error::{line_column, ClientsError};

/// What clients accept: JSON plus comments and trailing commas (VS Code's JSONC). Nothing
/// looser, so we never have to edit around single quotes or missing commas.
fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// A parsed document: the root object and every token (comments included) with its range.
pub(crate) struct Doc<'t> {
    text: &'t str,
    root: Object<'t>,
    tokens: Vec<TokenAndRange<'t>>,
}

impl<'t> Doc<'t> {
    /// Parses `text`; `path` names the file in errors.
    pub(crate) fn parse(path: &Path, text: &'t str) -> Result<Self, ClientsError> {
        let collect = CollectOptions {
            comments: CommentCollectionStrategy::AsTokens,
            tokens: true,
        };
        let parsed =
            parse_to_ast(text, &collect, &parse_options()).map_err(|e| ClientsError::Parse {
                path: path.to_owned(),
                line: e.line_display(),
                column: e.column_display(),
                message: e.kind().to_string(),
            })?;
        let root = match parsed.value {
            Some(Value::Object(o)) => o,
            Some(other) => return Err(wrong_type(path, text, other.start(), "(top level)")),
            None => {
                let (line, column) = line_column(text, text.len());
                return Err(ClientsError::Parse {
                    path: path.to_owned(),
                    line,
                    column,
                    message: "the file has no JSON object".to_owned(),
                });
            }
        };
        Ok(Self {
            text,
            root,
            tokens: parsed.tokens.unwrap_or_default(),
        })
    }

    /// The object at `keys` (the root for none), or `None` when a key is missing. A value on
    /// the way that is not an object is an error: there is nowhere to put servers.
    pub(crate) fn object_at(
        &self,
        path: &Path,
        keys: &[String],
    ) -> Result<Option<&Object<'t>>, ClientsError> {
        let mut obj = &self.root;
        for (i, key) in keys.iter().enumerate() {
            let Some(prop) = obj.get(key) else {
                return Ok(None);
            };
            match &prop.value {
                Value::Object(o) => obj = o,
                other => {
                    return Err(wrong_type(
                        path,
                        self.text,
                        other.start(),
                        &keys[..=i].join("."),
                    ))
                }
            }
        }
        Ok(Some(obj))
    }

    /// The first token that is not a comment at or after `pos`.
    fn next_token(&self, pos: usize) -> Option<&TokenAndRange<'t>> {
        self.tokens
            .iter()
            .filter(|t| !is_comment(&t.token))
            .find(|t| t.range.start >= pos)
    }

    /// The end of the last token (comments included) that ends at or before `pos`.
    fn prev_token_end(&self, pos: usize) -> usize {
        self.tokens
            .iter()
            .map(|t| t.range.end)
            .filter(|&end| end <= pos)
            .max()
            .unwrap_or(0)
    }

    /// The file's line ending and indentation unit.
    fn style(&self) -> Style {
        let text = self.text;
        let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let from_root = self.root.properties.first().and_then(|first| {
            let start = first.start();
            if !starts_line(text, start) {
                return None;
            }
            let outer = line_indent(text, self.root.start());
            line_indent(text, start)
                .strip_prefix(outer)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
        });
        let unit = from_root.unwrap_or_else(|| {
            text.lines()
                .find_map(|l| {
                    let rest = l.trim_start_matches([' ', '\t']);
                    let ind = &l[..l.len() - rest.len()];
                    (!ind.is_empty() && rest.starts_with('"')).then(|| ind.to_owned())
                })
                .unwrap_or_else(|| "  ".to_owned())
        });
        Style { nl, unit }
    }
}

fn is_comment(t: &Token<'_>) -> bool {
    matches!(t, Token::CommentLine(_) | Token::CommentBlock(_))
}

fn wrong_type(path: &Path, text: &str, pos: usize, key: &str) -> ClientsError {
    let (line, column) = line_column(text, pos);
    ClientsError::WrongType {
        path: path.to_owned(),
        line,
        column,
        key: key.to_owned(),
        expected: "an object",
    }
}

/// Line ending and one level of indentation, as the file already uses them.
struct Style {
    nl: &'static str,
    unit: String,
}

/// The spaces and tabs that start the line holding `pos`.
fn line_indent(text: &str, pos: usize) -> &str {
    let start = line_start(text, pos);
    let line = &text[start..];
    let rest = line.trim_start_matches([' ', '\t']);
    &line[..line.len() - rest.len()]
}

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// Whether only whitespace precedes `pos` on its line.
fn starts_line(text: &str, pos: usize) -> bool {
    text[line_start(text, pos)..pos]
        .chars()
        .all(|c| c == ' ' || c == '\t')
}

/// The start of the run of whitespace that ends at `pos`, not reaching back before `floor`.
fn whitespace_start(text: &str, pos: usize, floor: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = pos;
    while i > floor && matches!(bytes[i - 1], b' ' | b'\t' | b'\r' | b'\n') {
        i -= 1;
    }
    i
}

/// A JSON string literal for `s`.
pub(crate) fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A value to insert.
pub(crate) enum NewValue<'a> {
    /// `{}`: a missing key on the way to the servers.
    EmptyObject,
    /// A server entry.
    Entry {
        /// `"type"` first, when the client wants one.
        entry_type: Option<&'a str>,
        /// The binary.
        command: &'a str,
        /// Its arguments.
        args: &'a [String],
    },
}

impl NewValue<'_> {
    /// The value's text. `indent` is the indentation of the line the value starts on.
    fn render(&self, style: &Style, indent: &str, multiline: bool, spaced: bool) -> String {
        let NewValue::Entry {
            entry_type,
            command,
            args,
        } = self
        else {
            return "{}".to_owned();
        };
        let (colon, comma) = if spaced { (": ", ", ") } else { (":", ",") };
        let args = args
            .iter()
            .map(|a| json_string(a))
            .collect::<Vec<_>>()
            .join(comma);
        let mut members = Vec::new();
        if let Some(t) = entry_type {
            members.push(format!("\"type\"{colon}{}", json_string(t)));
        }
        members.push(format!("\"command\"{colon}{}", json_string(command)));
        members.push(format!("\"args\"{colon}[{args}]"));
        if multiline {
            let inner = format!("{indent}{}", style.unit);
            let body = members
                .iter()
                .map(|m| format!("{inner}{m}"))
                .collect::<Vec<_>>()
                .join(&format!(",{}", style.nl));
            format!("{{{nl}{body}{nl}{indent}}}", nl = style.nl)
        } else {
            format!("{{{}}}", members.join(comma))
        }
    }
}

/// One replacement of a byte range.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

impl Edit {
    fn insert(at: usize, text: impl Into<String>) -> Self {
        Self {
            start: at,
            end: at,
            text: text.into(),
        }
    }

    fn delete(start: usize, end: usize) -> Self {
        Self {
            start,
            end,
            text: String::new(),
        }
    }
}

/// Applies non-overlapping edits.
fn apply(text: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse((e.start, e.end)));
    let mut out = text.to_owned();
    for e in edits {
        out.replace_range(e.start..e.end, &e.text);
    }
    out
}

/// Adds `"key": value` at the end of the object at `obj_keys`, creating missing objects on
/// the way (each as an empty object appended to its parent).
pub(crate) fn add_member(
    path: &Path,
    text: &str,
    obj_keys: &[String],
    key: &str,
    value: &NewValue<'_>,
) -> Result<String, ClientsError> {
    let doc = Doc::parse(path, text)?;
    let Some(obj) = doc.object_at(path, obj_keys)? else {
        // The root always exists, so `obj_keys` is not empty here.
        let Some((last, parent)) = obj_keys.split_last() else {
            return Ok(text.to_owned());
        };
        let with_parent = add_member(path, text, parent, last, &NewValue::EmptyObject)?;
        return add_member(path, &with_parent, obj_keys, key, value);
    };
    let style = doc.style();
    let open = obj.start();
    let close = obj.end() - 1;
    let outer = line_indent(text, open);
    let interior = &text[open + 1..close];
    let name = json_string(key);

    let Some(last) = obj.properties.last() else {
        // An empty object: open it up onto lines.
        let indent = format!("{outer}{}", style.unit);
        let member = format!("{name}: {}", value.render(&style, &indent, true, true));
        let nl = style.nl;
        if interior.trim().is_empty() {
            return Ok(apply(
                text,
                vec![Edit {
                    start: open + 1,
                    end: close,
                    text: format!("{nl}{indent}{member}{nl}{outer}"),
                }],
            ));
        }
        // Only comments inside: after them, keeping the line break before `}` if any.
        let at = doc.prev_token_end(close);
        let closing = if text[at..close].contains('\n') {
            String::new()
        } else {
            format!("{nl}{outer}")
        };
        return Ok(apply(
            text,
            vec![Edit::insert(at, format!("{nl}{indent}{member}{closing}"))],
        ));
    };

    let multiline = interior.contains('\n');
    let spaced = multiline || interior.contains(": ") || interior.contains(", ");
    let (sep, indent) = if multiline {
        let indent = if starts_line(text, last.start()) {
            line_indent(text, last.start()).to_owned()
        } else {
            format!("{outer}{}", style.unit)
        };
        (format!("{}{indent}", style.nl), indent)
    } else {
        // Inline: the same spacing the last member has before it.
        let floor = doc.prev_token_end(last.start());
        let ws = &text[whitespace_start(text, last.start(), floor)..last.start()];
        (ws.to_owned(), String::new())
    };
    let colon = if spaced { ": " } else { ":" };
    let member = format!(
        "{name}{colon}{}",
        value.render(&style, &indent, multiline, spaced)
    );
    let value_end = last.end();
    let has_trailing_comma = doc
        .next_token(value_end)
        .is_some_and(|t| t.token == Token::Comma && t.range.start < close);
    // After the last token before `}`: past a trailing comma and same-line comments.
    let at = doc.prev_token_end(close).max(value_end);
    let edits = if has_trailing_comma {
        vec![Edit::insert(at, format!("{sep}{member},"))]
    } else if at == value_end {
        vec![Edit::insert(at, format!(",{sep}{member}"))]
    } else {
        vec![
            Edit::insert(value_end, ","),
            Edit::insert(at, format!("{sep}{member}")),
        ]
    };
    Ok(apply(text, edits))
}

/// Removes the member `key` of the object at `obj_keys`; the text is unchanged when either is
/// missing.
pub(crate) fn remove_member(
    path: &Path,
    text: &str,
    obj_keys: &[String],
    key: &str,
) -> Result<String, ClientsError> {
    let doc = Doc::parse(path, text)?;
    let Some(obj) = doc.object_at(path, obj_keys)? else {
        return Ok(text.to_owned());
    };
    let props = &obj.properties;
    let Some(k) = props.iter().position(|p| p.name.as_str() == key) else {
        return Ok(text.to_owned());
    };
    let m = &props[k];
    let start = whitespace_start(text, m.start(), doc.prev_token_end(m.start()));
    let close = obj.end() - 1;
    let own_comma = doc
        .next_token(m.end())
        .filter(|t| t.token == Token::Comma && t.range.start < close);
    let mut edits = Vec::new();
    let end = if let Some(c) = own_comma {
        c.range.end
    } else {
        if let Some(prev) = k.checked_sub(1).map(|i| &props[i]) {
            if let Some(c) = doc
                .next_token(prev.end())
                .filter(|t| t.token == Token::Comma)
            {
                edits.push(Edit::delete(c.range.start, c.range.end));
            }
        }
        m.end()
    };
    edits.push(Edit::delete(start, end));
    if props.len() == 1 {
        let open = obj.start();
        let left = format!("{}{}", &text[open + 1..start], &text[end..close]);
        if left.trim().is_empty() {
            return Ok(apply(text, vec![Edit::delete(open + 1, close)]));
        }
    }
    Ok(apply(text, edits))
}

/// Replaces the value of `member` in the object at `obj_keys` with the string `value`.
pub(crate) fn set_string(
    path: &Path,
    text: &str,
    obj_keys: &[String],
    member: &str,
    value: &str,
) -> Result<String, ClientsError> {
    let doc = Doc::parse(path, text)?;
    let Some(prop) = doc.object_at(path, obj_keys)?.and_then(|o| o.get(member)) else {
        return Ok(text.to_owned());
    };
    let r = prop.value.range();
    Ok(apply(
        text,
        vec![Edit {
            start: r.start,
            end: r.end,
            text: json_string(value),
        }],
    ))
}

/// The members of the object at `keys`, as entries; `None` when the object is missing.
pub(crate) fn entries(
    path: &Path,
    text: &str,
    keys: &[String],
) -> Result<Option<Vec<RawEntry>>, ClientsError> {
    let doc = Doc::parse(path, text)?;
    let Some(obj) = doc.object_at(path, keys)? else {
        return Ok(None);
    };
    Ok(Some(
        obj.properties
            .iter()
            .map(|p| {
                let entry = p.value.as_object();
                RawEntry {
                    key: p.name.as_str().to_owned(),
                    command: entry
                        .and_then(|o| o.get_string("command"))
                        .map(|s| s.value.to_string()),
                    args: entry
                        .and_then(|o| o.get_array("args"))
                        .map(|a| {
                            a.elements
                                .iter()
                                .filter_map(|v| v.as_string_lit().map(|s| s.value.to_string()))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect(),
    ))
}

/// Whether the object at `keys` exists and has no members.
pub(crate) fn is_empty_object(
    path: &Path,
    text: &str,
    keys: &[String],
) -> Result<bool, ClientsError> {
    let doc = Doc::parse(path, text)?;
    Ok(doc
        .object_at(path, keys)?
        .is_some_and(|o| o.properties.is_empty()))
}

/// Whether `text` has a value at `keys`. Unreadable text counts as having it (we cannot tell,
/// so we keep what is there).
pub(crate) fn has_key(text: &str, keys: &[String]) -> bool {
    let Ok(doc) = Doc::parse(Path::new(""), text) else {
        return true;
    };
    let Some((last, parent)) = keys.split_last() else {
        return true;
    };
    match doc.object_at(Path::new(""), parent) {
        Ok(Some(o)) => o.get(last).is_some(),
        Ok(None) => false,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests;
