"""Coverage-guided fuzzing of the byte decoders with atheris (libFuzzer for Python).

    .venv/bin/python tests/fuzz/atheris_targets.py TARGET -runs=100000 [libFuzzer flags]

TARGET: smp_host | smp_device | telemetry | tar | onnx | agent_infer | manifest
(``manifest`` and ``tar`` start from seeds: pass ``tests/fuzz/corpus/manifest`` or ``.../tar``).
Any exception other than the project's own refusals (EdgeConsoleError) is a finding: atheris stops,
prints the input and writes it as crash-<sha1>. ``./run fuzz`` runs every target.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["edgeconsole"]):
    from edgeconsole.agent.errors import AgentRequestError
    from edgeconsole.agent.tensors import parse_request
    from edgeconsole.bundles.manifest import parse_manifest, peek_policy_fields
    from edgeconsole.bundles.onnx_check import check_external_data, parse_model_proto
    from edgeconsole.bundles.tarstream import TarHeaderReader
    from edgeconsole.core.errors import EdgeConsoleError
    from edgeconsole.devices.serial.transport import MAX_LINE, ClientLineDecoder, LinkStats
    from edgeconsole.sim.smp_lines import SmpLineDecoder
    from edgeconsole.sources.telemetry_lines import TelemetryParser

# The tar reader needs a real file (it fstat()s it): keep it in RAM when /dev/shm exists.
_TMP = Path(
    tempfile.mkdtemp(prefix="ec-atheris-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None)
)


def _split(data: bytes) -> list[bytes]:
    """First byte picks a chunk size, so the fuzzer explores chunk boundaries too."""
    if not data:
        return []
    step = 1 + data[0] % 97
    body = data[1:]
    return [body[i : i + step] for i in range(0, len(body), step)]


def smp_host(data: bytes) -> None:
    d = ClientLineDecoder(LinkStats(), max_frame=2048)
    for chunk in _split(data):
        d.feed(chunk)
        assert len(d._line) <= MAX_LINE + 2


def smp_device(data: bytes) -> None:
    d = SmpLineDecoder(2048)
    for chunk in _split(data):
        d.feed(chunk)
        assert len(d._line) <= d.max_line


def telemetry(data: bytes) -> None:
    p = TelemetryParser(max_line=256)
    for chunk in _split(data):
        p.feed(chunk, t_ns=1)
        assert len(p._partial) <= p.max_line


def tar(data: bytes) -> None:
    path = _TMP / "t.tar"
    path.write_bytes(data)
    with path.open("rb") as f:
        hdr = TarHeaderReader(f, "fuzz.tar")
        try:
            for _ in range(32):
                m = hdr.next_member()
                if m is None:
                    return
                hdr.advance(len(f.read(m.size)))
                hdr.skip_padding(m.size)
        except EdgeConsoleError:
            return


def onnx(data: bytes) -> None:
    try:
        model = parse_model_proto(data, "model.onnx", "fuzz.ecb")
        check_external_data(model, "model.onnx", {"w.bin": 100}, "fuzz.ecb")
    except EdgeConsoleError:
        return


def agent_infer(data: bytes) -> None:
    split = int.from_bytes(data[:2] or b"\0", "little")
    try:
        parse_request(data[2:], None if split == 0 else split - 1)
    except AgentRequestError:
        return


def manifest(data: bytes) -> None:
    import json

    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return
    try:
        peek_policy_fields(obj, "fuzz.ecb")
        parse_manifest(obj, "fuzz.ecb")
    except EdgeConsoleError:
        return


TARGETS: dict[str, Callable[[bytes], None]] = {
    f.__name__: f for f in (smp_host, smp_device, telemetry, tar, onnx, agent_infer, manifest)
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer flags]")
    target = TARGETS[sys.argv.pop(1)]
    os.chdir(_TMP)  # crash-* files land here unless -artifact_prefix says otherwise
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
