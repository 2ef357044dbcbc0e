use super::*;

const CMD: &str = "/opt/bin/mcp-companion";

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| (*s).to_owned()).collect()
}

fn entry(args: &[String]) -> NewValue<'_> {
    NewValue::Entry {
        entry_type: None,
        command: CMD,
        args,
    }
}

fn add(text: &str, name: &str) -> String {
    let args = vec!["connect".to_owned(), name.to_owned()];
    add_member(
        Path::new("t.json"),
        text,
        &keys(&["mcpServers"]),
        name,
        &entry(&args),
    )
    .unwrap()
}

fn remove(text: &str, name: &str) -> String {
    remove_member(Path::new("t.json"), text, &keys(&["mcpServers"]), name).unwrap()
}

/// Adds then removes `x` (and removes `mcpServers` if `created`), checking the text comes back.
fn round_trip(text: &str) -> String {
    let created = !has_key(text, &keys(&["mcpServers"]));
    let added = add(text, "x");
    let mut back = remove(&added, "x");
    if created {
        back = remove_member(Path::new("t.json"), &back, &[], "mcpServers").unwrap();
    }
    assert_eq!(back, text, "round trip of:\n{text}\nthrough:\n{added}");
    added
}

#[test]
fn appends_after_the_last_member_with_its_indentation() {
    let text = "{\n  \"mcpServers\": {\n    \"a\": {\n      \"command\": \"npx\"\n    }\n  }\n}\n";
    let added = round_trip(text);
    assert_eq!(
        added,
        "{\n  \"mcpServers\": {\n    \"a\": {\n      \"command\": \"npx\"\n    },\n    \"x\": {\n      \
         \"command\": \"/opt/bin/mcp-companion\",\n      \"args\": [\"connect\", \"x\"]\n    }\n  }\n}\n"
    );
}

#[test]
fn a_same_line_comment_stays_with_its_member() {
    let text = "{\n  \"mcpServers\": {\n    \"a\": {} // mine\n  }\n}\n";
    let added = round_trip(text);
    assert!(
        added.contains("\"a\": {}, // mine\n    \"x\": {"),
        "{added}"
    );
}

#[test]
fn trailing_commas_are_kept_and_followed() {
    let text = "{\n\t\"mcpServers\": {\n\t\t\"a\": {},\n\t},\n}";
    let added = round_trip(text);
    assert!(
        added.contains("\"a\": {},\n\t\t\"x\": {\n\t\t\t\"command\""),
        "{added}"
    );
    assert!(added.contains("\n\t\t},\n\t},\n}"), "{added}");
}

#[test]
fn crlf_files_get_crlf() {
    let text = "{\r\n  \"other\": 1,\r\n  \"mcpServers\": {\r\n    \"a\": {}\r\n  }\r\n}\r\n";
    let added = round_trip(text);
    assert!(!added.replace("\r\n", "").contains('\n'), "{added:?}");
}

#[test]
fn compact_objects_stay_compact() {
    let text = r#"{"mcpServers":{"a":{"command":"npx"}}}"#;
    let added = round_trip(text);
    assert_eq!(
        added,
        r#"{"mcpServers":{"a":{"command":"npx"},"x":{"command":"/opt/bin/mcp-companion","args":["connect","x"]}}}"#
    );
    let spaced = r#"{ "mcpServers": { "a": { "command": "npx" } } }"#;
    let added = round_trip(spaced);
    assert!(
        added.contains(r#"{ "command": "npx" }, "x": {"command": "#),
        "{added}"
    );
}

#[test]
fn empty_objects_and_missing_keys() {
    round_trip("{\n  \"mcpServers\": {}\n}\n");
    let added = round_trip("{}");
    assert_eq!(
        added,
        "{\n  \"mcpServers\": {\n    \"x\": {\n      \"command\": \"/opt/bin/mcp-companion\",\n      \
         \"args\": [\"connect\", \"x\"]\n    }\n  }\n}"
    );
    round_trip("{\n    \"theme\": \"dark\" // comment\n}\n");
    round_trip("{\n  \"mcpServers\": {\n    // nothing yet\n  }\n}\n");
    round_trip("{\n  \"a\": 1,\n  /* block */\n  \"b\": [1, 2]\n}");
}

#[test]
fn removes_a_member_from_the_middle_and_the_front() {
    let text = "{\"mcpServers\": {\n  \"a\": 1,\n  \"x\": 2,\n  \"b\": 3\n}}";
    assert_eq!(
        remove(text, "x"),
        "{\"mcpServers\": {\n  \"a\": 1,\n  \"b\": 3\n}}"
    );
    assert_eq!(
        remove(text, "a"),
        "{\"mcpServers\": {\n  \"x\": 2,\n  \"b\": 3\n}}"
    );
    assert_eq!(remove(text, "nope"), text);
}

#[test]
fn nested_keys_are_created_and_sets_replace_only_the_value() {
    let path = Path::new("t.json");
    let k = keys(&["projects", "/w/app", "mcpServers"]);
    let args = vec!["connect".to_owned(), "x".to_owned()];
    let text = "{\n  \"projects\": {\n    \"/w/other\": {}\n  }\n}\n";
    let added = add_member(path, text, &k, "x", &entry(&args)).unwrap();
    assert!(
        added.contains("\"/w/app\": {\n      \"mcpServers\": {\n        \"x\": {"),
        "{added}"
    );
    let entry_keys = keys(&["projects", "/w/app", "mcpServers", "x"]);
    let set = set_string(path, &added, &entry_keys, "command", "/new/mcp-companion").unwrap();
    assert_eq!(set, added.replace(CMD, "/new/mcp-companion"));
}

#[test]
fn errors_name_line_and_column() {
    let e = Doc::parse(Path::new("/c/f.json"), "{\n  \"a\": 1,,\n}")
        .err()
        .unwrap();
    assert!(e.to_string().starts_with("/c/f.json:2:"), "{e}");
    let e = entries(
        Path::new("f.json"),
        "{\n  \"mcpServers\": [1]\n}",
        &keys(&["mcpServers"]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "f.json:2:17: `mcpServers` should be an object"
    );
    let e = Doc::parse(Path::new("f.json"), "[]").err().unwrap();
    assert!(e.to_string().contains("(top level)"), "{e}");
}
