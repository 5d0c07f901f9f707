"""A PDF of the signed HTML report, rendered in this process by WeasyPrint.

No browser: headless Chromium resolved Google hosts and opened an IPv6 socket
even with ``--disable-background-networking`` (DESIGN section 9), which an
air-gapped site must never see. WeasyPrint lays out the very HTML that was
signed (CSS, inline SVG charts, PNG data URIs) with Pango, and reaches nothing:
its URL fetcher here answers ``data:`` URIs from the document itself and refuses
every other scheme (``file:``, ``http:``, ...), so a report that pointed outside
would fail loudly instead of fetching. Pango comes from the Debian packages
``libpango-1.0-0`` and ``libpangoft2-1.0-0``; without them the PDF is refused with
that hint and the HTML report stands alone.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import urllib.request
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError

#: A signed report with six example images is about 0.5 MB; anything near this
#: is not one of ours.
MAX_HTML_BYTES = 64 * 1024 * 1024
NO_PANGO_HINT = (
    "install the Debian packages libpango-1.0-0 and libpangoft2-1.0-0 (WeasyPrint lays "
    "out the PDF with Pango); the signed HTML report is complete without it"
)


def _weasyprint() -> Any:
    """Import WeasyPrint late (it loads Pango through cffi: ~0.4 s, and only for PDFs)."""
    # WeasyPrint's progress lines are INFO; a CLI run must not print them.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    try:
        # WeasyPrint prints an installation banner to stdout when Pango is missing;
        # stdout may be a --json document: keep it clean, the error below says it.
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint
    except ImportError as exc:
        raise ConfigError(
            "WeasyPrint is not installed, so no PDF can be made",
            hint="install the console's dependencies (pip install 'edgeconsole[console]'); "
            "the signed HTML report is complete without it",
        ) from exc
    except OSError as exc:  # cffi could not dlopen Pango, HarfBuzz or fontconfig
        raise ConfigError(
            f"cannot load the PDF renderer's libraries: {exc}", hint=NO_PANGO_HINT
        ) from exc
    return weasyprint


def _offline_fetcher(weasyprint: Any, refused: list[str]) -> Any:
    """A URL fetcher that never touches the network or the disk."""
    from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

    class OfflineFetcher(URLFetcher):  # type: ignore[misc]  # weasyprint ships no types
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                refused.append(url[:200])
                # Fatal: a missing picture in a commissioning record is not cosmetic.
                raise FatalURLFetchingError(f"refused to fetch {url[:200]}")
            # urllib's data: handler decodes in memory; no opener, no proxy, no socket.
            resp = urllib.request.DataHandler().data_open(urllib.request.Request(url))
            return URLFetcherResponse(url, resp.read(), dict(resp.headers.items()))

    return OfflineFetcher()


def html_to_pdf(html: Path, pdf: Path) -> Path:
    """Render ``html`` to ``pdf`` (A4 from the report's own ``@page`` rule), atomically."""
    try:
        size = html.stat().st_size
    except OSError as exc:
        raise ConfigError(f"cannot read the report: {exc.strerror}", subject=str(html)) from exc
    if size > MAX_HTML_BYTES:
        raise ConfigError(
            f"report is {size / 1e6:.0f} MB, more than any commissioning report "
            f"({MAX_HTML_BYTES // 2**20} MB)",
            subject=str(html),
            hint="render the HTML report you signed, not another file",
        )
    weasyprint = _weasyprint()
    text = html.read_bytes().decode("utf-8", "replace")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = pdf.with_name(f".{pdf.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    refused: list[str] = []
    try:
        doc = weasyprint.HTML(string=text, url_fetcher=_offline_fetcher(weasyprint, refused))
        doc.write_pdf(tmp)
    except BaseException as exc:  # FatalURLFetchingError is a BaseException
        tmp.unlink(missing_ok=True)
        if refused:
            raise ConfigError(
                f"the report refers to an outside resource ({refused[0]}); nothing was fetched",
                subject=str(html),
                hint="the report must be self-contained: render the HTML EdgeConsole signed",
            ) from None
        if isinstance(exc, RecursionError):  # WeasyPrint lays out nested boxes recursively
            raise ConfigError(
                "the HTML is nested too deeply to lay out as a PDF",
                subject=str(html),
                hint="render the HTML report EdgeConsole signed; it nests a few levels only",
            ) from None
        if not isinstance(exc, Exception):
            raise
        raise ConfigError(f"cannot render the PDF: {exc}", subject=str(html)) from exc
    if tmp.read_bytes()[:5] != b"%PDF-":
        tmp.unlink(missing_ok=True)
        raise ConfigError("the renderer wrote something that is not a PDF", subject=str(pdf))
    os.replace(tmp, pdf)
    return pdf
