"""Parse JSON that came from outside, with its size and nesting depth bounded first.

``json.loads`` recurses once per nesting level: ``[[[[...]]]]`` a hundred thousand
deep raises ``RecursionError`` (a traceback from a CLI, an HTTP 500 from the agent,
a whole bundle-library scan lost to one hostile file), and a structure just under
the interpreter's limit blows up whatever walks it next. Every reader of outside
JSON (bundle manifests and signatures, evidence-pack files, agent request bodies,
gateway answers, recordings, datasets) goes through :func:`loads_bounded`:

1. the size is checked before anything else;
2. the text must be UTF-8 (so the byte scan below sees every bracket and quote);
3. the nesting depth is measured without parsing: strings are cut out with one
   linear regular-expression pass (an unterminated string runs to the end instead
   of being retried at every later quote, which would be quadratic) and the
   running depth of the remaining brackets is summed with numpy;
4. only then ``json.loads`` runs (a ``RecursionError`` it might still raise is
   turned into the same refusal).

A refusal is :class:`JSONRefused`: an :class:`EdgeConsoleError` (what, subject)
that is also a ``ValueError``, like ``json.JSONDecodeError``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from edgeconsole.core.errors import EdgeConsoleError

#: Deeper than any document of ours (manifests nest about 5 levels, OIP tensors as
#: nested lists about 6), far below the interpreter's recursion limit.
MAX_DEPTH = 64

# A JSON string: quote, then runs of plain characters or escapes, possessively (never
# backtracked), then the closing quote or the end of the text. Matching an
# unterminated string to the end keeps the pass linear.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.S)
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
# Opening brackets count +1, closing ones -1 (0xFF as int8).
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_SCAN_BLOCK = 1 << 22


class JSONRefused(EdgeConsoleError, ValueError):
    """Outside JSON that is too large, too deep, not UTF-8 or not JSON at all."""


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``data`` (UTF-8 JSON text) nest deeper than
    ``limit``; brackets inside strings do not count."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # not even that many brackets
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    steps = np.frombuffer(brackets.translate(_STEP), dtype=np.int8)
    depth, deepest = 0, 0
    for start in range(0, len(steps), _SCAN_BLOCK):
        running = np.cumsum(steps[start : start + _SCAN_BLOCK], dtype=np.int64) + depth
        if len(running):
            deepest = max(deepest, int(running.max()))
            depth = int(running[-1])
        if deepest > limit:
            return True
    return False


def loads_bounded(
    data: bytes | bytearray | memoryview | str,
    *,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    what: str = "the JSON document",
    subject: str | None = None,
) -> Any:
    """``json.loads`` for outside input: refused (:class:`JSONRefused`) when larger
    than ``max_bytes``, nested deeper than ``max_depth``, not UTF-8 or not JSON."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise JSONRefused(
            f"{what} is {len(raw)} bytes, over the limit of {max_bytes}", subject=subject
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONRefused(f"{what} is not valid JSON (not UTF-8 text)", subject=subject) from None
    if too_deep(raw, max_depth):
        raise JSONRefused(
            f"{what} is nested deeper than {max_depth} levels",
            subject=subject,
            hint="refused unparsed; it is not a document EdgeConsole writes",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONRefused(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            subject=subject,
        ) from None
    except RecursionError:  # not reachable after the depth scan; kept as a floor
        raise JSONRefused(f"{what} is nested too deeply", subject=subject) from None


__all__ = ["MAX_DEPTH", "JSONRefused", "loads_bounded", "too_deep"]
