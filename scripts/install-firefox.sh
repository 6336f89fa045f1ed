#!/usr/bin/env bash
# Installs Debian's headless-capable Firefox ESR at /usr/bin/firefox-esr, the second browser
# the dashboard's test opens the site from disk in (tests/test_dashboard.py). Idempotent:
# does nothing if it is already there. Needs root (or sudo) and apt; without it the test
# skips with a reason (CEBENCH_FIREFOX names another Firefox binary).
exec bash "$(dirname "$0")/_apt_install.sh" firefox /usr/bin/firefox-esr \
    "install Firefox yourself (CEBENCH_FIREFOX)" firefox-esr
