#!/usr/bin/env bash
# Installs Debian's headless-capable Firefox ESR at /usr/bin/firefox-esr, the second browser
# the dashboard's test opens the site from disk in (tests/test_dashboard.py). Idempotent:
# does nothing if it is already there. Needs root (or sudo) and apt; without it the test
# skips with a reason (CEBENCH_FIREFOX names another Firefox binary).
set -euo pipefail
if [ -x /usr/bin/firefox-esr ]; then
    echo "install-firefox: /usr/bin/firefox-esr already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-firefox: no apt-get here; install Firefox yourself (CEBENCH_FIREFOX)" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends firefox-esr >/dev/null
/usr/bin/firefox-esr --version
