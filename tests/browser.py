"""Headless Chromium (Debian's `chromium`) for rendering the Dagster UI in tests."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

from tests.host_speed import budget

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=3000,1200", "--virtual-time-budget=30000"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    binary = chromium()
    assert binary, "chromium is not installed (scripts/test.sh installs it with apt-get)"
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=budget(120))


def page_text(url: str, profile: Path) -> str:
    """The rendered page (after its scripts ran) as whitespace-normalised visible text."""
    dom = _run(["--dump-dom", url], profile).stdout
    dom = re.sub(r"<(style|script)\b.*?</\1>", " ", dom, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def screenshot(url: str, path: Path, profile: Path) -> Path:
    _run([f"--screenshot={path}", url], profile)
    assert path.exists() and path.stat().st_size > 10_000, f"no screenshot of {url}"
    return path
