#!/usr/bin/env bash
# Idempotent set-up of everything poc needs, inside the checkout: the venv (exact pins), the npm
# toolchain (solc-js, anvil, js-ipfs), the solc executable registered for py-solc-x, the native
# Merkle kernel. Each step is skipped when the stamp of its inputs has not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAMPS=.cache/stamps
mkdir -p "$STAMPS" .tools/solcx .ape

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. prerequisites, with a message that says what to install
PY=""
for c in python3.11 python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    PY=$(command -v "$c"); break
  fi
done
[ -n "$PY" ] || die "Python 3.11 is required (python3.11 not found). Install it, e.g. 'apt install python3.11 python3.11-venv' or pyenv."
command -v node >/dev/null 2>&1 || die "Node.js >= 20 is required for solc-js, anvil and the IPFS node (node not found). Install Node.js 20 and npm."
command -v npm >/dev/null 2>&1 || die "npm is required (npm not found). Install npm (it ships with Node.js)."
node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)' || die "Node.js >= 20 is required, found $(node --version)."

# 2. Python venv with exact pins; torch alone first so pip takes the CPU wheel (DESIGN §7)
want=$(stamp_of pyproject.toml requirements.lock)
if [ "$(cat "$STAMPS/venv" 2>/dev/null)" != "$want" ] || [ ! -x .venv/bin/python ]; then
  say "creating the Python environment (.venv)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev,hf,ray]'
  .venv/bin/python -m pip check
  echo "$want" > "$STAMPS/venv"
else
  say "Python environment up to date"
fi

# 3. npm toolchain from the committed lockfile
want=$(stamp_of package.json package-lock.json)
if [ "$(cat "$STAMPS/npm" 2>/dev/null)" != "$want" ] || [ ! -d node_modules/solc ]; then
  say "installing the npm toolchain (npm ci)"
  NO_UPDATE_NOTIFIER=1 npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$STAMPS/npm"
else
  say "npm toolchain up to date"
fi

# 4. the project's solc, registered where py-solc-x and ape-solidity look (SOLCX_BINARY_PATH)
SOLC_VERSION=$(node -e "console.log(require('./node_modules/solc/package.json').version)")
grep -q "version: $SOLC_VERSION" ape-config.yaml || die "ape-config.yaml must pin solidity version $SOLC_VERSION (the npm solc)"
ln -sfn "$ROOT/tools/solc.js" ".tools/solcx/solc-v$SOLC_VERSION"
chmod +x tools/solc.js
"./.tools/solcx/solc-v$SOLC_VERSION" --version | grep -q "Version: $SOLC_VERSION" || die "the solc wrapper does not answer --version"

# 5. native Merkle kernel (optional: a pure-Python fallback exists)
if [ -f node/native/build.py ]; then
  .venv/bin/python -m node.native.build || say "warning: native Merkle kernel not built; using the hashlib fallback"
fi
say "ready"
