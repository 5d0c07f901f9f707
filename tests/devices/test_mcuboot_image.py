"""The MCUboot image check (``devices.serial.mcuboot``) against MCUboot's own ``imgtool``.

imgtool signs with every key type MCUboot supports; ``imgtool verify`` is the
judge: what it accepts we accept, what it rejects we reject (with a sentence).
Hostile files (truncated at every length, forged lengths, random bytes) are a
clear :class:`ImageError`, never another exception.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeconsole.core.errors import ImageError
from edgeconsole.devices.serial.mcuboot import (
    Version,
    check_image,
    class_uuid,
    inspect_image,
    load_key,
    load_keys,
    vendor_uuid,
)
from edgeconsole.sim.mcuboot_build import app_body, build_image, new_ed25519_key
from tests.fixtures.stock import imgtool, sign

KEY_TYPES = ("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072")


def _private(kind: str) -> Any:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind.startswith("ecdsa"):
        return ec.generate_private_key(ec.SECP256R1() if kind.endswith("256") else ec.SECP384R1())
    return rsa.generate_private_key(65537, int(kind.split("-")[1]))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PKCS#8 PEM keys as ``imgtool keygen`` writes them (imgtool signs with them); the
    public halves as ``imgtool getpub -e pem`` prints them."""
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for kind in KEY_TYPES:
        key = _private(kind)
        path = d / f"{kind}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        pub = d / f"{kind}.pub.pem"
        pub.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        out[kind] = path
        out[kind + ".pub"] = pub
    return out


def test_imgtool_getpub_agrees_with_our_public_key_files(keys: dict[str, Path]) -> None:
    r = imgtool("getpub", "-k", str(keys["ecdsa-p256"]), "-e", "pem")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == keys["ecdsa-p256.pub"].read_text().strip()


def imgtool_accepts(image: bytes, key: Path | None, tmp: Path) -> bool:
    path = tmp / "judge.bin"
    path.write_bytes(image)
    args = ["verify", str(path)] if key is None else ["verify", "-k", str(key), str(path)]
    return imgtool(*args).returncode == 0


@pytest.mark.parametrize(
    "kind", [k if k != "rsa-3072" else pytest.param(k, marks=pytest.mark.slow) for k in KEY_TYPES]
)
def test_every_mcuboot_key_type_verifies_like_imgtool(
    kind: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    image = sign(tmp_path, "1.2.3+4", key=keys[kind])
    trusted = load_key(keys[kind + ".pub"])
    check = check_image(image, [trusted])
    assert check.signed_by == trusted
    assert str(check.version) == "1.2.3.4"
    assert imgtool_accepts(image, keys[kind], tmp_path)
    # The hash a device reports is the image's hash TLV, as smpclient reads it.
    from smpclient.mcuboot import IMAGE_TLV, ImageInfo

    (tmp_path / "i.bin").write_bytes(image)
    tlv = ImageInfo.load_file(str(tmp_path / "i.bin")).get_tlv(
        IMAGE_TLV.SHA384 if kind == "ecdsa-p384" else IMAGE_TLV.SHA256
    )
    assert check.facts.tlv_hash == bytes(tlv.value)


def test_a_private_key_file_is_trusted_by_its_public_half_only(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    key = load_key(keys["ed25519"])
    assert key.fingerprint == load_key(keys["ed25519.pub"]).fingerprint
    assert "PRIVATE" not in repr(key.embedded)


@pytest.mark.parametrize("offset", [40, 600, 20_000, -10])
def test_a_changed_byte_is_refused_like_imgtool_does(
    offset: int, keys: dict[str, Path], tmp_path: Path
) -> None:
    image = bytearray(sign(tmp_path, "1.0.0", key=keys["ecdsa-p256"]))
    image[offset] ^= 0x01
    assert not imgtool_accepts(bytes(image), keys["ecdsa-p256"], tmp_path)
    with pytest.raises(ImageError) as info:
        check_image(bytes(image), [load_key(keys["ecdsa-p256.pub"])])
    text = info.value.one_line()
    assert any(w in text for w in ("does not match", "not by a key", "TLV", "truncated")), text


def test_a_key_hash_naming_another_key_is_refused(keys: dict[str, Path], tmp_path: Path) -> None:
    """imgtool verify ignores the KEYHASH TLV; MCUboot finds its key by it and refuses an
    image whose KEYHASH names no key it has. We do as MCUboot does."""
    image = bytearray(sign(tmp_path, "1.0.0", key=keys["ed25519"]))
    facts = inspect_image(bytes(image))
    keyhash = next(t for t in facts.tlvs if t.type == 0x01)
    at = bytes(image).rindex(keyhash.value)
    image[at] ^= 0x01
    assert imgtool_accepts(bytes(image), keys["ed25519"], tmp_path)  # imgtool does not look
    with pytest.raises(ImageError, match="not by a key you trust"):
        check_image(bytes(image), [load_key(keys["ed25519.pub"])])


def test_another_key_is_refused_with_a_sentence(keys: dict[str, Path], tmp_path: Path) -> None:
    image = sign(tmp_path, "1.0.0", key=keys["ed25519"])
    others = [load_key(keys[k + ".pub"]) for k in KEY_TYPES if k != "ed25519"]
    assert not imgtool_accepts(image, keys["ecdsa-p256"], tmp_path)
    with pytest.raises(ImageError, match="not by a key you trust"):
        check_image(image, others)
    with pytest.raises(ImageError, match="no trusted firmware key"):
        check_image(image, [])


def test_unsigned_images_only_when_allowed(tmp_path: Path) -> None:
    image = sign(tmp_path, "2.0.0", key=None)
    assert imgtool_accepts(image, None, tmp_path)
    with pytest.raises(ImageError, match="not signed"):
        check_image(image, [])
    check = check_image(image, [], allow_unsigned=True)
    assert check.signed_by is None and "not signed" in check.notes[0]


def test_full_public_key_and_uuid_tlvs(keys: dict[str, Path], tmp_path: Path) -> None:
    image = sign(
        tmp_path,
        "1.0.0",
        key=keys["ed25519"],
        extra=("--public-key-format", "full", "--vid", "acme.com", "--cid", "board-a"),
    )
    check = check_image(image, [load_key(keys["ed25519.pub"])])
    assert check.facts.vid == vendor_uuid("acme.com")
    assert check.facts.cid == class_uuid("board-a", "acme.com")
    assert check.facts.cid != class_uuid("board-b", "acme.com")
    with pytest.raises(ImageError, match="vendor"):
        class_uuid("board-a", None)


def test_sim_built_images_pass_imgtool_verify(tmp_path: Path) -> None:
    private = tmp_path / "k.pem"
    key = new_ed25519_key(private)
    image = build_image(app_body("smp_svr", Version(1, 0, 0)), Version(1, 0, 0), key)
    assert imgtool_accepts(image, private, tmp_path)
    check_image(image, load_keys([tmp_path / "k.pub.pem"]))
    unsigned = build_image(b"x" * 100, Version(0, 1, 0))
    assert imgtool_accepts(unsigned, None, tmp_path)


def test_every_truncation_is_a_sentence(keys: dict[str, Path], tmp_path: Path) -> None:
    image = sign(tmp_path, "1.0.0", key=keys["ed25519"], size=600)
    trusted = [load_key(keys["ed25519.pub"])]
    for n in range(len(image)):
        with pytest.raises(ImageError):
            check_image(image[:n], trusted)


def _header(hdr_size: int, prot: int, img_size: int) -> bytes:
    return struct.pack("<IIHHII", 0x96F3B83D, 0, hdr_size, prot, img_size, 0) + bytes(12)


@pytest.mark.parametrize(
    "data,words",
    [
        (b"", "too short"),
        (b"\x7fELF" + bytes(60), "not an MCUboot image"),
        (_header(0xFFFF, 0, 10), "header says"),
        (_header(16, 0, 10), "header says"),
        (_header(32, 0, 0xFFFFFFFF), "truncated"),
        (_header(32, 0, 0) + struct.pack("<HH", 0x6907, 2), "truncated"),
        (_header(32, 0, 0) + struct.pack("<HH", 0x6907, 0xFFFF), "truncated"),
        (_header(32, 0, 0) + struct.pack("<HHBxH", 0x6907, 8, 0x10, 0xFFFF), "runs past"),
        (_header(32, 0, 0) + struct.pack("<HH", 0x6907, 4), "no hash"),
        (_header(32, 8, 0) + struct.pack("<HH", 0x6908, 9), "truncated"),
        (_header(32, 0, 0) + struct.pack("<HH", 0x1234, 4), "wrong magic"),
    ],
)
def test_hostile_headers_and_tlv_lengths(data: bytes, words: str) -> None:
    with pytest.raises(ImageError, match=words):
        inspect_image(data)


def test_two_hash_tlvs_are_refused() -> None:
    tlv = struct.pack("<BxH", 0x10, 32) + bytes(32)
    data = _header(32, 0, 0) + struct.pack("<HH", 0x6907, 4 + 2 * len(tlv)) + tlv + tlv
    with pytest.raises(ImageError, match="more than one hash"):
        inspect_image(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        check_image(data, [])
    except ImageError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**16 - 1), st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1))
def test_forged_header_fields_never_crash(hdr: int, prot: int, size: int) -> None:
    data = _header(hdr, prot, size) + bytes(200)
    try:
        inspect_image(data)
    except ImageError:
        pass


def test_key_files_that_are_not_keys(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ImageError, match="not a PEM key"):
        load_key(junk)
    with pytest.raises(ImageError, match="cannot read"):
        load_key(tmp_path / "missing.pem")
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * 100_000)
    with pytest.raises(ImageError, match="too large"):
        load_key(big)


def test_versions() -> None:
    assert str(Version.parse("1.2.3")) == "1.2.3"
    assert str(Version.parse("1.2.3+7")) == "1.2.3.7"
    assert Version.parse("1.2") == Version(1, 2, 0, 0)
    assert Version.parse("1.10.0").key > Version.parse("1.9.9").key
    for bad in ("", "a.b", "1.2.3.4.5", "-1.0"):
        with pytest.raises(ValueError):
            Version.parse(bad)
