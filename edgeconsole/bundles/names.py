"""Which member names a bundle may hold.

Names are flat, short, ASCII file names with a known extension. Anything else
(``..``, absolute paths, drive letters, backslashes, ``./`` prefixes, directories,
control characters) is refused, never rewritten: a rewritten name is a different
archive from the one that was signed.
"""

from __future__ import annotations

import re

from edgeconsole.bundles.errors import BundleFormatError

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
RESERVED = frozenset({MANIFEST_NAME, SIGNATURE_NAME})

#: Extensions a payload file may have: models, ONNX external data, golden tensors, text.
ALLOWED_EXTENSIONS = (".onnx", ".data", ".bin", ".npy", ".json", ".txt")

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def name_problem(name: str) -> str | None:
    """Why ``name`` is not an acceptable payload name, or None if it is."""
    if not name:
        return "empty name"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/"):
        return "absolute path"
    if len(name) >= 2 and name[1] == ":":
        return "drive-letter path"
    if "/" in name:
        parts = name.split("/")
        if ".." in parts:
            return "'..' in path"
        if parts[0] == ".":
            return "'./' prefix"
        return "directories are not allowed in a bundle"
    if name in (".", ".."):
        return "'..' in path"
    if ".." in name:
        return "'..' in name"
    if not _NAME_RE.fullmatch(name):
        return "characters outside [A-Za-z0-9_.-] or longer than 100"
    if not name.lower().endswith(ALLOWED_EXTENSIONS):
        return f"extension not one of {', '.join(ALLOWED_EXTENSIONS)}"
    return None


def check_payload_name(name: str, subject: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise BundleFormatError(
            f"member name {name!r} refused: {problem}",
            subject=subject,
            hint="bundle members are flat file names; rebuild with 'edgeconsole bundle build'",
        )
