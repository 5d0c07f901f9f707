"""The PDF of the report, rendered in-process by WeasyPrint and read back with poppler.

(That the renderer makes no network call and writes nowhere else is checked under
strace by tests/security/test_offline.py::test_validate_pdf_then_export.)
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeconsole.commission import ValidationJob, ValidationRequest, write_report
from edgeconsole.commission.pdf import MAX_HTML_BYTES, html_to_pdf
from edgeconsole.core.errors import ConfigError
from tests.commission.helpers import DIGITS_MODEL, DIGITS_SET, subset

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="needs the Debian package poppler-utils",
)


@pytest.mark.slow
@needs_poppler
def test_pdf_pages_show_the_signed_report(tmp_path: Path) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 2)
    res = ValidationJob(ValidationRequest("local://", DIGITS_MODEL, data, line_rate=300)).run()
    written = write_report(res, tmp_path / "r.html", pdf=True, keep_for_pack=False)
    assert written.pdf_error == "" and written.pdf is not None
    assert written.pdf.read_bytes()[:5] == b"%PDF-"
    assert not list(tmp_path.glob(".r.pdf.partial-*"))
    text = subprocess.run(
        ["pdftotext", "-layout", str(written.pdf), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    # The very report that was signed: title, verdict, criteria, confusion, signature.
    for words in ("Commissioning report", "Criteria", "Confusion matrix", "Signature"):
        assert words in text, words
    assert res.data["verdict"] in text
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
            str(tmp_path / "p"),
        ],
        check=True,
        timeout=60,
    )
    page = cv2.imread(str(next(tmp_path.glob("p*.png"))))
    assert page is not None
    h, w = page.shape[:2]
    assert abs(h / w - 297 / 210) < 0.02  # A4 portrait (the report's @page rule)
    assert (page < 128).mean() > 0.01  # ink on the page, not a blank sheet
    assert (page[:, :, 1] > page[:, :, 2] + 40).any()  # the green PASS/ok colours survive
    # Nothing drawn into the right margin or off the page: the ten-column confusion
    # matrix once ran past the edge (cells kept their on-screen minimum width).
    spill = words_in_right_margin(written.pdf)
    assert not spill, f"text in the right margin or off the page: {spill[:10]}"


def words_in_right_margin(pdf: Path, margin_pt: float = 12 / 25.4 * 72 - 1) -> list[str]:
    xml = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, timeout=60
    ).stdout
    out = []
    for width, body in re.findall(
        r'<page width="([\d.]+)" height="[\d.]+">(.*?)</page>', xml, re.S
    ):
        for x_max, word in re.findall(
            r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)"'
            r' yMax="[\d.]+">([^<]*)</word>',
            body,
        ):
            if float(x_max) > float(width) - margin_pt:
                out.append(word)
    return out


def test_a_reference_outside_the_report_is_refused_and_nothing_fetched(tmp_path: Path) -> None:
    for i, ref in enumerate(
        (
            '<img src="http://192.0.2.1/logo.png">',
            '<link rel="stylesheet" href="file:///etc/passwd">',
            "<style>@font-face{font-family:x;src:url(https://fonts.example/x.woff)}</style>",
        )
    ):
        html = tmp_path / f"r{i}.html"
        html.write_text(f"<html><head></head><body>{ref}<p>report</p></body></html>")
        with pytest.raises(ConfigError) as err:
            html_to_pdf(html, tmp_path / f"r{i}.pdf")
        assert "outside resource" in str(err.value) and "nothing was fetched" in str(err.value)
        assert not (tmp_path / f"r{i}.pdf").exists()
        assert not list(tmp_path.glob(f".r{i}.pdf.partial-*"))


def test_data_uris_render(tmp_path: Path) -> None:
    png = cv2.imencode(".png", np.full((16, 16, 3), (0, 160, 0), np.uint8))
    uri = "data:image/png;base64," + base64.b64encode(png[1].tobytes()).decode()
    html = tmp_path / "r.html"
    html.write_text(f'<html><body><img src="{uri}" width="200"><p>ok</p></body></html>')
    assert html_to_pdf(html, tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"


def test_hostile_inputs_get_a_clear_error_or_a_pdf(tmp_path: Path) -> None:
    huge = tmp_path / "huge.html"
    with huge.open("wb") as f:  # sparse: no 64 MB written
        f.truncate(MAX_HTML_BYTES + 1)
    with pytest.raises(ConfigError, match="more than any commissioning report"):
        html_to_pdf(huge, tmp_path / "huge.pdf")
    with pytest.raises(ConfigError, match="cannot read the report"):
        html_to_pdf(tmp_path / "missing.html", tmp_path / "m.pdf")
    junk = tmp_path / "junk.html"
    junk.write_bytes(os.urandom(4096) + b"<table><tr><td>" * 3)  # binary, unclosed tags
    assert html_to_pdf(junk, tmp_path / "junk.pdf").read_bytes()[:5] == b"%PDF-"
    deep = tmp_path / "deep.html"
    deep.write_bytes(b"<table><tr><td>" * 150)
    with pytest.raises(ConfigError, match="nested too deeply"):
        html_to_pdf(deep, tmp_path / "deep.pdf")
    assert not (tmp_path / "deep.pdf").exists() and not list(tmp_path.glob(".deep.pdf.*"))
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    assert html_to_pdf(empty, tmp_path / "empty.pdf").read_bytes()[:5] == b"%PDF-"


#: A Python that cannot load Pango, as on a laptop without the Debian libraries.
NO_PANGO = """
import cffi, json, sys
_real = cffi.FFI.dlopen
def dlopen(self, name, flags=0):
    if "pango" in str(name):
        raise OSError(f"cannot load library {name!r}: no such file")
    return _real(self, name, flags)
cffi.FFI.dlopen = dlopen
from pathlib import Path
from edgeconsole.commission import ValidationJob, ValidationRequest, write_report
res = ValidationJob(ValidationRequest("local://", Path(sys.argv[1]), Path(sys.argv[2]))).run()
w = write_report(res, Path(sys.argv[3]), pdf=True, keep_for_pack=False)
print(json.dumps({"pdf": None if w.pdf is None else str(w.pdf), "error": w.pdf_error}))
"""


def test_missing_pango_is_a_hint_and_stdout_stays_clean(tmp_path: Path) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 1)
    proc = subprocess.run(
        [sys.executable, "-c", NO_PANGO, str(DIGITS_MODEL), str(data), str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)  # WeasyPrint's install banner did not leak into stdout
    assert doc["pdf"] is None
    assert "cannot load the PDF renderer's libraries" in doc["error"]
    assert "libpango-1.0-0" in doc["error"] and "complete without it" in doc["error"]
    assert (tmp_path / "r.html").is_file() and not (tmp_path / "r.pdf").exists()
