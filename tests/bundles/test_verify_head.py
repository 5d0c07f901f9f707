"""The public head-only check (``verify_head``) and ``read_bundle(prehashed=...)``.

``verify_head`` runs the reader's checks before the payload on bytes (as an upload
delivers them), in the reader's order and with its messages. ``prehashed`` lets a
caller that already hashed a payload file skip a second hashing; a digest that does
not fit (wrong offset, length or hash) only means the file is hashed again.
"""

from __future__ import annotations

import hashlib
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edgeconsole.bundles.errors import (
    BundleFormatError,
    BundleIncompatibleError,
    BundleSchemaError,
    BundleSignatureError,
    BundleTamperedError,
)
from edgeconsole.bundles.manifest import MAX_MANIFEST_BYTES, encode_manifest
from edgeconsole.bundles.reader import PrehashedFile, VerifyPolicy, verify_head
from edgeconsole.bundles.signing import sign_manifest
from edgeconsole.core.errors import BundleError
from tests.fixtures.bundles import BundleKit, Member, describe

POLICY = VerifyPolicy(now=datetime(2026, 6, 1, tzinfo=UTC), hardware_id="gw-x86")


def _head(kit: BundleKit, **overrides: object) -> tuple[bytes, bytes]:
    m = encode_manifest(kit.manifest({"model.onnx": kit.model_bytes()}, **overrides))
    return m, sign_manifest(m, [kit.keys["a"]])


def test_a_good_head_gives_the_same_manifest_as_the_reader(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    path = bundle_kit.good(tmp_path / "ok.ecb")
    with tarfile.open(path) as tar:
        m = tar.extractfile("manifest.json").read()  # type: ignore[union-attr]
        s = tar.extractfile("manifest.sig").read()  # type: ignore[union-attr]
    head = verify_head(m, s, bundle_kit.trust("a"), describe=describe, policy=POLICY)
    full = bundle_kit.verify(path, policy=POLICY).manifest
    assert head == full
    assert head.files["model.onnx"].sha256 == hashlib.sha256(bundle_kit.model_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("case", "exc", "match"),
    [
        ("unsigned", BundleSignatureError, "unsigned"),
        ("unknown key", BundleSignatureError, "unknown key"),
        ("altered", BundleSignatureError, "altered after signing"),
        ("hardware", BundleIncompatibleError, "not gw-x86"),
        ("expired", BundleIncompatibleError, "expired"),
        ("unknown field", BundleSchemaError, "surprise"),
        ("not json", BundleSchemaError, "not valid JSON"),
        ("oversized manifest", BundleFormatError, "cap"),
        ("oversized sig", BundleSignatureError, "64 KiB"),
    ],
)
def test_each_head_refusal_is_the_readers(
    bundle_kit: BundleKit, case: str, exc: type[BundleError], match: str
) -> None:
    m, s = _head(bundle_kit)
    sig: bytes | None = s
    if case == "unsigned":
        sig = None
    elif case == "unknown key":
        sig = sign_manifest(m, [bundle_kit.keys["b"]])
    elif case == "altered":
        m = m.replace(b'"tiny"', b'"tinz"', 1)
    elif case == "hardware":
        m, sig = _head(bundle_kit, hardware_ids=["laptop"])
    elif case == "expired":
        m, sig = _head(bundle_kit, expires="2026-02-01T00:00:00Z")
    elif case == "unknown field":
        m, sig = _head(bundle_kit, surprise=1)
    elif case == "not json":
        m = b"{not json"
        sig = sign_manifest(m, [bundle_kit.keys["a"]])
    elif case == "oversized manifest":
        m = b" " * (MAX_MANIFEST_BYTES + 1)
    elif case == "oversized sig":
        sig = b"x" * (64 * 1024 + 1)
    with pytest.raises(exc, match=match) as info:
        verify_head(m, sig, bundle_kit.trust("a"), describe=describe, policy=POLICY, subject="up")
    assert "\n" not in str(info.value) and "up" in str(info.value)


def test_signature_is_checked_before_the_policy(bundle_kit: BundleKit) -> None:
    # A wrong-hardware manifest signed by an unknown key: the signature speaks first.
    m, _ = _head(bundle_kit, hardware_ids=["laptop"])
    with pytest.raises(BundleSignatureError):
        verify_head(
            m,
            sign_manifest(m, [bundle_kit.keys["b"]]),
            bundle_kit.trust("a"),
            describe=describe,
            policy=POLICY,
        )


def _tampered(kit: BundleKit, tmp_path: Path) -> tuple[Path, int, str]:
    """A bundle whose extra payload file was altered after signing; its data offset
    and the signed hash of the original."""
    good = b"\x01" * 200_000
    bad = b"\x01" * 199_999 + b"\x02"
    files = {"model.onnx": kit.model_bytes(), "extra.bin": good}
    path = kit.write(
        tmp_path / "t.ecb",
        [Member("model.onnx", files["model.onnx"]), Member("extra.bin", bad)],
        manifest=kit.manifest(files),
    )
    with tarfile.open(path) as tar:
        offset = tar.getmember("extra.bin").offset_data
    return path, offset, hashlib.sha256(good).hexdigest()


def test_a_prehashed_file_is_not_hashed_again(bundle_kit: BundleKit, tmp_path: Path) -> None:
    # The caller vouches for the bytes at that offset: the reader steps over them
    # (which is why a tampered file passes here - and only here).
    path, offset, signed = _tampered(bundle_kit, tmp_path)
    with pytest.raises(BundleTamperedError):
        bundle_kit.verify(path)
    vb = bundle_kit.verify(path, prehashed={"extra.bin": PrehashedFile(offset, 200_000, signed)})
    assert vb.trusted and set(vb.manifest.files) == {"model.onnx", "extra.bin"}


@pytest.mark.parametrize("wrong", ["offset", "length", "sha256"])
def test_a_digest_that_does_not_fit_means_hashing_again(
    bundle_kit: BundleKit, tmp_path: Path, wrong: str
) -> None:
    path, offset, signed = _tampered(bundle_kit, tmp_path)
    d = {"offset": offset, "length": 200_000, "sha256": signed}
    d[wrong] = {"offset": offset + 512, "length": 199_999, "sha256": "0" * 64}[wrong]
    with pytest.raises(BundleTamperedError, match=r"extra\.bin"):
        bundle_kit.verify(path, prehashed={"extra.bin": PrehashedFile(**d)})  # type: ignore[arg-type]


def test_kept_files_are_always_read(bundle_kit: BundleKit, tmp_path: Path) -> None:
    # mode="memory" keeps every file, so a prehashed digest never skips one.
    path, offset, signed = _tampered(bundle_kit, tmp_path)
    with pytest.raises(BundleTamperedError):
        bundle_kit.verify(
            path, mode="memory", prehashed={"extra.bin": PrehashedFile(offset, 200_000, signed)}
        )
    with pytest.raises(BundleTamperedError):
        bundle_kit.verify(
            path,
            mode="extract",
            dest=tmp_path / "out",
            prehashed={"extra.bin": PrehashedFile(offset, 200_000, signed)},
        )
