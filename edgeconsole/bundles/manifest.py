"""The bundle manifest: what is in the bundle, for whom, until when, and how to run it.

One flat JSON object. Its bundle fields are checked here; its model-description
fields (``name, version, model, inputs, outputs, preprocess, head,
latency_budget_ms, golden, description, per_part``) are the model description of
``edgeconsole.inference.spec`` and are checked by the parser the caller hands to
the reader (bundles must not import inference; the CLI/session compose them).
Unknown fields are refused in both parts.

Files: ``name -> {length, sha256, chunks}``; ``chunks`` are SHA-256 hex digests of
consecutive ``chunk_size`` pieces (the last may be short), so a device can check
each piece as it arrives. ``chunk_size`` is one per bundle, a power of two of at
least 64 KiB, raised for very large bundles so the manifest stays under its cap.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edgeconsole.bundles.errors import BundleSchemaError
from edgeconsole.bundles.names import RESERVED, name_problem

BUNDLE_SPEC = "edgeconsole.bundle/1"
MAX_MANIFEST_BYTES = 1 << 20
MIN_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 64 * 1024 * 1024
#: Keeps the chunk list (about 67 bytes a chunk) well under the manifest cap.
MAX_TOTAL_CHUNKS = 8192
MAX_FILE_BYTES = (1 << 63) - 1
MAX_FILES = 64

BUNDLE_FIELDS = frozenset(
    {
        "spec",
        "bundle_id",
        "created",
        "expires",
        "hardware_ids",
        "min_agent_version",
        "chunk_size",
        "files",
        "quantization",
    }
)
MODEL_FIELDS = frozenset(
    {
        "name",
        "version",
        "model",
        "inputs",
        "outputs",
        "preprocess",
        "head",
        "latency_budget_ms",
        "golden",
        "description",
        "per_part",
    }
)
GOLDEN_FIELDS = frozenset({"input", "output", "tolerance"})
QUANT_MODES = ("none", "static-qdq", "dynamic")
QUANT_FIELDS = frozenset(
    {
        "mode",
        "activation_type",
        "weight_type",
        "per_channel",
        "calibration_samples",
        "source_sha256",
        "calibration_method",
    }
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: What a bundle id (and so a bundle's name, its default id) may be.
BUNDLE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ID_RE = BUNDLE_ID_RE
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_SEMVER_RE = re.compile(r"\d+\.\d+\.\d+")


def choose_chunk_size(total_bytes: int) -> int:
    size = MIN_CHUNK_SIZE
    while size < MAX_CHUNK_SIZE and -(-total_bytes // size) > MAX_TOTAL_CHUNKS:
        size *= 2
    return size


def chunk_count(length: int, chunk_size: int) -> int:
    return -(-length // chunk_size)


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, where: str, subject: str) -> datetime:
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value):
        raise BundleSchemaError(
            f"{where} must be a UTC time like 2026-01-31T12:00:00Z", subject=subject
        )
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise BundleSchemaError(f"{where} is not a valid time: {value}", subject=subject) from exc


def encode_manifest(obj: dict[str, Any]) -> bytes:
    """Canonical bytes: sorted keys, no spaces, ASCII. These exact bytes are signed."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


@dataclass(frozen=True)
class FileEntry:
    name: str
    length: int
    sha256: str
    chunks: tuple[str, ...]


@dataclass(frozen=True)
class PolicyFields:
    """The fields checked before the full schema (DESIGN section 5 order)."""

    hardware_ids: tuple[str, ...]
    version: int
    expires: datetime | None


@dataclass(frozen=True)
class Manifest:
    raw: dict[str, Any]
    bundle_id: str
    name: str
    version: int
    created: datetime
    expires: datetime | None
    hardware_ids: tuple[str, ...]
    min_agent_version: str | None
    chunk_size: int
    files: dict[str, FileEntry]
    quantization: dict[str, Any]
    model: str
    golden: dict[str, Any] | None

    def model_part(self) -> dict[str, Any]:
        """The model description inside the manifest, as the inference parser takes it."""
        return {k: v for k, v in self.raw.items() if k in MODEL_FIELDS}

    @property
    def payload_bytes(self) -> int:
        return sum(f.length for f in self.files.values())


def _int(
    value: Any, where: str, subject: str, minimum: int = 0, maximum: int = MAX_FILE_BYTES
) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise BundleSchemaError(
            f"{where} must be an integer in [{minimum}, {maximum}]", subject=subject
        )
    return value


def peek_policy_fields(obj: Any, subject: str) -> PolicyFields:
    if not isinstance(obj, dict):
        raise BundleSchemaError("manifest is not a JSON object", subject=subject)
    hw = obj.get("hardware_ids")
    if not isinstance(hw, list) or not hw or not all(isinstance(h, str) and h for h in hw):
        raise BundleSchemaError("hardware_ids must be a non-empty list of strings", subject=subject)
    version = _int(obj.get("version"), "version", subject)
    expires_raw = obj.get("expires")
    expires = None if expires_raw is None else parse_time(expires_raw, "expires", subject)
    return PolicyFields(hardware_ids=tuple(hw), version=version, expires=expires)


def _parse_files(obj: Any, chunk_size: int, subject: str) -> dict[str, FileEntry]:
    if not isinstance(obj, dict) or not obj:
        raise BundleSchemaError("files must be a non-empty object", subject=subject)
    if len(obj) > MAX_FILES:
        raise BundleSchemaError(f"more than {MAX_FILES} files", subject=subject)
    out: dict[str, FileEntry] = {}
    folded: set[str] = set()
    for name, entry in obj.items():
        problem = "reserved name" if name in RESERVED else name_problem(name)
        if problem:
            raise BundleSchemaError(f"files: name {name!r} refused: {problem}", subject=subject)
        if name.casefold() in folded:
            raise BundleSchemaError(
                f"files: {name!r} differs from another only by case", subject=subject
            )
        folded.add(name.casefold())
        where = f"files[{name!r}]"
        if not isinstance(entry, dict):
            raise BundleSchemaError(f"{where} must be an object", subject=subject)
        unknown = sorted(set(entry) - {"length", "sha256", "chunks"})
        if unknown:
            raise BundleSchemaError(
                f"unknown field(s) {', '.join(unknown)} in {where}", subject=subject
            )
        length = _int(entry.get("length"), f"{where}.length", subject)
        digest = entry.get("sha256")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise BundleSchemaError(
                f"{where}.sha256 must be 64 lowercase hex digits", subject=subject
            )
        chunks = entry.get("chunks")
        if not isinstance(chunks, list) or not all(
            isinstance(c, str) and _HEX64.fullmatch(c) for c in chunks
        ):
            raise BundleSchemaError(
                f"{where}.chunks must be a list of SHA-256 hex digests", subject=subject
            )
        expected = chunk_count(length, chunk_size)
        if len(chunks) != expected:
            raise BundleSchemaError(
                f"{where} has {len(chunks)} chunk hashes; length {length} at chunk size "
                f"{chunk_size} needs {expected}",
                subject=subject,
            )
        out[name] = FileEntry(name=name, length=length, sha256=digest, chunks=tuple(chunks))
    return out


def _parse_quantization(obj: Any, subject: str) -> dict[str, Any]:
    if obj is None:
        return {"mode": "none"}
    if not isinstance(obj, dict):
        raise BundleSchemaError("quantization must be an object", subject=subject)
    unknown = sorted(set(obj) - QUANT_FIELDS)
    if unknown:
        raise BundleSchemaError(
            f"unknown field(s) {', '.join(unknown)} in quantization", subject=subject
        )
    if obj.get("mode") not in QUANT_MODES:
        raise BundleSchemaError(
            f"quantization.mode must be one of {', '.join(QUANT_MODES)}", subject=subject
        )
    return dict(obj)


def _parse_golden(obj: Any, files: dict[str, FileEntry], subject: str) -> dict[str, Any] | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise BundleSchemaError("golden must be an object", subject=subject)
    unknown = sorted(set(obj) - GOLDEN_FIELDS)
    if unknown:
        raise BundleSchemaError(f"unknown field(s) {', '.join(unknown)} in golden", subject=subject)
    for key in ("input", "output"):
        name = obj.get(key)
        if not isinstance(name, str) or name not in files or not name.endswith(".npy"):
            raise BundleSchemaError(f"golden.{key} must name a listed .npy file", subject=subject)
    tol = obj.get("tolerance")
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 <= tol < 1e9:
        raise BundleSchemaError("golden.tolerance must be a non-negative number", subject=subject)
    return dict(obj)


def parse_manifest(obj: Any, subject: str) -> Manifest:
    """Check the bundle part strictly; refuse unknown fields anywhere at the top level."""
    if not isinstance(obj, dict):
        raise BundleSchemaError("manifest is not a JSON object", subject=subject)
    unknown = sorted(set(obj) - BUNDLE_FIELDS - MODEL_FIELDS)
    if unknown:
        raise BundleSchemaError(
            f"unknown field(s) {', '.join(unknown)} in manifest",
            subject=subject,
            hint="the bundle was made by an incompatible tool, or edited",
        )
    if obj.get("spec") != BUNDLE_SPEC:
        raise BundleSchemaError(
            f"manifest spec is {obj.get('spec')!r}, expected {BUNDLE_SPEC}", subject=subject
        )
    for key in ("bundle_id", "created", "files", "chunk_size", "model", "name", "version"):
        if key not in obj:
            raise BundleSchemaError(f"manifest has no '{key}'", subject=subject)
    policy = peek_policy_fields(obj, subject)
    bundle_id = obj["bundle_id"]
    if not isinstance(bundle_id, str) or not _ID_RE.fullmatch(bundle_id):
        raise BundleSchemaError(
            "bundle_id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}", subject=subject
        )
    name = obj["name"]
    if not isinstance(name, str) or not name:
        raise BundleSchemaError("name must be a non-empty string", subject=subject)
    chunk_size = _int(obj["chunk_size"], "chunk_size", subject, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE)
    if chunk_size & (chunk_size - 1):
        raise BundleSchemaError("chunk_size must be a power of two", subject=subject)
    files = _parse_files(obj["files"], chunk_size, subject)
    model = obj["model"]
    if not isinstance(model, str) or model not in files or not model.endswith(".onnx"):
        raise BundleSchemaError("model must name a listed .onnx file", subject=subject)
    mav = obj.get("min_agent_version")
    if mav is not None and (not isinstance(mav, str) or not _SEMVER_RE.fullmatch(mav)):
        raise BundleSchemaError("min_agent_version must look like 1.2.3", subject=subject)
    return Manifest(
        raw=obj,
        bundle_id=bundle_id,
        name=name,
        version=policy.version,
        created=parse_time(obj["created"], "created", subject),
        expires=policy.expires,
        hardware_ids=policy.hardware_ids,
        min_agent_version=mav,
        chunk_size=chunk_size,
        files=files,
        quantization=_parse_quantization(obj.get("quantization"), subject),
        model=model,
        golden=_parse_golden(obj.get("golden"), files, subject),
    )


def nested_model_files(manifest: Manifest) -> list[str]:
    """Every ONNX file the manifest names: the model and, for text-detect, the
    orientation classifier nested in the head."""
    out = [manifest.model]
    head = manifest.raw.get("head")
    if isinstance(head, dict):
        orientation = head.get("orientation")
        if isinstance(orientation, dict) and isinstance(orientation.get("model"), str):
            out.append(orientation["model"])
    return out


def agent_version_ok(required: str | None, have: str) -> bool:
    if required is None:
        return True
    return tuple(int(x) for x in required.split(".")) <= tuple(int(x) for x in have.split(".")[:3])
