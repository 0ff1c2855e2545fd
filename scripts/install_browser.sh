#!/usr/bin/env bash
# Debian's Chromium and its ChromeDriver for the explorer's browser tests
# (tests/node/test_explorer_browser.py). Idempotent: does nothing when both are there. Installs
# only as root or with password-less sudo; otherwise says what to run and exits 0, and the
# browser tests then skip with that reason. Never downloads a browser build of its own.
set -euo pipefail

say() { printf '[browser] %s\n' "$*"; }

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  say "chromium and chromedriver present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "no apt-get here: install Chromium and ChromeDriver yourself; the browser tests skip until then"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  say "not root and no password-less sudo: run 'sudo apt-get install -y chromium chromium-driver'; the browser tests skip until then"
  exit 0
fi
say "installing chromium and chromium-driver (apt-get)"
export DEBIAN_FRONTEND=noninteractive
# a failed install (no network, no such package) must not fail the build: the tests then skip
if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq \
    --no-install-recommends chromium chromium-driver >/dev/null; }; then
  say "apt-get could not install chromium and chromium-driver; the browser tests skip until then"
  exit 0
fi
say "installed: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
