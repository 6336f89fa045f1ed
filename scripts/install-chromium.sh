#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium at /usr/bin/chromium for the dashboard's
# browser test (tests/test_dashboard.py). Idempotent: does nothing if it is already there.
# Needs root (or sudo) and apt; on other systems install Chromium yourself, or the test
# skips with a reason.
exec bash "$(dirname "$0")/_apt_install.sh" chromium /usr/bin/chromium \
    "install Chromium at /usr/bin/chromium yourself" chromium fonts-dejavu-core
