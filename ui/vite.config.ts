import { defineConfig } from "vite";

// Settings from create-tauri-app: a fixed port Tauri can find, and no screen clearing so Rust
// errors stay visible.
export default defineConfig({
  clearScreen: false,
  server: { port: 1420, strictPort: true, watch: { ignored: ["**/src-tauri/**"] } },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
});
