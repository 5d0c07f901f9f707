"""The truth of a moving-line commissioning run, and matching decided parts to it.

``parts.csv`` has the header ``frame,label``: one row per physical part, the frame
on which its centre crosses the trigger line (0-based, as ``run --json`` counts)
and the verdict the model should give (``ok``, ``rotated 180``, ...). Read
strictly: a missing or different header, a frame that is not a whole number, an
empty label, a label the model never gives, two rows on the same frame, a frame
past the end of the video or an oversized file are refused with the row numbers,
before anything runs.

Matching (``match``): a decided part matches a truth row when its trigger frame is
within ``tolerance`` frames (3) of the row's; pairs are made closest first, each
row and each decision used once. Rows left over are missed parts; decisions left
over are extra parts (a part the line does not have, or one decided twice).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.parts import PartDecision
from edgeconsole.inference.spec import ModelSpec

TOLERANCE = 3
MAX_TRUTH_BYTES = 8 * 1024 * 1024
MAX_ROWS = 200_000
MAX_LABEL = 64
TEXT_VERDICTS = ("ok", "rotated 180", "unreadable", "missing label")


@dataclass(frozen=True, slots=True)
class TruthRow:
    line: int  # row number in the file (the header is row 1)
    frame: int
    label: str


def possible_verdicts(spec: ModelSpec) -> tuple[str, ...]:
    """Every verdict a per-part model can give (what a truth label may be)."""
    pp = getattr(spec, "per_part", None)
    if pp is None:
        raise ConfigError(
            "this model does not decide parts: a moving-line run needs a per_part section",
            subject=spec.name,
            hint="validate it with --dataset, or pick a per-part bundle",
        )
    out: list[str] = []
    if spec.head.type == "classify":
        out += [pp.verdict_for(label) for label in spec.head.labels]
        out.append(pp.uncertain)
    else:
        out += list(TEXT_VERDICTS)
    out += [pp.roi.missing_verdict, pp.roi.unreadable_verdict]
    return tuple(dict.fromkeys(out))


def load_truth(
    path: str | Path,
    verdicts: tuple[str, ...],
    *,
    frames: int | None = None,
) -> list[TruthRow]:
    """Read and check ``parts.csv``; ``frames``: the video's frame count when known."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_TRUTH_BYTES:
            raise ConfigError(
                f"truth file is {size} bytes (limit {MAX_TRUTH_BYTES})",
                subject=str(p),
                hint="one row per part: frame,label",
            )
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("truth file not found", subject=str(p)) from None
    except IsADirectoryError:
        raise ConfigError("the truth is a folder, not a CSV file", subject=str(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the truth file: {exc.strerror}", subject=str(p)) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the truth file is not UTF-8 text (byte {exc.start})",
            subject=str(p),
            hint="save it as CSV (UTF-8) with the header frame,label",
        ) from None
    if "\x00" in text:
        raise ConfigError("the truth file holds NUL bytes: not a CSV", subject=str(p))
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip().lower() for c in rows[0]] != ["frame", "label"]:
        got = ",".join(rows[0]) if rows else "(empty file)"
        raise ConfigError(
            f"the truth file must start with the header frame,label (got {got[:80]!r})",
            subject=str(p),
            hint="one row per part: the frame its centre crosses the line, the expected verdict",
        )
    out: list[TruthRow] = []
    problems: list[str] = []
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(out) >= MAX_ROWS:
            raise ConfigError(f"the truth file has more than {MAX_ROWS} parts", subject=str(p))
        if len(row) != 2:
            problems.append(f"row {n}: {len(row)} fields, expected 2 (frame,label)")
            continue
        f, label = row[0].strip(), row[1].strip()
        if not f.isdigit() or len(f) > 9:
            problems.append(f"row {n}: frame {f[:20]!r} is not a whole number >= 0")
            continue
        if not label or len(label) > MAX_LABEL or not label.isprintable():
            problems.append(f"row {n}: the label is empty, too long or not printable")
            continue
        out.append(TruthRow(n, int(f), label))
    if problems:
        raise ConfigError(
            f"{len(problems)} bad row(s) in the truth file: " + "; ".join(problems[:5]),
            subject=str(p),
            hint="each row: frame (0-based, whole number), label",
        )
    unknown = sorted({r.label for r in out} - set(verdicts))
    if unknown:
        where = ", ".join(f"row {r.line}" for r in out if r.label in unknown)[:120]
        raise ConfigError(
            f"label(s) {', '.join(repr(u) for u in unknown)} in the truth file are not "
            f"verdicts of the model ({where})",
            subject=str(p),
            hint=f"the model gives: {', '.join(verdicts)}",
        )
    if frames is not None:
        late = [r for r in out if r.frame >= frames]
        if late:
            raise ConfigError(
                f"{len(late)} truth row(s) name frames past the end of the video "
                f"({frames} frames, 0..{frames - 1}): "
                + ", ".join(f"row {r.line} frame {r.frame}" for r in late[:5]),
                subject=str(p),
                hint="is this the truth of another video, or counted from 1?",
            )
    out.sort(key=lambda r: r.frame)
    for a, b in pairwise(out):
        if b.frame == a.frame:
            raise ConfigError(
                f"rows {a.line} and {b.line} both say a part crosses at frame {a.frame}",
                subject=str(p),
                hint="one row per part; two parts cannot cross the line on the same frame",
            )
    if not out:
        raise ConfigError("the truth file lists no parts", subject=str(p))
    return out


@dataclass
class Match:
    pairs: list[tuple[TruthRow, PartDecision]]
    missed: list[TruthRow]  # no decision for this part (or its decision was MISSED)
    extra: list[PartDecision]  # decisions no truth row accounts for

    def to_json(self) -> dict[str, Any]:
        return {
            "matched": len(self.pairs),
            "missed": [{"row": r.line, "frame": r.frame, "label": r.label} for r in self.missed],
            "extra": [d.to_json() for d in self.extra],
        }


def match(
    decisions: list[PartDecision], truth: list[TruthRow], tolerance: int = TOLERANCE
) -> Match:
    """Pair decisions with truth rows (trigger frames within ``tolerance``), closest
    first. A MISSED record never matches: its part counts as missed."""
    decided = [d for d in decisions if not d.missed]
    cands = sorted(
        (abs(d.trigger_frame - r.frame), i, j)
        for i, r in enumerate(truth)
        for j, d in enumerate(decided)
        if abs(d.trigger_frame - r.frame) <= tolerance
    )
    used_r: set[int] = set()
    used_d: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, i, j in cands:
        if i in used_r or j in used_d:
            continue
        used_r.add(i)
        used_d.add(j)
        pairs.append((i, j))
    pairs.sort()
    return Match(
        pairs=[(truth[i], decided[j]) for i, j in pairs],
        missed=[r for i, r in enumerate(truth) if i not in used_r],
        extra=[d for j, d in enumerate(decided) if j not in used_d],
    )
