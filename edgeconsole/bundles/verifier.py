"""The checks behind :func:`bundles.reader.read_bundle`, one method a step, in the
order of DESIGN section 5: the size-capped head, signatures (threshold, one per
distinct key), hardware id, version, expiry, schema, the payload hashed while it
streams into a sink (memory or a folder), then the ONNX checks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from edgeconsole.bundles.errors import (
    BundleFormatError,
    BundleIncompatibleError,
    BundleSchemaError,
    BundleSignatureError,
    BundleTamperedError,
)
from edgeconsole.bundles.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    agent_version_ok,
    nested_model_files,
    parse_manifest,
    peek_policy_fields,
)
from edgeconsole.bundles.names import MANIFEST_NAME, RESERVED, SIGNATURE_NAME, name_problem
from edgeconsole.bundles.onnx_check import check_external_data, parse_model_proto
from edgeconsole.bundles.signing import MAX_SIG_BYTES, parse_signatures, verify_one
from edgeconsole.bundles.tarstream import TarHeaderReader, TarMember
from edgeconsole.bundles.trust import TrustStore
from edgeconsole.core.errors import Cancelled, EdgeConsoleError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

READ_SIZE = 1 << 20
#: Files kept in memory by ``mode="memory"`` may total at most this much.
MAX_MEMORY_BYTES = 1 << 30

#: Parses the model-description part of the manifest (``ModelSpec.parse`` in
#: practice); raises an EdgeConsoleError on a bad description.
DescribeFn = Callable[[dict[str, Any]], Any]
Mode = Literal["verify", "memory", "extract"]


@dataclass(frozen=True)
class VerifyPolicy:
    hardware_id: str | None = None  # None: not checked (e.g. inspecting on the laptop)
    installed_version: int | None = None
    now: datetime | None = None  # None: the current time
    check_expiry: bool = True
    agent_version: str | None = None


@dataclass(frozen=True)
class SignerStatus:
    key_id: str
    status: str  # "verified", "unknown key", "bad signature", "duplicate", "not checked"
    label: str | None = None


@dataclass(frozen=True)
class PrehashedFile:
    """A payload file whose exact bytes the caller already hashed, in this archive.

    ``offset`` is where the member's data starts in the archive file and ``length``
    its size; ``sha256`` is the digest of those bytes, computed while the caller
    wrote them there (e.g. the agent receiving an upload, every chunk already
    compared with the signed chunk hashes). :func:`read_bundle` skips re-hashing
    a member only when all three match what it finds and what is signed, so a
    stale or misplaced digest simply means the member is hashed again.
    """

    offset: int
    length: int
    sha256: str


class Sink:
    def open(self, name: str) -> None: ...
    def write(self, data: memoryview) -> None: ...
    def close(self) -> None: ...


class MemorySink(Sink):
    def __init__(self, keep: Callable[[str], bool]) -> None:
        self.keep = keep
        self.files: dict[str, bytes] = {}
        self._name: str | None = None
        self._buf: bytearray | None = None

    def open(self, name: str) -> None:
        self._name = name
        self._buf = bytearray() if self.keep(name) else None

    def write(self, data: memoryview) -> None:
        if self._buf is not None:
            self._buf += data

    def close(self) -> None:
        if self._buf is not None and self._name is not None:
            self.files[self._name] = bytes(self._buf)
        self._buf = None


class DirSink(Sink):
    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None

    def open(self, name: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        self._fd = os.open(self.root / name, flags, 0o644)

    def write(self, data: memoryview) -> None:
        assert self._fd is not None
        view = data
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


def _chunk_mismatch(
    data: memoryview, chunk_size: int, expected: tuple[str, ...], first: int
) -> int | None:
    for i, start in enumerate(range(0, len(data), chunk_size)):
        if hashlib.sha256(data[start : start + chunk_size]).hexdigest() != expected[first + i]:
            return first + i
    return None


class Verifier:
    def __init__(
        self,
        path: Path,
        trust: TrustStore | None,
        describe: DescribeFn | None,
        policy: VerifyPolicy,
        progress: Callable[[int, int], None] | None,
        cancel: Callable[[], bool] | None,
    ) -> None:
        self.path = path
        self.subject = path.name
        self.trust = trust
        self.describe = describe
        self.policy = policy
        self.progress = progress
        self.cancel = cancel

    # -- the fixed-order steps -------------------------------------------------

    def _read_member(self, f: BinaryIO, hdr: TarHeaderReader, m: TarMember) -> bytes:
        data = f.read(m.size)
        if len(data) != m.size:
            raise BundleFormatError("archive is truncated", subject=self.subject)
        hdr.advance(m.size)
        hdr.skip_padding(m.size)
        return data

    def read_head(self, f: BinaryIO, hdr: TarHeaderReader) -> tuple[bytes, bytes | None]:
        first = hdr.next_member()
        if first is None:
            raise BundleFormatError("archive is empty", subject=self.subject)
        if first.name != MANIFEST_NAME:
            raise BundleFormatError(
                f"first member is {first.name!r}, not {MANIFEST_NAME}",
                subject=self.subject,
                hint="not a bundle, or re-packed by another tool",
            )
        if first.size > MAX_MANIFEST_BYTES:
            raise BundleFormatError(
                f"manifest is {first.size} bytes, over the {MAX_MANIFEST_BYTES}-byte cap",
                subject=self.subject,
            )
        manifest = self._read_member(f, hdr, first)
        second = hdr.next_member()
        if second is None:
            return manifest, None
        if second.name == MANIFEST_NAME:
            raise BundleFormatError("manifest.json is present twice", subject=self.subject)
        if second.name != SIGNATURE_NAME:
            raise BundleSignatureError(
                f"bundle is unsigned: second member is {second.name!r}, not {SIGNATURE_NAME}",
                subject=self.subject,
                hint="sign it with 'edgeconsole bundle build --sign'",
            )
        if second.size > MAX_SIG_BYTES:
            raise BundleSignatureError("manifest.sig is larger than 64 KiB", subject=self.subject)
        return manifest, self._read_member(f, hdr, second)

    def check_signatures(
        self, manifest: bytes, sig: bytes | None
    ) -> tuple[tuple[SignerStatus, ...], bool]:
        entries = [] if sig is None else parse_signatures(sig, self.subject)
        if self.trust is None:
            return tuple(SignerStatus(e.key_id, "not checked") for e in entries), False
        if not entries:
            raise BundleSignatureError(
                "bundle is unsigned", subject=self.subject, hint="only signed bundles can be loaded"
            )
        statuses: list[SignerStatus] = []
        good: set[str] = set()
        for e in entries:
            key = self.trust.keys.get(e.key_id)
            if key is None:
                statuses.append(SignerStatus(e.key_id, "unknown key"))
            elif e.key_id in good or any(s.key_id == e.key_id for s in statuses):
                # One signature per key counts, however often it is repeated.
                statuses.append(SignerStatus(e.key_id, "duplicate", key.label))
            elif verify_one(key.public_key, e.signature, manifest):
                good.add(e.key_id)
                statuses.append(SignerStatus(e.key_id, "verified", key.label))
            else:
                statuses.append(SignerStatus(e.key_id, "bad signature", key.label))
        bad = [s for s in statuses if s.status == "bad signature"]
        if bad:
            raise BundleSignatureError(
                f"signature by trusted key {bad[0].label or bad[0].key_id} does not verify: "
                "the manifest was altered after signing",
                subject=self.subject,
                hint="do not use this bundle; get a fresh copy from its source",
            )
        if len(good) < self.trust.threshold:
            unknown = [s.key_id for s in statuses if s.status == "unknown key"]
            if not good and unknown:
                what = f"signed only by unknown key(s) {', '.join(unknown)}"
            else:
                what = (
                    f"signed by {len(good)} distinct trusted key(s), "
                    f"{self.trust.threshold} required"
                )
            raise BundleSignatureError(
                what, subject=self.subject, hint=f"trust store: {self.trust.source}"
            )
        return tuple(statuses), True

    def check_policy(self, obj: Any) -> None:
        pf = peek_policy_fields(obj, self.subject)
        p = self.policy
        if p.hardware_id is not None and p.hardware_id not in pf.hardware_ids:
            raise BundleIncompatibleError(
                f"built for hardware {', '.join(pf.hardware_ids)}, not {p.hardware_id}",
                subject=self.subject,
                hint="pick the bundle built for this device",
            )
        if p.installed_version is not None and pf.version < p.installed_version:
            raise BundleIncompatibleError(
                f"version {pf.version} is lower than the installed version {p.installed_version}",
                subject=self.subject,
                hint="downgrades are refused; build a bundle with a higher version, or "
                "flash with --allow-downgrade to go back on purpose",
            )
        now = p.now or datetime.now(UTC)
        if p.check_expiry and pf.expires is not None and now >= pf.expires:
            raise BundleIncompatibleError(
                f"expired on {pf.expires:%Y-%m-%d %H:%M} UTC",
                subject=self.subject,
                hint="ask for a re-signed bundle",
            )

    def check_schema(self, obj: Any) -> tuple[Manifest, Any]:
        manifest = parse_manifest(obj, self.subject)
        if self.policy.agent_version is not None and not agent_version_ok(
            manifest.min_agent_version, self.policy.agent_version
        ):
            raise BundleIncompatibleError(
                f"needs agent {manifest.min_agent_version} or newer, this is "
                f"{self.policy.agent_version}",
                subject=self.subject,
                hint="update the agent",
            )
        for model in nested_model_files(manifest):
            if model not in manifest.files:
                raise BundleSchemaError(
                    f"model file {model!r} is not listed in files", subject=self.subject
                )
        described = None
        if self.describe is not None:
            try:
                described = self.describe(manifest.model_part())
            except EdgeConsoleError as exc:
                what = getattr(exc, "what", str(exc))
                raise BundleSchemaError(
                    f"model description in manifest: {what}", subject=self.subject, hint=exc.hint
                ) from exc
        return manifest, described

    def stream_payload(
        self,
        f: BinaryIO,
        hdr: TarHeaderReader,
        manifest: Manifest,
        sink: Sink,
        prehashed: Mapping[str, PrehashedFile] | None = None,
        keep: Callable[[str], bool] | None = None,
    ) -> None:
        seen: set[str] = set()
        folded: set[str] = set()
        total = manifest.payload_bytes
        done = 0
        read_size = max(manifest.chunk_size, READ_SIZE)
        bufs = [bytearray(read_size), bytearray(read_size)]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-chunks") as pool:
            while (m := hdr.next_member()) is not None:
                self._check_member(m, manifest, seen, folded)
                entry = manifest.files[m.name]
                known = None if prehashed is None else prehashed.get(m.name)
                if (
                    known is not None
                    and known.offset == m.data_offset
                    and known.length == m.size
                    and known.sha256 == entry.sha256
                    and (keep is None or not keep(m.name))
                ):
                    # These exact bytes were hashed to the signed value as they were
                    # written (the caller vouches for it): step over them.
                    f.seek(m.size, os.SEEK_CUR)
                    hdr.advance(m.size)
                    hdr.skip_padding(m.size)
                    done += m.size
                    if self.progress is not None:
                        self.progress(done, total)
                    continue
                sink.open(m.name)
                file_hash = hashlib.sha256()
                pending: list[Future[int | None] | None] = [None, None]
                remaining, chunk_index, turn = m.size, 0, 0
                while remaining:
                    if self.cancel is not None and self.cancel():
                        raise Cancelled("verification cancelled", subject=self.subject)
                    slot = turn % 2
                    self._settle(pending[slot], m.name)
                    n = min(read_size, remaining)
                    view = memoryview(bufs[slot])[:n]
                    got = f.readinto(view)  # type: ignore[attr-defined]
                    while got < n:  # short reads are legal; EOF is not
                        more = f.readinto(view[got:])  # type: ignore[attr-defined]
                        if not more:
                            raise BundleFormatError(
                                f"archive is truncated inside {m.name!r}", subject=self.subject
                            )
                        got += more
                    file_hash.update(view)
                    sink.write(view)
                    # Chunk hashes on a second thread: hashlib drops the GIL, so the
                    # two hashes of each byte run side by side on two cores.
                    pending[slot] = pool.submit(
                        _chunk_mismatch, view, manifest.chunk_size, entry.chunks, chunk_index
                    )
                    chunk_index += -(-n // manifest.chunk_size)
                    remaining -= n
                    done += n
                    turn += 1
                    if self.progress is not None:
                        self.progress(done, total)
                for p in pending:
                    self._settle(p, m.name)
                hdr.advance(m.size)
                hdr.skip_padding(m.size)
                sink.close()
                if file_hash.hexdigest() != entry.sha256:
                    raise BundleTamperedError(
                        f"{m.name} does not match its signed SHA-256 (payload altered)",
                        subject=self.subject,
                        hint="do not use this bundle; get a fresh copy",
                    )
        missing = sorted(set(manifest.files) - seen)
        if missing:
            raise BundleFormatError(
                f"listed file(s) missing from the archive: {', '.join(missing)}",
                subject=self.subject,
            )

    def _settle(self, fut: Future[int | None] | None, name: str) -> None:
        if fut is None:
            return
        bad = fut.result()
        if bad is not None:
            raise BundleTamperedError(
                f"{name} chunk {bad} does not match its signed hash (payload altered)",
                subject=self.subject,
                hint="do not use this bundle; get a fresh copy",
            )

    def _check_member(
        self, m: TarMember, manifest: Manifest, seen: set[str], folded: set[str]
    ) -> None:
        if m.name in RESERVED:
            raise BundleFormatError(f"{m.name} is present twice", subject=self.subject)
        problem = name_problem(m.name)
        if problem is not None:
            raise BundleFormatError(
                f"member name {m.name!r} refused: {problem}", subject=self.subject
            )
        if m.name in seen:
            raise BundleFormatError(f"duplicate member {m.name!r}", subject=self.subject)
        if m.name.casefold() in folded:
            raise BundleFormatError(
                f"duplicate member {m.name!r} (differs only by case)", subject=self.subject
            )
        if m.name not in manifest.files:
            raise BundleFormatError(
                f"member {m.name!r} is not listed in the manifest",
                subject=self.subject,
                hint="the archive was altered",
            )
        declared = manifest.files[m.name].length
        if m.size != declared:
            # Refused before a byte of it is read, whatever its size.
            raise BundleTamperedError(
                f"{m.name} is {m.size} bytes in the archive but {declared} in the manifest",
                subject=self.subject,
                hint="the archive was altered",
            )
        seen.add(m.name)
        folded.add(m.name.casefold())

    def check_models(
        self, manifest: Manifest, files: dict[str, bytes] | None, root: Path | None
    ) -> dict[str, set[str]]:
        lengths = {n: e.length for n, e in manifest.files.items()}
        models = list(
            dict.fromkeys(
                nested_model_files(manifest) + [n for n in manifest.files if n.endswith(".onnx")]
            )
        )
        used: dict[str, set[str]] = {}
        for name in models:
            if files is not None:
                data = files[name]
            else:
                assert root is not None
                data = (root / name).read_bytes()
            proto = parse_model_proto(data, name, self.subject)
            used[name] = check_external_data(proto, name, lengths, self.subject, root)
        return used


def check_head(
    v: Verifier, manifest_bytes: bytes, sig: bytes | None
) -> tuple[tuple[SignerStatus, ...], bool, Manifest, Any]:
    """signatures -> hardware id -> version -> expiry -> schema (DESIGN section 5)."""
    signers, trusted = v.check_signatures(manifest_bytes, sig)
    try:
        obj = loads_bounded(manifest_bytes, max_bytes=MAX_MANIFEST_BYTES, what="manifest.json")
    except JSONRefused as exc:
        raise BundleSchemaError(exc.what, subject=v.subject, hint=exc.hint) from exc
    v.check_policy(obj)
    manifest, described = v.check_schema(obj)
    return signers, trusted, manifest, described
