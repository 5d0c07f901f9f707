"""Keep the bearer token out of the agent's log output.

The agent itself never logs a request, but aiohttp does when it cannot parse one:
a request whose ``Authorization`` header holds an invalid character is logged as
"Error handling request" with the raw header line in the traceback, token and
all. A filter on the loggers of aiohttp (and asyncio, whose "Task exception was
never retrieved" can carry a request) rewrites every record before any handler
sees it:

- the value of any ``Authorization:`` header and anything after ``Bearer`` become
  ``[redacted]``;
- any run of eight or more characters of a token the agent holds becomes
  ``[redacted]`` too (a token split by an invalid byte is still found);
- the traceback is folded into the (redacted) message, so no formatter can print
  the raw exception again.
"""

from __future__ import annotations

import logging
import re
import threading

#: Loggers whose records may quote a request.
LOGGERS = (
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.access",
    "aiohttp.internal",
    "aiohttp.websocket",
    "asyncio",
)
REDACTED = "[redacted]"
FRAGMENT = 8
_HEADER = re.compile(r"(?i)(authorization\s*:\s*)[^\r\n'\"]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


def redact(text: str, secrets: frozenset[str]) -> str:
    text = _HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    # Every place any eight-character piece of a secret occurs, merged into spans
    # (overlapping pieces cover the whole visible part of the secret).
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        width = min(FRAGMENT, len(secret))
        for i in range(max(0, len(secret) - width) + 1):
            piece = secret[i : i + width]
            at = text.find(piece) if piece else -1
            while at >= 0:
                spans.append((at, at + width))
                at = text.find(piece, at + 1)
    if not spans:
        return text
    out, pos = [], 0
    for start, end in sorted(spans):
        if start > pos:
            out.append(text[pos:start])
            out.append(REDACTED)
        elif not out:
            out.append(REDACTED)
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)


class _RedactingFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, int] = {}  # token -> agents holding it (tests run several)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self._formatter.formatException(record.exc_info)}"
        elif record.exc_text:
            text = f"{text}\n{record.exc_text}"
        if record.stack_info:
            text = f"{text}\n{record.stack_info}"
        record.msg = redact(text, frozenset(self.secrets))
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


_filter = _RedactingFilter()
_lock = threading.Lock()
_installed = False


def protect(token: str) -> None:
    """Redact ``token`` (and every header that carries a token) from now on."""
    global _installed
    with _lock:
        _filter.secrets[token] = _filter.secrets.get(token, 0) + 1
        if not _installed:
            for name in LOGGERS:
                logging.getLogger(name).addFilter(_filter)
            _installed = True


def release(token: str) -> None:
    """The agent holding ``token`` stopped (header redaction stays on)."""
    with _lock:
        left = _filter.secrets.get(token, 0) - 1
        if left > 0:
            _filter.secrets[token] = left
        else:
            _filter.secrets.pop(token, None)
