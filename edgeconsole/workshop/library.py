"""The bundle library: every ``*.ecb`` of a folder fully verified against the trust
store, one row each, with why a bundle may not be used when it may not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconsole.bundles.errors import (
    BundleFormatError,
    BundleIncompatibleError,
    BundleSignatureError,
    BundleTamperedError,
    TrustStoreError,
)
from edgeconsole.bundles.manifest import MAX_MANIFEST_BYTES
from edgeconsole.bundles.names import MANIFEST_NAME, SIGNATURE_NAME
from edgeconsole.bundles.reader import SignerStatus, read_bundle, signer_report
from edgeconsole.bundles.signing import MAX_SIG_BYTES, parse_signatures
from edgeconsole.bundles.tarstream import TarHeaderReader
from edgeconsole.bundles.trust import TrustStore
from edgeconsole.core.errors import BundleError, Cancelled, ConfigError, EdgeConsoleError
from edgeconsole.core.jobs import CancelFn, ProgressFn, check_cancel, never, no_progress
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.workshop.access import BUNDLE_SUFFIX, describe_manifest
from edgeconsole.workshop.trust_keys import load_trust

MAX_LIBRARY_FILES = 2000


VERIFIED = "verified"
UNKNOWN_SIGNER = "unknown signer"
UNSIGNED = "unsigned"
TAMPERED = "tampered"
INCOMPATIBLE = "incompatible"
REFUSED = "refused"


@dataclass(frozen=True)
class BundleRow:
    path: Path
    size: int
    status: str  # one of the constants above
    reason: str  # one line: why (or who signed, when verified)
    name: str = ""
    version: int | None = None
    signer: str = ""
    hardware_ids: tuple[str, ...] = ()
    quantization: str = ""

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED


def peek_head(path: Path) -> tuple[bytes, bytes | None]:
    """The manifest and signature bytes, for display of a bundle that may not verify.

    Nothing here is trusted; the full check is ``read_bundle``."""
    with open(path, "rb") as f:
        hdr = TarHeaderReader(f, path.name)
        first = hdr.next_member()
        if first is None or first.name != MANIFEST_NAME or first.size > MAX_MANIFEST_BYTES:
            raise BundleFormatError("not a bundle: manifest.json is not first", subject=path.name)
        manifest = f.read(first.size)
        hdr.advance(first.size)
        hdr.skip_padding(first.size)
        second = hdr.next_member()
        if second is None or second.name != SIGNATURE_NAME or second.size > MAX_SIG_BYTES:
            return manifest, None
        return manifest, f.read(second.size)


def _display_fields(manifest: bytes) -> dict[str, Any]:
    try:
        obj = loads_bounded(manifest, max_bytes=MAX_MANIFEST_BYTES, what="manifest.json")
    except JSONRefused:
        return {}
    if not isinstance(obj, dict):
        return {}
    hw = obj.get("hardware_ids")
    q = obj.get("quantization")
    version = obj.get("version")
    return {
        "name": obj.get("name") if isinstance(obj.get("name"), str) else "",
        "version": version if isinstance(version, int) and not isinstance(version, bool) else None,
        "hardware_ids": tuple(h for h in hw if isinstance(h, str)) if isinstance(hw, list) else (),
        "quantization": str(q.get("mode", "")) if isinstance(q, dict) else "",
    }


def _signer_text(statuses: list[SignerStatus]) -> str:
    parts = []
    for s in statuses:
        if s.status == "verified":
            parts.append(s.label or s.key_id[:8])
        elif s.status == "duplicate":
            continue
        else:
            parts.append(f"{s.label or s.key_id[:12] + '…'} ({s.status})")
    return ", ".join(parts) or "nobody"


def signer_statuses(
    manifest: bytes, sig: bytes | None, trust: TrustStore | None
) -> list[SignerStatus]:
    if trust is not None:
        return signer_report(manifest, sig, trust)[0]
    try:
        entries = [] if sig is None else parse_signatures(sig, "bundle")
    except BundleSignatureError:
        return []
    return [SignerStatus(e.key_id, "unknown key") for e in entries]


def _status_of(exc: BundleError, statuses: list[SignerStatus]) -> str:
    if isinstance(exc, BundleTamperedError):
        return TAMPERED
    if isinstance(exc, BundleIncompatibleError):
        return INCOMPATIBLE
    if isinstance(exc, BundleSignatureError):
        if not statuses:
            return UNSIGNED
        if any(s.status == "bad signature" for s in statuses):
            return TAMPERED
        return UNKNOWN_SIGNER
    return REFUSED


def one_line_reason(exc: EdgeConsoleError) -> str:
    text = exc.what if not exc.hint else f"{exc.what} — {exc.hint}"
    return " ".join(text.split())  # one line, whatever the message held


def check_bundle(
    path: Path,
    trust: TrustStore | None,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelFn = never,
) -> BundleRow:
    """One library row: the full verification, and why not when it fails."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return BundleRow(path, 0, REFUSED, f"cannot read the file: {exc.strerror or exc}")
    try:
        manifest, sig = peek_head(path)
    except (BundleError, OSError) as exc:
        reason = one_line_reason(exc) if isinstance(exc, BundleError) else str(exc)
        return BundleRow(path, size, REFUSED, reason)
    shown = _display_fields(manifest)
    statuses = signer_statuses(manifest, sig, trust)
    row = dict(path=path, size=size, signer=_signer_text(statuses), **shown)
    try:
        vb = read_bundle(path, trust, describe=describe_manifest, progress=progress, cancel=cancel)
    except Cancelled:
        raise
    except BundleError as exc:
        status = _status_of(exc, statuses)
        if status == UNKNOWN_SIGNER:
            # Is it at least intact? Check everything but who signed it, so a
            # tampered copy from an unknown signer says "tampered".
            try:
                read_bundle(path, None, describe=describe_manifest, cancel=cancel)
            except Cancelled:
                raise
            except BundleError as inner:
                return BundleRow(status=_status_of(inner, []), reason=one_line_reason(inner), **row)
        return BundleRow(status=status, reason=one_line_reason(exc), **row)
    if trust is None:
        return BundleRow(
            status=UNKNOWN_SIGNER,
            reason="intact, but the trust store holds no keys: import the signer's public key",
            **row,
        )
    who = ", ".join(s.label or s.key_id[:8] for s in vb.signers if s.status == "verified")
    return BundleRow(status=VERIFIED, reason=f"all files match the manifest signed by {who}", **row)


def list_bundle_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(
            "bundle folder not found", subject=str(folder), hint="choose another folder"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == BUNDLE_SUFFIX and p.is_file())
    return files[:MAX_LIBRARY_FILES]


def scan_library(
    folder: Path,
    trust_dir: Path,
    progress: ProgressFn = no_progress,
    cancel: CancelFn = never,
) -> list[BundleRow]:
    """Verify every ``*.ecb`` in ``folder`` against the store in ``trust_dir``."""
    files = list_bundle_files(folder)
    try:
        trust = load_trust(trust_dir)
        trust_problem = ""
    except TrustStoreError as exc:
        trust, trust_problem = None, one_line_reason(exc)
    sizes = [max(p.stat().st_size, 1) for p in files]
    total, done = sum(sizes) or 1, 0
    rows: list[BundleRow] = []
    for p, size in zip(files, sizes, strict=True):
        check_cancel(cancel, "scan")
        progress(done / total, f"checking {p.name}")

        def per_file(n: int, _t: int, base: int = done, name: str = p.name) -> None:
            progress(min(1.0, (base + n) / total), f"checking {name}")

        try:
            row = check_bundle(p, trust, progress=per_file, cancel=cancel)
        except Cancelled:
            raise
        except (EdgeConsoleError, OSError) as exc:
            # One file the checks did not foresee is one refused row, never a lost scan.
            why = one_line_reason(exc) if isinstance(exc, EdgeConsoleError) else str(exc)
            row = BundleRow(p, size, REFUSED, why)
        if trust_problem and row.status == UNKNOWN_SIGNER:
            row = BundleRow(**{**row.__dict__, "reason": f"trust store unusable: {trust_problem}"})
        rows.append(row)
        done += size
    progress(1.0, f"{len(rows)} bundle(s) checked")
    return rows
