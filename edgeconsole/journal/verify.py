"""``edgeconsole export verify PACK``: check a pack and say exactly what is wrong.

Every problem is collected (not just the first): missing COMPLETE, a changed,
missing or unlisted file, a bad signature or one by a key the person does not
trust, a manifest that does not match. Paths in SHA256SUMS are checked before
any file is opened. The public key inside the pack is never trusted: a pack
edited and re-signed with another key carries that key too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from edgeconsole.core.errors import JournalError
from edgeconsole.core.jsonsafe import loads_bounded
from edgeconsole.journal.export import COMPLETE, FORMAT, PUBKEY, SIG, SUMS
from edgeconsole.journal.keys import fingerprint, load_public_pem
from edgeconsole.journal.pack_trust import TrustedKey, check_signature, trusted_keys

_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")
MAX_SUMS = 16 * 1024 * 1024
MAX_SMALL = 4 * 1024 * 1024


@dataclass
class VerifyReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    fingerprint: str | None = None  # the trusted key that signed it (None: none did)
    signer: str = ""  # how the person knows that key ("this console's key", a file)
    carried_fingerprint: str | None = None  # the key the pack brought (never trusted)
    site: str = ""
    technician: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def _safe_rel(rel: str) -> bool:
    if not rel or "\\" in rel or "\x00" in rel or rel.startswith("/"):
        return False
    parts = PurePosixPath(rel).parts
    return all(p not in ("", ".", "..") for p in parts)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _read_small(path: Path, limit: int) -> bytes:
    if path.stat().st_size > limit:
        raise JournalError(f"{path.name} is larger than {limit} bytes", subject=str(path))
    return path.read_bytes()


def verify_pack(pack: Path, trusted: Sequence[TrustedKey] | None = None) -> VerifyReport:
    """Check every file, the marker, the manifest and the signature of ``pack``.

    ``trusted``: the console keys that may have signed it (default: this console's own
    key; see :mod:`edgeconsole.journal.pack_trust`)."""
    pack = Path(pack)
    rep = VerifyReport(pack)
    if not pack.exists():
        rep.problems.append(
            f"{pack}: does not exist (an interrupted export leaves only a .partial folder)"
        )
        return rep
    if not pack.is_dir():
        rep.problems.append(f"{pack}: is not a pack folder")
        return rep
    comp = pack / COMPLETE
    sums_path = pack / SUMS
    if not comp.is_file():
        rep.problems.append(
            "no COMPLETE marker: the export did not finish (interrupted or copied "
            "before it ended); do not use this pack, export again"
        )
    if not sums_path.is_file():
        rep.problems.append("SHA256SUMS is missing: nothing in the pack can be checked")
        return rep
    try:
        sums = _read_small(sums_path, MAX_SUMS)
    except (OSError, JournalError) as exc:
        rep.problems.append(f"SHA256SUMS cannot be read: {exc}")
        return rep
    # COMPLETE pins the exact SHA256SUMS it was written after.
    if comp.is_file():
        try:
            info = loads_bounded(_read_small(comp, MAX_SMALL), max_bytes=MAX_SMALL, what="COMPLETE")
            if not isinstance(info, dict) or info.get("format") != FORMAT:
                rep.problems.append("COMPLETE is not an EdgeConsole pack marker")
            elif info.get("sha256_of_SHA256SUMS") != hashlib.sha256(sums).hexdigest():
                rep.problems.append("COMPLETE does not match SHA256SUMS (SHA256SUMS was changed)")
        except (ValueError, OSError, JournalError) as exc:
            rep.problems.append(f"COMPLETE is damaged: {exc}")
    # Signature: checked against keys the person trusts, never the copy in the pack.
    pub_path = pack / PUBKEY
    sig_path = pack / SIG
    carried = None
    try:
        if pub_path.is_file():
            carried = load_public_pem(_read_small(pub_path, 4096), str(pub_path))
    except (JournalError, OSError):
        carried = None  # a damaged copy only costs the "who did sign" remark
    rep.carried_fingerprint = fingerprint(carried) if carried is not None else None
    if trusted is None:
        trusted, key_problems = trusted_keys()
        rep.problems.extend(key_problems)
    if not sig_path.is_file():
        rep.problems.append("SHA256SUMS.sig is missing: the pack is not signed")
    else:
        try:
            sig = _read_small(sig_path, 1024)
        except (OSError, JournalError) as exc:
            sig = b""
            rep.problems.append(f"SHA256SUMS.sig cannot be read: {exc}")
        signer, why = check_signature(sig, sums, trusted, carried)
        if signer is not None:
            rep.fingerprint = signer.fingerprint
            rep.signer = signer.label
        elif why is not None and sig:
            rep.problems.append(why)
    # Each listed file.
    listed: dict[str, str] = {}
    try:
        text = sums.decode("utf-8")
    except UnicodeDecodeError:
        rep.problems.append("SHA256SUMS is not UTF-8 text")
        return rep
    for n, line in enumerate(text.splitlines(), 1):
        m = _LINE.match(line)
        if not m:
            rep.problems.append(f"SHA256SUMS line {n} is malformed")
            continue
        digest, rel = m.groups()
        if not _safe_rel(rel):
            rep.problems.append(f"SHA256SUMS line {n} names an unsafe path {rel!r}")
            continue
        if rel in listed:
            rep.problems.append(f"SHA256SUMS lists {rel} twice")
        listed[rel] = digest
    for rel, digest in sorted(listed.items()):
        path = pack / rel
        if path.is_symlink() or (path.exists() and not path.is_file()):
            rep.problems.append(f"{rel}: is not a regular file")
        elif not path.exists():
            rep.problems.append(f"missing file: {rel} (listed in SHA256SUMS)")
        elif _sha256(path) != digest:
            rep.problems.append(f"changed file: {rel} (checksum differs from SHA256SUMS)")
        else:
            rep.checked_files += 1
    exempt = {SUMS, SIG, COMPLETE}
    for path in sorted(pack.rglob("*")):
        rel = path.relative_to(pack).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if rel not in listed and rel not in exempt:
            rep.problems.append(f"unlisted file: {rel} (not in SHA256SUMS; added after export?)")
    # Manifest agrees with the checksums.
    man_path = pack / "manifest.json"
    if "manifest.json" not in listed:
        rep.problems.append("manifest.json is not listed in SHA256SUMS")
    elif man_path.is_file():
        try:
            man = loads_bounded(
                _read_small(man_path, MAX_SUMS), max_bytes=MAX_SUMS, what="manifest.json"
            )
            rep.site = str(man.get("site", ""))
            rep.technician = str(man.get("technician", ""))
            if man.get("format") != FORMAT:
                rep.problems.append("manifest.json is not an EdgeConsole evidence pack manifest")
            contents = {c["path"]: c["sha256"] for c in man.get("contents", [])}
            for rel, digest in contents.items():
                if listed.get(rel) != digest:
                    rep.problems.append(f"manifest.json and SHA256SUMS disagree about {rel}")
            for rel in listed:
                if rel not in contents and rel != "manifest.json":
                    rep.problems.append(f"{rel} is in SHA256SUMS but not in manifest.json")
        except (ValueError, KeyError, TypeError, AttributeError, OSError, JournalError) as exc:
            rep.problems.append(f"manifest.json is damaged: {exc}")
    return rep
