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
from edgeconsole.cli.agent_cmd import verify_manifest
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
