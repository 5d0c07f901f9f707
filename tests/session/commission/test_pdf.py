"""The PDF of the report, printed by headless Chromium and read back with poppler."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import pytest

from edgeconsole.session.commission import ValidationJob, ValidationRequest, write_report
from edgeconsole.session.commission.pdf import find_chromium, html_screenshot
from tests.session.commission.helpers import DIGITS_MODEL, DIGITS_SET, subset

needs_chromium = pytest.mark.skipif(
    find_chromium() is None or shutil.which("pdftoppm") is None,
    reason="needs the Debian packages chromium and poppler-utils",
)


@pytest.mark.slow
@needs_chromium
def test_pdf_renders_and_html_screenshots(tmp_path: Path) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 2)
    res = ValidationJob(ValidationRequest("local://", DIGITS_MODEL, data, line_rate=300)).run()
    written = write_report(res, tmp_path / "r.html", pdf=True, keep_for_pack=False)
    assert written.pdf_error == "" and written.pdf is not None
    assert written.pdf.read_bytes()[:5] == b"%PDF-"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "40",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            str(written.pdf),
            str(tmp_path / "page"),
        ],
        check=True,
        timeout=60,
    )
    page = cv2.imread(str(next(tmp_path.glob("page*.png"))))
    assert page is not None and page.shape[0] > page.shape[1]  # A4 portrait
    assert (page < 128).mean() > 0.01  # there is ink on the page, not a blank sheet
    shot = html_screenshot(written.html, tmp_path / "shot.png", (800, 1000))
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (1000, 800)


def test_missing_chromium_is_a_hint_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGECONSOLE_CHROMIUM", str(tmp_path / "no-such-browser"))
    data = subset(DIGITS_SET, tmp_path / "d", 1)
    res = ValidationJob(ValidationRequest("local://", DIGITS_MODEL, data)).run()
    written = write_report(res, tmp_path / "r.html", pdf=True, keep_for_pack=False)
    assert written.pdf is None and "install the Debian package 'chromium'" in written.pdf_error
    assert written.html.is_file()
