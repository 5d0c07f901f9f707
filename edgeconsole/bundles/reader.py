"""The one way to open a bundle: verify everything, in the order of DESIGN section 5.

size-capped manifest read -> signatures (threshold, one per distinct key) ->
hardware id -> version not lower than installed -> expiry -> schema (unknown
fields refused) -> payload, hashed while it streams -> ONNX checks.

Nothing on disk changes unless the whole bundle verifies: ``mode="verify"``
writes nothing, ``mode="memory"`` keeps the files in memory, ``mode="extract"``
writes into a temporary folder beside ``dest`` and renames it into place only at
the end. The archive is read once, so what was verified is what is returned.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconsole.bundles.errors import BundleFormatError, BundleSignatureError
from edgeconsole.bundles.manifest import MAX_MANIFEST_BYTES, Manifest
from edgeconsole.bundles.signing import MAX_SIG_BYTES, parse_signatures, verify_one
from edgeconsole.bundles.tarstream import TarHeaderReader, scan_layout
from edgeconsole.bundles.trust import TrustStore
from edgeconsole.bundles.verifier import (
    MAX_MEMORY_BYTES,
    READ_SIZE,
    DescribeFn,
    DirSink,
    MemorySink,
    Mode,
    PrehashedFile,
    SignerStatus,
    Sink,
    Verifier,
    VerifyPolicy,
    check_head,
)

__all__ = [
    "MAX_MEMORY_BYTES",
    "READ_SIZE",
    "DescribeFn",
    "Mode",
    "PrehashedFile",
    "SignerStatus",
    "VerifiedBundle",
    "VerifyPolicy",
    "read_bundle",
    "signer_report",
    "verify_head",
]


@dataclass(frozen=True)
class VerifiedBundle:
    path: Path
    size: int
    manifest: Manifest
    manifest_bytes: bytes
    signature_bytes: bytes | None
    signers: tuple[SignerStatus, ...]
    trusted: bool
    description: Any
    files: dict[str, bytes] | None = None
    root: Path | None = None
    external_data: dict[str, set[str]] = field(default_factory=dict)

    def file_bytes(self, name: str) -> bytes:
        if self.files is not None:
            return self.files[name]
        if self.root is not None:
            return (self.root / name).read_bytes()
        raise BundleFormatError(
            "bundle was verified without keeping its files",
            subject=str(self.path),
            hint="open it with mode='memory'",
        )

    @property
    def model_bytes(self) -> bytes:
        return self.file_bytes(self.manifest.model)

    @property
    def verified_signers(self) -> list[str]:
        return [s.key_id for s in self.signers if s.status == "verified"]


def verify_head(
    manifest_bytes: bytes,
    sig_bytes: bytes | None,
    trust: TrustStore,
    *,
    describe: DescribeFn | None,
    policy: VerifyPolicy | None = None,
    subject: str = "bundle",
) -> Manifest:
    """The checks :func:`read_bundle` runs before the payload, on the first two
    members given as bytes (e.g. as they arrive over the network), in the same
    order and with the same messages: size caps -> signatures (``trust`` is
    required: there is no unchecked mode here) -> hardware id -> version ->
    expiry -> schema. Returns the parsed manifest; raises a BundleError subclass.
    """
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise BundleFormatError(
            f"manifest is {len(manifest_bytes)} bytes, over the {MAX_MANIFEST_BYTES}-byte cap",
            subject=subject,
        )
    if sig_bytes is not None and len(sig_bytes) > MAX_SIG_BYTES:
        raise BundleSignatureError("manifest.sig is larger than 64 KiB", subject=subject)
    v = Verifier(Path(subject), trust, describe, policy or VerifyPolicy(), None, None)
    v.subject = subject
    _, _, manifest, _ = check_head(v, manifest_bytes, sig_bytes)
    return manifest


def signer_report(
    manifest_bytes: bytes, sig_bytes: bytes | None, trust: TrustStore
) -> tuple[list[SignerStatus], bool, str]:
    """Who signed, checked against ``trust`` without raising (for inspect):
    the statuses, whether the threshold is met, and a one-line reason if not."""
    v = Verifier(Path("bundle"), trust, None, VerifyPolicy(), None, None)
    try:
        statuses, ok = v.check_signatures(manifest_bytes, sig_bytes)
        return list(statuses), ok, ""
    except BundleSignatureError as exc:
        try:
            entries = [] if sig_bytes is None else parse_signatures(sig_bytes, "bundle")
        except BundleSignatureError:
            return [], False, exc.what  # the file itself is unreadable: nobody to list
        out = []
        for e in entries:
            key = trust.keys.get(e.key_id)
            if key is None:
                out.append(SignerStatus(e.key_id, "unknown key"))
            elif verify_one(key.public_key, e.signature, manifest_bytes):
                out.append(SignerStatus(e.key_id, "verified", key.label))
            else:
                out.append(SignerStatus(e.key_id, "bad signature", key.label))
        return out, False, exc.what


def read_bundle(
    path: str | Path,
    trust: TrustStore | None,
    *,
    describe: DescribeFn | None,
    policy: VerifyPolicy | None = None,
    mode: Mode = "verify",
    dest: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    prehashed: Mapping[str, PrehashedFile] | None = None,
) -> VerifiedBundle:
    """Verify a bundle and return it; raise a BundleError subclass on any refusal.

    ``prehashed`` (see :class:`PrehashedFile`) lets a caller that hashed payload
    files while writing them skip their second hashing; every other check (head,
    member names, layout, ONNX) still runs, and files kept in memory are read.

    ``trust=None`` checks everything except who signed it (for ``inspect``): the
    result then has ``trusted=False`` and must not be run.
    """
    p = Path(path)
    v = Verifier(p, trust, describe, policy or VerifyPolicy(), progress, cancel)
    if mode == "extract":
        if dest is None:
            raise ValueError("mode='extract' needs dest")
        if dest.exists():
            raise BundleFormatError(
                "extraction folder already exists",
                subject=str(dest),
                hint="extract into a new folder",
            )
    try:
        f = open(p, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BundleFormatError(
            f"cannot open bundle: {exc.strerror or exc}", subject=str(p)
        ) from exc
    tmp_root: Path | None = None
    try:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise BundleFormatError("not a regular file", subject=str(p))
        # The archive's shape first: a cut-short file says "truncated" (not whatever
        # its manifest would be refused for), and data appended after the end marker
        # is refused from the file size before a byte of it is read.
        scan_layout(f, v.subject)
        hdr = TarHeaderReader(f, v.subject)
        manifest_bytes, sig = v.read_head(f, hdr)
        signers, trusted, manifest, described = check_head(v, manifest_bytes, sig)
        sink: Sink
        if mode == "extract":
            assert dest is not None
            tmp_root = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
            sink = DirSink(tmp_root)
        else:
            if mode == "memory" and manifest.payload_bytes > MAX_MEMORY_BYTES:
                raise BundleFormatError(
                    "bundle too large to open in memory",
                    subject=v.subject,
                    hint="extract it instead",
                )
            sink = MemorySink(lambda n: mode == "memory" or n.endswith(".onnx"))
        # Files the sink keeps (every file when extracting) are always read.
        keep = sink.keep if isinstance(sink, MemorySink) else None
        v.stream_payload(f, hdr, manifest, sink, None if mode == "extract" else prehashed, keep)
        mem = sink.files if isinstance(sink, MemorySink) else None
        used = v.check_models(manifest, mem, tmp_root)
        root = None
        if tmp_root is not None and dest is not None:
            tmp_root.rename(dest)
            tmp_root = None
            root = dest
            dir_fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return VerifiedBundle(
            path=p,
            size=st.st_size,
            manifest=manifest,
            manifest_bytes=manifest_bytes,
            signature_bytes=sig,
            signers=signers,
            trusted=trusted,
            description=described,
            files=mem if mode == "memory" else None,
            root=root,
            external_data=used,
        )
    finally:
        f.close()
        if tmp_root is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp_root)
