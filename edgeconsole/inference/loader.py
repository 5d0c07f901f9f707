"""Find a model description from what a person points at: a file or a folder.

``load_model`` accepts a ``model.json`` or a folder holding one. A bare ``.onnx``
is refused with an explanation: EdgeConsole needs a description of how to feed and
read a model. Bundles (``.ecb``) are opened by the session through the bundles
package (signature and hash checks first), never here: see ``BUNDLE_SUFFIX``.
"""

from __future__ import annotations

from pathlib import Path

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.spec import ModelSpec, load_model_spec

DESCRIPTION_NAME = "model.json"
#: Signed model bundles; the session routes these to edgeconsole.bundles before
#: calling InferenceEngine.load(spec, model_bytes=...) with the verified payload.
BUNDLE_SUFFIX = ".ecb"

_SNIFF_BYTES = 512


def _sniff(path: Path) -> str:
    """'json', 'onnx', 'tar' or 'unknown', from the first bytes of the file."""
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError as exc:
        raise ConfigError(
            f"cannot read model file: {exc.strerror or exc}", subject=str(path)
        ) from exc
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return "json"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    # An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    if head[:1] == b"\x08":
        return "onnx"
    return "unknown"


def not_onnx(head: bytes) -> str | None:
    """What the first bytes of a file are when they cannot start an ONNX model, or None.

    An ONNX ModelProto is protobuf whose first field is ``ir_version`` (tag 0x08);
    anything else is named so a person knows what they picked instead."""
    if head[:1] == b"\x08":
        return None
    if not head:
        return "nothing (the file is empty)"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "a PNG image"
    if head[:3] == b"\xff\xd8\xff":
        return "a JPEG image"
    if head[:4] == b"PK\x03\x04":
        return "a ZIP archive (a PyTorch checkpoint or a zipped model? export it to ONNX)"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return f"a tar archive (a model bundle? name it *{BUNDLE_SUFFIX})"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return "JSON text (a model description? name it model.json)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data that is not an ONNX model (no ONNX header)"
    if all(c.isprintable() or c in "\r\n\t" for c in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"text ({first!r})" if first else "blank text"
    return "binary data that is not an ONNX model (no ONNX header)"


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_SNIFF_BYTES)
    except OSError as exc:
        raise ConfigError(
            f"cannot read model file: {exc.strerror or exc}", subject=str(path)
        ) from exc


def load_model(path: str | Path) -> ModelSpec:
    """A ModelSpec from a model.json or a folder holding one, with clear refusals."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(
            "model not found",
            subject=str(p),
            hint="give a model.json, a folder holding one, or a bundle (.ecb)",
        )
    if p.is_dir():
        if not (p / DESCRIPTION_NAME).is_file():
            raise ConfigError(
                f"folder has no {DESCRIPTION_NAME}",
                subject=str(p),
                hint="a model folder holds model.json beside its ONNX files",
            )
        return load_model_spec(p / DESCRIPTION_NAME)
    if p.suffix.lower() == BUNDLE_SUFFIX:
        raise ConfigError(
            "model bundles are opened through the session (signature check "
            "first), not as a bare description",
            subject=str(p),
            hint="open it from the model picker or `edgeconsole run --model`",
        )
    if p.suffix.lower() == ".json":
        return load_model_spec(p)  # the strict parser says exactly what is wrong
    kind = _sniff(p)
    if p.suffix.lower() == ".onnx" and kind != "onnx":
        what = not_onnx(_head(p))
        raise ConfigError(
            f"not an ONNX model: the file holds {what}",
            subject=str(p),
            hint="give the model's description (model.json), a folder holding one and its "
            f"ONNX file, or a bundle ({BUNDLE_SUFFIX})",
        )
    if p.suffix.lower() == ".onnx" or kind == "onnx":
        raise ConfigError(
            "an ONNX file alone does not say how to feed or read the model",
            subject=str(p),
            hint=f"put a {DESCRIPTION_NAME} beside it (inputs, preprocess, head) and open that, "
            "or open a model bundle (.ecb)",
        )
    if kind == "tar":
        raise ConfigError(
            "this looks like a model bundle; bundles are opened through the session",
            subject=str(p),
            hint=f"name it *{BUNDLE_SUFFIX}",
        )
    if kind != "json":
        raise ConfigError(
            "not a model description (JSON) or an ONNX model",
            subject=str(p),
            hint=f"give a {DESCRIPTION_NAME}, a folder holding one, or a bundle ({BUNDLE_SUFFIX})",
        )
    return load_model_spec(p)
