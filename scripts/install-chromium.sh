#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium at /usr/bin/chromium for the dashboard's
# browser test (tests/test_dashboard.py). Idempotent: does nothing if it is already there.
# Needs root (or sudo) and apt; on other systems install Chromium yourself, or the test
# skips with a reason.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "install-chromium: /usr/bin/chromium already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-chromium: no apt-get here; install Chromium at /usr/bin/chromium yourself" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
