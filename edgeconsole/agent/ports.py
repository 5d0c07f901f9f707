"""What the agent needs from its sibling layers, as plain callables and protocols.

The composition root (``edgeconsole agent`` in the CLI layer) fills these from
``bundles`` (manifest and bundle verification), ``inference`` (model loading and
the health check) and ``sources`` (the cameras). Tests compose the same way, so
the agent is always exercised with the real parts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeconsole.core.frames import Frame, InferenceResult
from edgeconsole.core.source import FrameSource


@dataclass(frozen=True)
class FileChunks:
    """One payload file of a bundle as its signed manifest lists it."""

    length: int
    chunks: tuple[str, ...]  # SHA-256 hex of consecutive chunk_size pieces
    sha256: str = ""  # SHA-256 hex of the whole file ("" when the manifest gave none)


@dataclass(frozen=True)
class FileDigest:
    """A payload file as the upload checker hashed it: where its data starts in
    the archive, how long it is, and the SHA-256 of exactly those bytes."""

    offset: int
    length: int
    sha256: str


@dataclass(frozen=True)
class ManifestView:
    """The parts of a verified manifest the agent uses while bytes arrive."""

    bundle_id: str
    name: str
    version: int
    chunk_size: int
    files: dict[str, FileChunks]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    datatype: str  # OIP datatype: FP32, UINT8, INT64, ...
    shape: tuple[int, ...]  # -1 for a dynamic dimension


class ModelHandle(Protocol):
    """A loaded model the agent serves over OIP and runs on its cameras."""

    name: str
    version: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    platform: str

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def process(self, frame: Frame) -> InferenceResult: ...

    def close(self) -> None: ...


class VerifyManifest(Protocol):
    """``(manifest_bytes, signature_bytes, installed_version) -> ManifestView``;
    raises a BundleError subclass when the signature, hardware id, version (lower
    than ``installed_version``, unless that is None) or schema is refused."""

    def __call__(
        self, manifest: bytes, signature: bytes, installed_version: int | None = None, /
    ) -> ManifestView: ...


class VerifyBundle(Protocol):
    """``(path, hashed, installed_version) -> ManifestView``: the full verification
    of a staged bundle file. ``hashed`` (or None) names payload files whose bytes
    the upload checker already hashed while writing them (their chunk and
    whole-file hashes matched the signed manifest), so the verifier need not hash
    them again."""

    def __call__(
        self,
        path: Path,
        hashed: Mapping[str, FileDigest] | None = None,
        installed_version: int | None = None,
        /,
    ) -> ManifestView: ...


#: ``(path) -> ModelHandle``: a bundle (``.ecb``) or a model folder.
LoadModel = Callable[[Path], ModelHandle]
#: ``(bundle_path) -> report``; runs in a child process, so it must be a
#: module-level function (picklable by reference). The report is a dict with at
#: least ``ok`` (bool) and ``reason`` (str).
HealthCheck = Callable[[str], dict[str, Any]]
#: ``(spec) -> FrameSource`` (unopened).
OpenSource = Callable[[str], FrameSource]


@dataclass
class AgentPorts:
    verify_manifest: VerifyManifest
    verify_bundle: VerifyBundle
    load_model: LoadModel
    health_check: HealthCheck
    open_source: OpenSource | None = None
