"""The upload checker's whole-archive and per-file hashes (run on helper threads).

The checker is fed a real signed bundle; its manifest view comes from the real
head check, altered only where a test says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
from functools import partial

import pytest

from edgeconsole.agent.ports import ManifestView
from edgeconsole.agent.tarcheck import ChunkMismatch, StreamChecker, UploadRefused
from edgeconsole.session.agent_ports import verify_manifest
from tests.fixtures.gateway import GatewayKit


def _verifier(kit: GatewayKit) -> partial[ManifestView]:
    return partial(verify_manifest, trust_dir=str(kit.trust_dir), hardware_id=kit.hardware_id)


@pytest.mark.parametrize("piece", [1, 511, 4096, 65_537, 1 << 22])
def test_digests_match_the_archive_and_each_file(gateway_kit: GatewayKit, piece: int) -> None:
    path = gateway_kit.bundle(version=1, padding=300_000)
    data = path.read_bytes()
    c = StreamChecker(_verifier(gateway_kit), subject="t")
    step = piece if piece > 1 else 7919  # bytes, odd-sized pieces, one big block
    for i in range(0, len(data), step):
        c.feed(data[i : i + step])
    assert c.complete
    assert c.hexdigest() == hashlib.sha256(data).hexdigest()
    digests = c.file_digests()
    with tarfile.open(path) as tar:
        for name in ("model.onnx", "padding.bin"):
            m = tar.getmember(name)
            d = digests[name]
            raw = data[m.offset_data : m.offset_data + m.size]
            assert (d.offset, d.length) == (m.offset_data, m.size)
            assert d.sha256 == hashlib.sha256(raw).hexdigest()


def test_a_file_hash_that_contradicts_its_chunks_is_refused(gateway_kit: GatewayKit) -> None:
    # A manifest whose signed file hash disagrees with its own chunk hashes (a broken
    # signer): every chunk passes, the file hash does not, and the upload is refused.
    path = gateway_kit.bundle(version=1)
    real = _verifier(gateway_kit)

    def lying(m: bytes, s: bytes) -> ManifestView:
        view = real(m, s)
        files = dict(view.files)
        files["model.onnx"] = dataclasses.replace(files["model.onnx"], sha256="0" * 64)
        return dataclasses.replace(view, files=files)

    c = StreamChecker(lying, subject="t")
    c.feed(path.read_bytes())
    assert c.complete
    with pytest.raises(UploadRefused, match=r"model\.onnx does not match its signed SHA-256"):
        c.file_digests()


def test_a_bad_chunk_stops_at_its_start(gateway_kit: GatewayKit) -> None:
    path = gateway_kit.bundle(version=1, padding=300_000)
    data = bytearray(path.read_bytes())
    with tarfile.open(path) as tar:
        start = tar.getmember("padding.bin").offset_data
    data[start + 70_000] ^= 0xFF  # inside the second 64 KiB chunk
    c = StreamChecker(_verifier(gateway_kit), subject="t")
    with pytest.raises(ChunkMismatch) as info:
        c.feed(bytes(data))
    assert info.value.offset == start + 65_536


def _feed_with_deadline(checker: StreamChecker, data: bytes, seconds: float = 10.0) -> object:
    """Feed on a helper thread so a checker that spins fails this test instead of
    hanging it; the outcome (None or the exception) is returned."""
    import threading

    outcome: list[object] = []

    def run() -> None:
        try:
            checker.feed(data)
            outcome.append(None)
        except BaseException as exc:  # the outcome under test
            outcome.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert outcome, "the checker did not return: it spins on this input (issue 13)"
    return outcome[0]


@pytest.mark.parametrize("member", [0, 1, 2])
@pytest.mark.parametrize(
    "field", [b"-1000 ", b"-1", b" -0 ", b"1-1", b"0x10", b"\xc0" + b"\0" * 11]
)
def test_a_negative_or_non_octal_size_is_refused_not_looped(
    gateway_kit: GatewayKit, member: int, field: bytes
) -> None:
    from tests.agent.hostile_tars import with_header_field

    data = with_header_field(gateway_kit.bundle(version=1).read_bytes(), member, 124, field)
    got = _feed_with_deadline(StreamChecker(_verifier(gateway_kit), subject="t"), data)
    assert isinstance(got, UploadRefused), got
    assert "size" in str(got) and ("octal" in str(got) or "negative" in str(got)), str(got)


def test_a_pax_header_with_a_negative_size_is_refused_not_looped(gateway_kit: GatewayKit) -> None:
    """The reporter's loop: the old parser stepped back onto the same pax header."""
    from tests.agent.hostile_tars import negative_pax_size

    data = negative_pax_size(gateway_kit.bundle(version=1).read_bytes())
    got = _feed_with_deadline(StreamChecker(_verifier(gateway_kit), subject="t"), data)
    assert isinstance(got, UploadRefused) and "not an octal number" in str(got), got


@pytest.mark.parametrize("extra", [1, 512, 10_240, 1 << 20])
def test_data_after_the_end_of_the_archive_is_refused_at_once(
    gateway_kit: GatewayKit, extra: int
) -> None:
    """Zeros (or anything) past the end marker's record: refused at the first byte
    beyond it, whatever the announced length."""
    data = gateway_kit.bundle(version=1).read_bytes()
    c = StreamChecker(_verifier(gateway_kit), subject="t")
    c.feed(data)
    assert c.complete
    with pytest.raises(UploadRefused, match="data after the end of the archive"):
        c.feed(bytes(extra))
    assert c.offset == len(data)  # nothing beyond the archive was accepted


def test_the_record_padding_after_the_end_marker_is_accepted(gateway_kit: GatewayKit) -> None:
    from edgeconsole.bundles.tarstream import END_MARKER, RECORD

    data = gateway_kit.bundle(version=1).read_bytes()
    assert len(data) % RECORD == 0  # tarfile pads to the record
    body = data.rstrip(b"\0")
    marker = -(-len(body) // 512) * 512
    assert len(data) >= marker + END_MARKER
    c = StreamChecker(_verifier(gateway_kit), subject="t")
    c.feed(data)
    assert c.complete and c.offset == len(data)
