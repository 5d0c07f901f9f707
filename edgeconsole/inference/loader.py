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
