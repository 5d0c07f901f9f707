"""Every item of issue 3's "Bad input" list: refused with a clear one-line reason,
and nothing on disk changes (the bundle, its folder, an extraction target)."""

from __future__ import annotations

import hashlib
import os
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
    BundleUnsafeModelError,
)
from edgeconsole.bundles.manifest import MAX_MANIFEST_BYTES, encode_manifest
from edgeconsole.bundles.onnx_check import check_external_data
from edgeconsole.bundles.reader import VerifyPolicy
from edgeconsole.bundles.signing import sign_manifest
from edgeconsole.core.errors import BundleError
from tests.fixtures.bundles import BundleKit, Member, file_entry, snapshot, tiny_model

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def refused(
    kit: BundleKit, path: Path, exc: type[BundleError], match: str, **kw: object
) -> BundleError:
    """Verify (and try to extract) ``path``; both must refuse and change nothing."""
    before = snapshot(path.parent)
    with pytest.raises(exc, match=match) as info:
        kit.verify(path, **kw)  # type: ignore[arg-type]
    dest = path.parent / "extracted"
    with pytest.raises(exc, match=match):
        kit.verify(path, mode="extract", dest=dest, **kw)  # type: ignore[arg-type]
    assert not dest.exists()
    assert snapshot(path.parent) == before, "a refusal changed something on disk"
    line = str(info.value)
    assert "\n" not in line and path.name in line
    return info.value


def test_a_good_bundle_verifies_in_every_mode(bundle_kit: BundleKit, tmp_path: Path) -> None:
    b = bundle_kit.good(tmp_path / "ok.ecb")
    assert bundle_kit.verify(b).trusted
    mem = bundle_kit.verify(b, mode="memory")
    assert mem.model_bytes == bundle_kit.model_bytes()
    ext = bundle_kit.verify(b, mode="extract", dest=tmp_path / "out")
    assert ext.root is not None and (ext.root / "model.onnx").read_bytes() == mem.model_bytes
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.onnx"]


def test_unsigned_no_signature_member(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    m = bundle_kit.manifest({"model.onnx": data})
    p = bundle_kit.write(
        tmp_path / "u.ecb",
        [Member("manifest.json", encode_manifest(m)), Member("model.onnx", data)],
        head=False,
    )
    refused(bundle_kit, p, BundleSignatureError, "unsigned")


def test_unsigned_empty_signature_list(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    p = bundle_kit.write(
        tmp_path / "u.ecb",
        [Member("model.onnx", data)],
        manifest=bundle_kit.manifest({"model.onnx": data}),
        sig_bytes=b"[]",
    )
    refused(bundle_kit, p, BundleSignatureError, "unsigned")


def test_signed_by_unknown_key(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = bundle_kit.good(tmp_path / "s.ecb", signers=("stranger",))
    refused(bundle_kit, p, BundleSignatureError, "unknown key")


def test_too_few_distinct_signers(bundle_kit: BundleKit, tmp_path: Path) -> None:
    two = bundle_kit.trust("a", "b", threshold=2)
    p = bundle_kit.good(tmp_path / "s.ecb", signers=("a", "a", "a"))
    refused(bundle_kit, p, BundleSignatureError, "1 distinct trusted key.*2 required", trust=two)
    ok = bundle_kit.good(tmp_path / "ok.ecb", signers=("a", "b"))
    assert len(bundle_kit.verify(ok, trust=two).verified_signers) == 2


def test_one_payload_byte_flipped(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = bundle_kit.good(tmp_path / "f.ecb")
    raw = bytearray(p.read_bytes())
    # The model member's data starts after 2 members (header + padded data each)
    # and its own header; flip a byte in the middle of the model.
    with tarfile.open(p) as tar:
        info = tar.getmember("model.onnx")
    raw[info.offset_data + info.size // 2] ^= 0x01
    p.write_bytes(bytes(raw))
    refused(bundle_kit, p, BundleTamperedError, "does not match its signed")


def test_manifest_edited_after_signing(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    m = bundle_kit.manifest({"model.onnx": data})
    sig = sign_manifest(encode_manifest(m), [bundle_kit.keys["a"]])
    m["hardware_ids"] = ["anything"]
    p = bundle_kit.write(
        tmp_path / "e.ecb", [Member("model.onnx", data)], manifest=m, sig_bytes=sig
    )
    refused(bundle_kit, p, BundleSignatureError, "altered after signing")


def test_member_not_in_manifest(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    p = bundle_kit.write(
        tmp_path / "x.ecb",
        [Member("model.onnx", data), Member("extra.bin", b"surprise")],
        manifest=bundle_kit.manifest({"model.onnx": data}),
    )
    refused(bundle_kit, p, BundleFormatError, "'extra.bin' is not listed")


def test_manifest_entry_missing_from_archive(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    m = bundle_kit.manifest({"model.onnx": data, "labels.txt": b"a\nb\n"})
    p = bundle_kit.write(tmp_path / "m.ecb", [Member("model.onnx", data)], manifest=m)
    refused(bundle_kit, p, BundleFormatError, "missing from the archive: labels.txt")


def test_manifest_not_first(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    mb = encode_manifest(bundle_kit.manifest({"model.onnx": data}))
    sig = sign_manifest(mb, [bundle_kit.keys["a"]])
    p = bundle_kit.write(
        tmp_path / "n.ecb",
        [Member("model.onnx", data), Member("manifest.json", mb), Member("manifest.sig", sig)],
        head=False,
    )
    refused(bundle_kit, p, BundleFormatError, "first member is 'model.onnx'")


@pytest.mark.parametrize("where", ["second", "later"])
def test_manifest_present_twice(bundle_kit: BundleKit, tmp_path: Path, where: str) -> None:
    data = bundle_kit.model_bytes()
    mb = encode_manifest(bundle_kit.manifest({"model.onnx": data}))
    sig = sign_manifest(mb, [bundle_kit.keys["a"]])
    order = (
        [
            Member("manifest.json", mb),
            Member("manifest.json", mb),
            Member("manifest.sig", sig),
            Member("model.onnx", data),
        ]
        if where == "second"
        else [
            Member("manifest.json", mb),
            Member("manifest.sig", sig),
            Member("model.onnx", data),
            Member("manifest.json", mb),
        ]
    )
    p = bundle_kit.write(tmp_path / "t.ecb", order, head=False)
    refused(bundle_kit, p, BundleFormatError, "manifest.json is present twice")


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ("model.onnx", "duplicate member 'model.onnx'"),
        ("MODEL.onnx", "differs only by case|not listed"),
        ("./model.onnx", r"'\./' prefix"),
    ],
)
def test_duplicate_names(bundle_kit: BundleKit, tmp_path: Path, second: str, why: str) -> None:
    data = bundle_kit.model_bytes()
    p = bundle_kit.write(
        tmp_path / "d.ecb",
        [Member("model.onnx", data), Member(second, data)],
        manifest=bundle_kit.manifest({"model.onnx": data}),
    )
    refused(bundle_kit, p, BundleFormatError, why)


def test_case_folded_duplicate_listed_in_manifest(bundle_kit: BundleKit, tmp_path: Path) -> None:
    # Both spellings listed and signed: still refused (a case-insensitive file
    # system would give one file for two names).
    data = bundle_kit.model_bytes()
    m = bundle_kit.manifest({"model.onnx": data, "Model.onnx": data})
    p = bundle_kit.write(
        tmp_path / "d.ecb", [Member("model.onnx", data), Member("Model.onnx", data)], manifest=m
    )
    refused(bundle_kit, p, BundleSchemaError, "differs from another only by case")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../model.onnx", r"'\.\.' in path"),
        ("a/../../etc.onnx", r"'\.\.' in path"),
        ("/etc/model.onnx", "absolute path"),
        ("C:model.onnx", "drive-letter"),
        ("C:/model.onnx", "drive-letter"),
        ("dir\\model.onnx", "backslash"),
        ("sub/model.onnx", "directories are not allowed"),
        ("model.onnx\x01", r"characters outside"),
        ("model.exe", "extension not one of"),
    ],
)
def test_hostile_names(bundle_kit: BundleKit, tmp_path: Path, name: str, why: str) -> None:
    data = bundle_kit.model_bytes()
    p = bundle_kit.write(
        tmp_path / "h.ecb",
        [Member("model.onnx", data), Member(name, b"x")],
        manifest=bundle_kit.manifest({"model.onnx": data}),
    )
    refused(bundle_kit, p, BundleFormatError, why)


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "FIFO"),
        (tarfile.DIRTYPE, "directory"),
    ],
)
def test_links_devices_fifos(bundle_kit: BundleKit, tmp_path: Path, kind: bytes, why: str) -> None:
    data = bundle_kit.model_bytes()
    m = bundle_kit.manifest({"model.onnx": data, "weights.data": b""})
    p = bundle_kit.write(
        tmp_path / "l.ecb",
        [Member("model.onnx", data), Member("weights.data", type=kind, linkname="/etc/passwd")],
        manifest=m,
    )
    refused(bundle_kit, p, BundleFormatError, f"is a {why}; only regular files")


def test_oversized_manifest(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    m = bundle_kit.manifest({"model.onnx": data}, description="x" * MAX_MANIFEST_BYTES)
    p = bundle_kit.write(tmp_path / "big.ecb", [Member("model.onnx", data)], manifest=m)
    refused(bundle_kit, p, BundleFormatError, "over the 1048576-byte cap")


def test_oversized_signature_block(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    p = bundle_kit.write(
        tmp_path / "s.ecb",
        [Member("model.onnx", data)],
        manifest=bundle_kit.manifest({"model.onnx": data}),
        sig_bytes=b" " * (70 * 1024),
    )
    refused(bundle_kit, p, BundleSignatureError, "larger than 64 KiB")


@pytest.mark.parametrize("delta", [-1, +1, +100_000])
def test_lengths_that_lie(bundle_kit: BundleKit, tmp_path: Path, delta: int) -> None:
    data = bundle_kit.model_bytes()
    # The signed manifest states the truth; the tar header says another size.
    p = bundle_kit.write(
        tmp_path / "len.ecb",
        [Member("model.onnx", data, size=len(data) + delta)],
        manifest=bundle_kit.manifest({"model.onnx": data}),
    )
    refused(bundle_kit, p, BundleTamperedError, f"is {len(data) + delta} bytes in the archive")


def test_manifest_length_lies_about_payload(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    entry = file_entry(data)
    entry["length"] += 1
    m = bundle_kit.manifest({"model.onnx": data})
    m["files"]["model.onnx"] = entry
    p = bundle_kit.write(tmp_path / "len.ecb", [Member("model.onnx", data)], manifest=m)
    refused(bundle_kit, p, BundleTamperedError, "bytes in the archive but")


def test_chunk_list_that_lies(bundle_kit: BundleKit, tmp_path: Path) -> None:
    data = bundle_kit.model_bytes()
    m = bundle_kit.manifest({"model.onnx": data})
    m["files"]["model.onnx"]["chunks"] = ["0" * 64]
    p = bundle_kit.write(tmp_path / "c.ecb", [Member("model.onnx", data)], manifest=m)
    refused(bundle_kit, p, BundleTamperedError, "chunk 0 does not match")


def test_mix_and_match_v2_manifest_with_v1_payload(bundle_kit: BundleKit, tmp_path: Path) -> None:
    v1 = bundle_kit.model_bytes(version_tag="1")
    v2 = bundle_kit.model_bytes(version_tag="2")
    m2 = bundle_kit.manifest({"model.onnx": v2}, version=2)
    p = bundle_kit.write(tmp_path / "mix.ecb", [Member("model.onnx", v1)], manifest=m2)
    refused(bundle_kit, p, BundleTamperedError, "does not match its signed")


def test_version_lower_than_installed(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = bundle_kit.good(tmp_path / "old.ecb", version=3)
    policy = VerifyPolicy(installed_version=4, now=NOW)
    refused(
        bundle_kit,
        p,
        BundleIncompatibleError,
        "version 3 is lower than the installed version 4",
        policy=policy,
    )
    # Equal is allowed (re-flashing the same bundle).
    assert bundle_kit.verify(p, policy=VerifyPolicy(installed_version=3, now=NOW)).trusted


def test_wrong_hardware_id(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = bundle_kit.good(tmp_path / "hw.ecb")
    refused(
        bundle_kit,
        p,
        BundleIncompatibleError,
        "not stm32-h7",
        policy=VerifyPolicy(hardware_id="stm32-h7", now=NOW),
    )
    assert bundle_kit.verify(p, policy=VerifyPolicy(hardware_id="gw-x86", now=NOW)).trusted


def test_expired(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = bundle_kit.good(tmp_path / "exp.ecb", expires="2026-03-01T00:00:00Z")
    refused(bundle_kit, p, BundleIncompatibleError, "expired on 2026-03-01")


def test_unknown_field_refused_by_schema(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = bundle_kit.good(tmp_path / "f.ecb", backdoor=True)
    refused(bundle_kit, p, BundleSchemaError, "unknown field.*backdoor")


def test_unknown_field_in_model_description_refused(bundle_kit: BundleKit, tmp_path: Path) -> None:
    pre = {
        "resize": "none",
        "layout": "NC",
        "channel_order": "GRAY",
        "mean": [0.0],
        "std": [1.0],
        "colour_magic": 1,
    }
    p = bundle_kit.good(tmp_path / "f.ecb", preprocess=pre)
    refused(bundle_kit, p, BundleSchemaError, "model description in manifest.*colour_magic")


def test_order_signature_before_policy_before_schema(bundle_kit: BundleKit, tmp_path: Path) -> None:
    # Unknown signer AND expired AND a bad field: the signature is reported first.
    p = bundle_kit.good(
        tmp_path / "o.ecb", signers=("stranger",), expires="2020-01-01T00:00:00Z", backdoor=1
    )
    refused(bundle_kit, p, BundleSignatureError, "unknown key")
    # Trusted, but expired and with a bad field: expiry comes before the schema.
    p2 = bundle_kit.good(tmp_path / "o2.ecb", expires="2020-01-01T00:00:00Z", backdoor=1)
    refused(bundle_kit, p2, BundleIncompatibleError, "expired")


def _external_bundle(
    kit: BundleKit, tmp_path: Path, location: str, listed_data: dict[str, bytes]
) -> Path:
    model = tiny_model(external=location).SerializeToString()
    files = {"model.onnx": model, **listed_data}
    return kit.write(
        tmp_path / "ext.ecb", [Member(n, d) for n, d in files.items()], manifest=kit.manifest(files)
    )


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("../../etc/passwd", r"'\.\.' in path"),
        ("/etc/passwd", "absolute path"),
        ("C:\\weights.data", "backslash"),
        ("other.data", "not a data file listed in the manifest"),
        ("model.onnx", "not a data file listed"),
    ],
)
def test_external_data_outside_the_bundle(
    bundle_kit: BundleKit, tmp_path: Path, location: str, why: str
) -> None:
    p = _external_bundle(bundle_kit, tmp_path, location, {"weights.data": bytes(48)})
    refused(bundle_kit, p, BundleUnsafeModelError, why)


def test_external_data_range_beyond_file(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = _external_bundle(bundle_kit, tmp_path, "weights.data", {"weights.data": bytes(10)})
    refused(bundle_kit, p, BundleUnsafeModelError, "exceeds 'weights.data'")


def test_external_data_inside_the_bundle_is_accepted(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = _external_bundle(bundle_kit, tmp_path, "weights.data", {"weights.data": bytes(48)})
    vb = bundle_kit.verify(p, mode="extract", dest=tmp_path / "x")
    assert vb.external_data["model.onnx"] == {"weights.data"}


def test_external_data_through_a_symlink(bundle_kit: BundleKit, tmp_path: Path) -> None:
    # In the archive: the data file is a symlink member -> refused as a member type.
    model = tiny_model(external="weights.data").SerializeToString()
    m = bundle_kit.manifest({"model.onnx": model, "weights.data": bytes(48)})
    p = bundle_kit.write(
        tmp_path / "sym.ecb",
        [
            Member("model.onnx", model),
            Member("weights.data", type=tarfile.SYMTYPE, linkname="/etc/passwd"),
        ],
        manifest=m,
    )
    refused(bundle_kit, p, BundleFormatError, "symbolic link")
    # On disk: the check never follows a link that appears in an extraction folder.
    root = tmp_path / "root"
    root.mkdir()
    (root / "weights.data").symlink_to("/etc/passwd")
    proto = tiny_model(external="weights.data")
    with pytest.raises(BundleUnsafeModelError, match="not a regular file"):
        check_external_data(proto, "model.onnx", {"weights.data": 48}, "b.ecb", root)


@pytest.mark.parametrize(
    "payload", [b"", b"\x00" * 64, b"MZ\x90\x00 not onnx at all", b"\x08\x07" + os.urandom(200)]
)
def test_payload_that_is_not_onnx(bundle_kit: BundleKit, tmp_path: Path, payload: bytes) -> None:
    p = bundle_kit.write(
        tmp_path / "n.ecb",
        [Member("model.onnx", payload)],
        manifest=bundle_kit.manifest({"model.onnx": payload}),
    )
    refused(bundle_kit, p, BundleUnsafeModelError, "is not an ONNX model")


def test_truncated_tar_at_every_block(bundle_kit: BundleKit, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    good = bundle_kit.good(tmp_path / "src" / "g.ecb")
    raw = good.read_bytes()
    # Cut inside headers, inside data, on block boundaries, and just before the end marker.
    with tarfile.open(good) as tar:
        last = tar.getmember("model.onnx")
    end_of_data = last.offset_data + last.size
    cuts = sorted(
        {
            *range(0, end_of_data + 512, 512),
            100,
            700,
            end_of_data - 1,
            end_of_data,
            last.offset_data + 3,
        }
    )
    for cut in cuts:
        p = tmp_path / f"cut{cut}.ecb"
        p.write_bytes(raw[:cut])
        before = snapshot(tmp_path)
        with pytest.raises((BundleFormatError, BundleSignatureError)) as info:
            bundle_kit.verify(p)
        assert (
            "truncated" in str(info.value)
            or "empty" in str(info.value)
            or "unsigned" in str(info.value)
        ), (cut, str(info.value))
        assert snapshot(tmp_path) == before
        p.unlink()


def test_garbage_after_end_marker(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = bundle_kit.good(tmp_path / "g.ecb")
    with p.open("ab") as f:
        f.write(b"hidden payload")
    refused(bundle_kit, p, BundleFormatError, "after the end-of-archive marker")


def test_not_a_tar_at_all(bundle_kit: BundleKit, tmp_path: Path) -> None:
    p = tmp_path / "random.ecb"
    p.write_bytes(hashlib.sha256(b"x").digest() * 64)
    refused(bundle_kit, p, BundleFormatError, "checksum mismatch|not a POSIX")


# -- issue 13: negative sizes, trailing data, truncation said first ----------------------


@pytest.mark.parametrize(
    "field", [b"-1000 ", b"-1", b"1-1", b"\xff" + b"\xff" * 11, b"\xc0" + b"\0" * 11]
)
def test_a_negative_or_non_octal_member_size_is_refused(
    bundle_kit: BundleKit, tmp_path: Path, field: bytes
) -> None:
    from tests.agent.hostile_tars import with_header_field

    good = bundle_kit.good(tmp_path / "src.ecb").read_bytes()
    p = tmp_path / "neg.ecb"
    p.write_bytes(with_header_field(good, 2, 124, field))
    refused(bundle_kit, p, BundleFormatError, r"size in tar header|negative size")


def _read_bytes_of_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_gigabytes_of_zeros_after_a_valid_bundle_are_refused_unread(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    """The reporter's 2 GB of zeros (a sparse file: no disk used): refused from the
    file size, reading at most a few KiB of it (the process's own read counter)."""
    p = bundle_kit.good(tmp_path / "padded.ecb")
    size = p.stat().st_size
    with p.open("r+b") as f:
        f.truncate(size + 2 * 1024**3)
    before = _read_bytes_of_this_process()
    with pytest.raises(BundleFormatError, match="bytes of data after the end-of-archive marker"):
        bundle_kit.verify(p)
    assert _read_bytes_of_this_process() - before < 1 << 20


def test_a_truncated_bundle_says_truncated_before_any_policy_check(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    """Cut short and built for other hardware: the person is told it is truncated
    (the hardware message would send them after the wrong problem)."""
    import tarfile

    from edgeconsole.bundles.reader import VerifyPolicy

    src = bundle_kit.good(tmp_path / "src.ecb")
    data = src.read_bytes()
    with tarfile.open(src) as tar:
        last = tar.getmembers()[-1]
        end = last.offset_data + last.size  # where the payload ends (then padding)
    p = tmp_path / "cut.ecb"
    for cut in (end - 1, end - 300, end // 2, 3000, 1000):
        p.write_bytes(data[:cut])
        with pytest.raises(BundleFormatError, match="truncated"):
            bundle_kit.verify(p, policy=VerifyPolicy(hardware_id="not-this-one"))


def test_the_flash_path_refuses_trailing_data_without_reading_it(
    bundle_kit: BundleKit, tmp_path: Path
) -> None:
    """The serial flash path once verified the padded bundle, then read all of it into
    RAM before the device refused it. ``verified_payload`` (what serial and gateway
    flashes send) now refuses it from the file size."""
    from edgeconsole.session.targets import verified_payload

    p = bundle_kit.good(tmp_path / "padded.ecb")
    with p.open("r+b") as f:
        f.truncate(p.stat().st_size + 2 * 1024**3)
    before = _read_bytes_of_this_process()
    with pytest.raises(BundleFormatError, match="after the end-of-archive marker"):
        verified_payload(p, bundle_kit.trust_dir("a"), hardware_id=None, installed_version=None)
    assert _read_bytes_of_this_process() - before < 1 << 20
