"""The offline witnesses can see what they claim to: negative controls, kept runnable.

A green test_offline.py means something only if the same machinery goes red on the
old behaviour. Each control here reproduces one, under the very same Watch:

- onnxruntime's telemetry: a process that imports onnxruntime *before* edgeconsole,
  so ``ORT_DISABLE_TELEMETRY`` is not set when onnxruntime loads (exactly the code
  before the fix, and a careless library user today), runs the real ``run`` command
  for 12 s. The witnesses must report the DNS query for its collector from that
  process's native threads, and the device id it writes under ``~/.cache/Microsoft``.
- Chromium: the command the old PDF export ran (same flags, same throw-away
  profile), which must show Google lookups. Skipped where Chromium is not installed
  (EdgeConsole no longer needs it): ``apt-get install chromium`` to run it.
- Plain sockets: a DNS-shaped datagram on a socket that lives for microseconds, a
  resolver-daemon connect and a non-loopback connect, from a grandchild process.

These run in a network namespace (tests/security/offline_run.py): the lookups they
provoke never leave the machine.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.security.offline_run import REPO, Watch
from tests.security.syscalls import Finding

DIGITS_BUNDLE = REPO / "sample_models" / "bundles" / "digits-1.ecb"
TRUST = REPO / "sample_models" / "trust"
ORT_COLLECTOR = "mobile.events.data.microsoft.com"
#: What the PDF export ran before it rendered in-process (edgeconsole/commission/pdf.py
#: at fd88ba7): Chromium with "networking components off".
OLD_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
)
#: onnxruntime loaded first: its telemetry latches on before edgeconsole can say no.
ORT_FIRST = (
    "import onnxruntime, sys\nfrom edgeconsole.cli.main import main\nsys.exit(main(sys.argv[1:]))"
)


def _lookups(found: list[Finding]) -> set[str]:
    return {f.lookup for f in found if f.kind == "dns" and f.lookup}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sees_onnxruntime_telemetry_when_it_is_on(offline_watch: Watch) -> None:
    w = offline_watch
    _out, err = w.run(
        "run-ort-first",
        [
            *(sys.executable, "-c", ORT_FIRST, "run", "--source", "synthetic:conveyor?fps=10"),
            *("--model", str(DIGITS_BUNDLE), "--trust", str(TRUST), "--seconds", "12", "--json"),
        ],
    )
    # The library warns the person instead of pretending.
    assert "its telemetry is ON in this process" in err, err[-2000:]
    verdict = w.verdict()
    report = verdict.report()
    dns = [f for f in verdict.egress if f.kind == "dns"]
    assert dns, f"the tracer missed onnxruntime's lookup (fires ~9 s after it loads):\n{report}"
    assert ORT_COLLECTOR in _lookups(dns), report
    assert all(" run --source" in f.process for f in dns), report
    # ... from onnxruntime's own native threads, never the Python main thread.
    assert all(f.call.tid != f.pid for f in dns), report
    assert any("/.cache/Microsoft/DeveloperTools/.onnxruntime/" in t for t in verdict.tree), report
    assert any(".onnxruntime/deviceid" in w_.path for w_ in verdict.writes), report


@pytest.mark.skipif(shutil.which("chromium") is None, reason="apt-get install chromium to run")
def test_sees_chromium_lookups_on_the_old_pdf_path(offline_watch: Watch) -> None:
    w = offline_watch
    html = w.scratch.work / "r.html"
    html.write_text("<html><body><h1>Commissioning report</h1></body></html>")
    pdf = w.scratch.work / "r.pdf"
    profile = w.scratch.tmp / "ec-chromium-profile"
    w.run(
        "chromium",
        [
            *("chromium", *OLD_CHROMIUM_FLAGS, f"--user-data-dir={profile}"),
            *("--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri()),
        ],
        timeout=120,
    )
    assert pdf.read_bytes()[:5] == b"%PDF-"
    verdict = w.verdict([pdf])
    report = verdict.report()
    names = _lookups(verdict.egress)
    assert any(n.endswith((".google.com", ".googleapis.com")) for n in names), report
    assert any("chromium" in f.process for f in verdict.egress), report


def test_sees_a_microsecond_dns_datagram_from_a_grandchild(offline_watch: Watch) -> None:
    """What /proc sampling missed: a socket that exists for microseconds, in a process
    two levels down. Loopback only, and a UDP connect sends no packet: nothing leaves."""
    child = offline_watch.scratch.work / "child.py"
    child.write_text(
        "import socket\n"
        "q = b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00'"
        " + b'\\x07example\\x07invalid\\x00\\x00\\x01\\x00\\x01'\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.sendto(q, ('127.0.0.1', 53)); s.close()\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n    u.connect(('192.0.2.1', 9))\nexcept OSError:\n    pass\n"
        "x = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "try:\n    x.connect('/var/run/nscd/socket')\nexcept OSError:\n    pass\n"
    )
    w = offline_watch
    parent = f"import subprocess, sys; subprocess.run([sys.executable, {str(child)!r}], check=True)"
    w.run("parent", [sys.executable, "-c", parent])
    verdict = w.verdict()
    report = verdict.report()
    kinds = {(f.kind, f.address) for f in verdict.egress}
    assert ("dns", "127.0.0.1:53") in kinds, report
    assert ("network", "192.0.2.1:9") in kinds, report
    assert ("resolver socket", "/var/run/nscd/socket") in kinds, report
    assert "example.invalid" in _lookups(verdict.egress), report
    assert all(str(child) in f.process and "child of" in f.process for f in verdict.egress), report
