"""A PDF of the signed HTML report, printed by headless Chromium (offline).

Chromium renders the very HTML that was signed, so the PDF shows the same page.
It is found on PATH (Debian package ``chromium``); without it, the PDF is refused
with that hint and the HTML report stands alone. Chromium runs with networking
components off, a throw-away profile, and a time limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgeconsole.core.errors import ConfigError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
)


def find_chromium() -> str | None:
    env = os.environ.get("EDGECONSOLE_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run_chromium(args: list[str], what: str, out: Path, timeout_s: float) -> None:
    exe = find_chromium()
    if exe is None:
        raise ConfigError(
            f"no Chromium found to {what}",
            subject=str(out),
            hint="install the Debian package 'chromium' (or set EDGECONSOLE_CHROMIUM); the HTML "
            "report is complete without it",
        )
    with tempfile.TemporaryDirectory(prefix="ec-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"Chromium did not finish within {timeout_s:.0f} s", subject=str(out)
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot start Chromium: {exc}", subject=exe) from exc
    if not out.is_file() or out.stat().st_size == 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(
            f"Chromium could not {what} (exit {proc.returncode}: {tail[0][:200]})",
            subject=str(out),
        )


def html_to_pdf(html: Path, pdf: Path, timeout_s: float = 90.0) -> Path:
    """Print ``html`` to ``pdf`` (A4, no header/footer lines)."""
    pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = pdf.with_name(f".{pdf.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    _run_chromium(
        ["--no-pdf-header-footer", f"--print-to-pdf={tmp}", html.resolve().as_uri()],
        "print the report to PDF",
        tmp,
        timeout_s,
    )
    if tmp.read_bytes()[:5] != b"%PDF-":
        tmp.unlink(missing_ok=True)
        raise ConfigError("Chromium wrote something that is not a PDF", subject=str(pdf))
    os.replace(tmp, pdf)
    return pdf


def html_screenshot(
    html: Path, png: Path, size: tuple[int, int] = (1200, 1800), timeout_s: float = 90.0
) -> Path:
    """A PNG of the report as a browser shows it (for documentation and checks)."""
    _run_chromium(
        [
            f"--screenshot={png}",
            f"--window-size={size[0]},{size[1]}",
            "--hide-scrollbars",
            html.resolve().as_uri(),
        ],
        "take a screenshot",
        png,
        timeout_s,
    )
    return png
