//! Unified diffs of a planned change, for `--diff`.

use similar::TextDiff;

/// A unified diff from `before` (`None`: the file does not exist) to `after`, labelled with
/// `file`. Empty when nothing changes.
pub fn unified(file: &str, before: Option<&str>, after: &str) -> String {
    let old = before.unwrap_or("");
    if old == after {
        return String::new();
    }
    let from = if before.is_some() { file } else { "/dev/null" };
    TextDiff::from_lines(old, after)
        .unified_diff()
        .context_radius(3)
        .header(from, file)
        .missing_newline_hint(true)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_added_lines_with_context() {
        let d = unified(
            "f.json",
            Some("{\n  \"a\": 1\n}\n"),
            "{\n  \"a\": 1,\n  \"b\": 2\n}\n",
        );
        assert_eq!(
            d,
            "--- f.json\n+++ f.json\n@@ -1,3 +1,4 @@\n {\n-  \"a\": 1\n+  \"a\": 1,\n+  \"b\": 2\n }\n"
        );
        assert!(unified("f", None, "x\n").starts_with("--- /dev/null\n+++ f\n"));
        assert_eq!(unified("f", Some("x"), "x"), "");
    }
}
