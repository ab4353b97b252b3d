"""Debian's Chromium for browser tests, driven by Playwright; never a downloaded browser."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root in a sandbox with no internet: no background traffic that the closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
