fn main() {
    // The window's files are embedded at compile time: a new `ui/` build must rebuild the app.
    println!("cargo:rerun-if-changed=../ui/dist");
    tauri_build::build();
}
