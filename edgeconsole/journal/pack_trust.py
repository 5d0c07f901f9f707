"""Which console keys a person trusts to have signed an evidence pack.

A pack carries its signer's public key, but that copy proves nothing: whoever
edits a pack can re-sign it with any key and put that key beside it. So a pack
is checked against keys the person holds: this console's own key by default
(the journal's key; never created by verifying), plus any console public keys
they name (``--key FILE`` or a folder of ``*.pem`` / ``*.pub``, repeatable).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edgeconsole.core.errors import JournalError
from edgeconsole.journal.keys import ConsoleKey, fingerprint, load_public_pem

OWN_LABEL = "this console's key"
#: A folder of keys: how many files at most are read from it (a key is < 4 KiB).
MAX_KEYS_IN_DIR = 256
KEY_SUFFIXES = (".pem", ".pub")


@dataclass(frozen=True)
class TrustedKey:
    public: Ed25519PublicKey
    label: str  # what the person knows it by: "this console's key" or the file

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def describe(self) -> str:
        return f"{self.label} ({self.fingerprint})"


def _read_key(path: Path) -> TrustedKey:
    try:
        with path.open("rb") as fh:
            data = fh.read(4097)
    except OSError as exc:
        raise JournalError(
            f"cannot read trusted key: {exc.strerror or exc}", subject=str(path)
        ) from exc
    return TrustedKey(load_public_pem(data, str(path)), str(path))


def _key_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = sorted(
        p for p in path.iterdir() if p.suffix in KEY_SUFFIXES and p.is_file() and not p.is_symlink()
    )
    if not files:
        raise JournalError("no public key files (*.pem, *.pub) in this folder", subject=str(path))
    return files[:MAX_KEYS_IN_DIR]


def trusted_keys(
    paths: Iterable[Path] = (), *, own: bool = True, own_dir: Path | None = None
) -> tuple[list[TrustedKey], list[str]]:
    """The keys to check a pack against, and a sentence per key that could not be read.

    ``own``: include this console's key (``own_dir``: where it lives, default the app
    data folder). A missing own key is no problem here: :func:`check_signature`
    says so when nothing else is trusted either."""
    keys: list[TrustedKey] = []
    problems: list[str] = []
    if own:
        try:
            mine = ConsoleKey.load_existing(own_dir)
        except JournalError as exc:
            problems.append(f"{OWN_LABEL} cannot be read: {exc}")
            mine = None
        if mine is not None:
            keys.append(TrustedKey(mine.public, OWN_LABEL))
    for path in paths:
        try:
            for f in _key_files(Path(path)):
                keys.append(_read_key(f))
        except JournalError as exc:
            problems.append(f"trusted key {exc}")
    seen: set[str] = set()
    unique = []
    for k in keys:
        if k.fingerprint not in seen:
            seen.add(k.fingerprint)
            unique.append(k)
    return unique, problems


def check_signature(
    signature: bytes,
    data: bytes,
    trusted: Sequence[TrustedKey],
    carried: Ed25519PublicKey | None,
) -> tuple[TrustedKey | None, str | None]:
    """(the trusted key that made ``signature`` over ``data``, None) or (None, why not).

    ``carried`` is the public key the pack brought along; it is never trusted, only
    used to say who did sign when no trusted key did."""
    from edgeconsole.journal.keys import verify_signature

    if len(signature) == 64:
        for key in trusted:
            if verify_signature(key.public, signature, data):
                return key, None
    names = ", ".join(k.describe() for k in trusted)
    if not trusted:
        who = f" It says it was signed by {fingerprint(carried)}." if carried is not None else ""
        return None, (
            "no trusted console key to check the signature against: this computer has no "
            f"console key of its own and none was given.{who} Pass the public key of the "
            "console that wrote the pack with --key (that console shows it with "
            "`edgeconsole export key`)"
        )
    if carried is not None and len(signature) == 64 and verify_signature(carried, signature, data):
        return None, (
            f"signed by {fingerprint(carried)}, a key you do not trust (trusted: {names}): "
            "the pack may have been edited and re-signed; if it really comes from another "
            "console, verify with that console's public key (--key)"
        )
    return None, (
        "signature does not match SHA256SUMS for any trusted key (the list of checksums was "
        f"altered, or signed by another key; trusted: {names})"
    )
