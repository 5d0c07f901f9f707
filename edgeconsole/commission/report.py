"""Write the signed report (HTML, JSON beside it, optional PDF) and keep a copy for
the evidence pack (``journal.paths.reports_dir()``, which the exporter includes)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgeconsole.commission.job import ValidationResult
from edgeconsole.commission.line_job import LineValidationResult
from edgeconsole.commission.report_html import build_report_body
from edgeconsole.commission.signature import sign_report
from edgeconsole.core.atomic import atomic_write
from edgeconsole.journal.keys import ConsoleKey
from edgeconsole.journal.paths import ensure_dir, reports_dir
from edgeconsole.journal.settings import SettingsStore, SiteSettings


@dataclass
class WrittenReport:
    html: Path
    json: Path
    pdf: Path | None
    kept: list[Path]  # copies in the reports folder the evidence pack takes
    pdf_error: str = ""


def write_report(
    res: ValidationResult | LineValidationResult,
    out_html: str | Path,
    *,
    settings: SiteSettings | None = None,
    key: ConsoleKey | None = None,
    pdf: bool | Path = False,
    keep_for_pack: bool = True,
) -> WrittenReport:
    """Sign and write the report. ``pdf``: True = beside the HTML, a Path = there.
    A PDF that cannot be made (no Pango, say) is reported in ``pdf_error``, never fatal:
    the signed HTML is the record."""
    out = Path(out_html)
    settings = settings if settings is not None else SettingsStore().load()
    key = key if key is not None else ConsoleKey.load_or_create()
    # A moving-line run (line_job.py) draws its own body; signing and keeping are shared.
    if isinstance(res, LineValidationResult):
        body = res.report_body(settings, key.fingerprint)
    else:
        body = build_report_body(res, settings, key.fingerprint)
    signed = sign_report(body, key)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, signed)
    json_path = out.with_suffix(".json")
    atomic_write(
        json_path,
        json.dumps(
            {
                **res.data,
                "site": settings.site,
                "technician": settings.technician,
                "signed_report": out.name,
                "key_fingerprint": key.fingerprint,
            },
            indent=2,
            sort_keys=True,
            default=str,
        ).encode("utf-8")
        + b"\n",
    )
    pdf_path: Path | None = None
    pdf_error = ""
    if pdf:
        from edgeconsole.commission.pdf import html_to_pdf
        from edgeconsole.core.errors import EdgeConsoleError

        target = out.with_suffix(".pdf") if pdf is True else Path(pdf)
        try:
            pdf_path = html_to_pdf(out, target)
        except EdgeConsoleError as exc:
            pdf_error = str(exc)
    kept: list[Path] = []
    if keep_for_pack:
        folder = ensure_dir(reports_dir())
        stem = f"{res.started.strftime('%Y%m%dT%H%M%SZ')}-{out.stem}"
        for src in (out, json_path, pdf_path):
            if src is None:
                continue
            dst = folder / f"{stem}{src.suffix}"
            shutil.copyfile(src, dst)
            kept.append(dst)
    return WrittenReport(out, json_path, pdf_path, kept, pdf_error)
