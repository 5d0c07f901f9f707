"""The handshake over OPC UA, against asyncua's own server started by the test.

One bare server (the sample OPC UA map's nodes, plus a few wrong ones) serves the
link tests; the virtual PLC on OPC UA plays a whole line with a camera; a server
that only offers Basic256Sha256 shows the "security required" sentence, and the
same server with the camera's certificate in the map is reached signed and
encrypted.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from asyncua import Server, ua

from edgeconsole.core.errors import PlcDisconnected, PlcError
from edgeconsole.devices.plc.link import open_link
from edgeconsole.devices.plc.plcmap import PlcMap, Signal, load_map, parse_map, sample_map_path
from edgeconsole.devices.plc.service import HandshakeService, WatchService
from edgeconsole.sim.plc import Misbehaviour, VirtualPlc
from edgeconsole.sources.belt import BeltTiming
from tests.fixtures.plc import AlternatingDecider, wait_for

pytestmark = [pytest.mark.xdist_group("plc"), pytest.mark.slow]


@dataclass
class ServerThread:
    """An asyncua server on its own loop and thread (as a PLC is another machine)."""

    url: str
    server: Server
    loop: asyncio.AbstractEventLoop
    stop: Callable[[], None]

    def value(self, node: str) -> Any:
        return asyncio.run_coroutine_threadsafe(
            self.server.get_node(node).read_value(), self.loop
        ).result(5)

    def write(self, node: str, value: Any, vtype: ua.VariantType) -> None:
        asyncio.run_coroutine_threadsafe(
            self.server.get_node(node).write_value(ua.Variant(value, vtype)), self.loop
        ).result(5)


def start_server(
    build: Callable[[Server], Any], *, secure: tuple[Path, Path] | None = None
) -> ServerThread:
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        async def run() -> None:
            server = Server()
            await server.init()
            server.set_endpoint("opc.tcp://127.0.0.1:0/plc")
            if secure is not None:
                await server.load_certificate(str(secure[0]))
                await server.load_private_key(str(secure[1]))
                server.set_security_policy(
                    [
                        ua.SecurityPolicyType.Basic256Sha256_Sign,
                        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                    ]
                )
            else:
                server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            await build(server)
            stop = asyncio.Event()
            async with server:
                assert server.bserver is not None
                box["url"] = f"opc.tcp://127.0.0.1:{server.bserver.port}/plc"
                box["server"], box["loop"], box["stop"] = server, asyncio.get_running_loop(), stop
                ready.set()
                await stop.wait()

        try:
            asyncio.run(run())
        except BaseException as exc:
            box["error"] = exc
            ready.set()

    t = threading.Thread(target=main, daemon=True)
    t.start()
    assert ready.wait(60), "the OPC UA server did not start"
    if "error" in box:
        raise box["error"]

    def stop() -> None:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        t.join(10)

    return ServerThread(box["url"], box["server"], box["loop"], stop)


async def sample_nodes(server: Server) -> None:
    """The sample map's nodes as a PLC programmer would declare them (BOOL, INT), plus
    a string node and a read-only output for the bad-input tests."""
    await server.register_namespace("urn:test:plc")
    folder = await server.nodes.objects.add_folder("ns=2;s=QC", "QC")
    for name, sig in load_map(sample_map_path("opcua")).signals.items():
        assert sig.node is not None
        if sig.is_word:
            var = await folder.add_variable(sig.node, name, 0, varianttype=ua.VariantType.Int16)
        else:
            var = await folder.add_variable(
                sig.node, name, False, varianttype=ua.VariantType.Boolean
            )
        await var.set_writable()
    await folder.add_variable("ns=2;s=QC.Text", "Text", "hello", varianttype=ua.VariantType.String)
    await folder.add_variable(
        "ns=2;s=QC.Locked", "Locked", False, varianttype=ua.VariantType.Boolean
    )


@pytest.fixture(scope="module")
def bare() -> Iterator[ServerThread]:
    s = start_server(sample_nodes)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def opcua_map() -> PlcMap:
    return load_map(sample_map_path("opcua"))


def with_signal(m: PlcMap, name: str, node: str) -> PlcMap:
    return replace(m, signals={**m.signals, name: Signal(name, node=node)})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---- the link against a bare server ---------------------------------------------------
def test_link_reads_and_writes_typed_nodes(bare: ServerThread, opcua_map: PlcMap) -> None:
    async def go() -> dict[str, int]:
        link = open_link(bare.url, opcua_map, timeout_s=5)
        await link.connect()
        try:
            await link.write(
                {"ok": 1, "class_id": 3, "part_counter": 513, "results_ready": 1},
                last="results_ready",
            )
            return await link.read(["ok", "class_id", "part_counter", "results_ready", "ng"])
        finally:
            await link.close()

    assert run(go()) == {"ok": 1, "class_id": 3, "part_counter": 513, "results_ready": 1, "ng": 0}
    # The server holds the types the PLC declared: a Boolean stays a Boolean, INT an INT.
    assert bare.value("ns=2;s=QC.OK") is True
    assert bare.value("ns=2;s=QC.PartCounter") == 513


def test_a_node_the_server_lacks_is_a_sentence(bare: ServerThread, opcua_map: PlcMap) -> None:
    m = with_signal(opcua_map, "trigger", "ns=2;s=QC.NoSuchTrigger")
    with pytest.raises(PlcError) as info:
        run(open_link(bare.url, m, timeout_s=5).connect())
    msg = str(info.value)
    assert "has no node ns=2;s=QC.NoSuchTrigger (trigger)" in msg, msg
    assert "address space" in msg


def test_a_signal_on_a_text_node_is_a_sentence(bare: ServerThread, opcua_map: PlcMap) -> None:
    m = with_signal(opcua_map, "trigger", "ns=2;s=QC.Text")
    with pytest.raises(PlcError, match=r"trigger holds str 'hello', not a bit or a number"):
        run(open_link(bare.url, m, timeout_s=5).connect())


def test_a_read_only_output_is_a_sentence(bare: ServerThread, opcua_map: PlcMap) -> None:
    m = with_signal(opcua_map, "ok", "ns=2;s=QC.Locked")
    bare.write("ns=2;s=QC.ResultsReady", False, ua.VariantType.Boolean)

    async def go() -> None:
        link = open_link(bare.url, m, timeout_s=5)
        await link.connect()
        try:
            await link.write({"ok": 1, "results_ready": 1}, last="results_ready")
        finally:
            await link.close()

    with pytest.raises(PlcError) as info:
        run(go())
    msg = str(info.value)
    assert "does not let this client write ok (node ns=2;s=QC.Locked): read-only" in msg, msg
    # results_ready goes last: it was never raised over a verdict that was refused.
    assert bare.value("ns=2;s=QC.ResultsReady") is False


def test_unreachable_opcua_server(opcua_map: PlcMap) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PlcDisconnected, match="cannot reach the OPC UA server"):
        run(open_link(f"opc.tcp://127.0.0.1:{port}", opcua_map).connect())


def test_watch_a_bare_server_read_only(bare: ServerThread, opcua_map: PlcMap) -> None:
    for node in ("ns=2;s=QC.Trigger", "ns=2;s=QC.ResultsReady", "ns=2;s=QC.ResultsAck"):
        bare.write(node, False, ua.VariantType.Boolean)
    svc = WatchService(bare.url, opcua_map, poll_ms=2, timeout_s=5)
    svc.start()
    try:
        wait_for(lambda: svc.watcher.counters.polls >= 3)
        bare.write("ns=2;s=QC.Trigger", True, ua.VariantType.Boolean)
        wait_for(lambda: svc.watcher.counters.triggers == 1)
        bare.write("ns=2;s=QC.NG", True, ua.VariantType.Boolean)
        bare.write("ns=2;s=QC.OK", False, ua.VariantType.Boolean)
        bare.write("ns=2;s=QC.ResultsReady", True, ua.VariantType.Boolean)
        wait_for(
            lambda: (
                svc.watcher.summary()["counters"]["polls"] > 0
                and any(e[1] == "results_ready" and e[2] == 1 for e in svc.watcher.timeline())
            )
        )
        bare.write("ns=2;s=QC.ResultsAck", True, ua.VariantType.Boolean)
        wait_for(lambda: svc.watcher.counters.answered == 1)
    finally:
        svc.stop()
    part = svc.watcher.summary()["parts"][0]
    assert part["plc_verdict"] == "NG" and part["outcome"] == "answered"
    assert part["trigger_to_result_ms"] > 0 and part["result_to_ack_ms"] > 0


# ---- the whole line over OPC UA -------------------------------------------------------
def test_handshake_with_the_virtual_plc_over_opcua(opcua_map: PlcMap) -> None:
    # One part a second: a python OPC UA round trip on a machine at load 14 once kept the
    # camera from being ready again within the 500 ms of 120 parts/min (CI, "not_ready").
    plc = VirtualPlc(
        opcua_map, belt=BeltTiming.for_frame(1280, 720, parts_per_min=60), port=0, max_parts=6
    )
    plc.start()
    decider = AlternatingDecider()
    cam = HandshakeService(plc.address, opcua_map, decider, timeout_s=5)
    try:
        cam.start()
        wait_for(plc.done.is_set)
        wait_for(lambda: cam.runner.status().counters.acked >= plc.stats.acks)
    finally:
        cam.stop()
        plc.stop()
    s = plc.summary(parts=True)
    # Parts pass uninspected only until the camera has connected and said trigger_ready.
    outcomes = [p["outcome"] for p in s["part_log"]]
    first = outcomes.index("answered")
    assert set(outcomes[:first]) <= {"not_ready"} and set(outcomes[first:]) == {"answered"}
    assert s["triggers"] == s["answered"] == s["acks"] >= 3
    for p in (p for p in s["part_log"] if p["outcome"] == "answered"):
        assert p["verdict"] == ("OK" if p["counter"] % 3 else "NG"), p
        assert p["class_id"] == p["counter"] % 3
    assert cam.runner.status().counters.missing_acks == 0


def test_virtual_opcua_plc_lacking_outputs(opcua_map: PlcMap) -> None:
    plc = VirtualPlc(opcua_map, port=0, misbehave=Misbehaviour(missing_outputs=True))
    plc.start()
    try:
        with pytest.raises(PlcError, match=r"has no node ns=2;s=QC\.\w+ \(trigger_ready\)"):
            HandshakeService(plc.address, opcua_map, AlternatingDecider(), timeout_s=5).start()
    finally:
        plc.stop()


# ---- security -------------------------------------------------------------------------
def make_cert(folder: Path, name: str, uri: str) -> tuple[Path, Path]:
    from asyncua.crypto import cert_gen
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        name,
        {"organizationName": "EdgeConsole tests"},
        [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
    )
    cert_path, key_path = folder / f"{name}.der", folder / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Path]]:
    folder = tmp_path_factory.mktemp("opcua-certs")
    server_cert = make_cert(folder, "plc", "urn:test:plc")
    make_cert(folder, "camera", "urn:test:camera")
    s = start_server(sample_nodes, secure=server_cert)
    yield s, folder
    s.stop()


def test_server_requiring_security_is_a_sentence(
    secure: tuple[ServerThread, Path], opcua_map: PlcMap
) -> None:
    server, _ = secure
    with pytest.raises(PlcError) as info:
        HandshakeService(server.url, opcua_map, AlternatingDecider(), timeout_s=5).start()
    msg = str(info.value)
    assert "requires a security policy (Basic256Sha256 sign, Basic256Sha256 sign_and_encrypt)" in (
        msg
    ), msg
    assert 'security = "sign"' in msg and "certificate" in msg


def test_signed_and_encrypted_session_with_the_cameras_certificate(
    secure: tuple[ServerThread, Path],
) -> None:
    server, folder = secure
    text = (
        sample_map_path("opcua")
        .read_text()
        .replace(
            'security = "none"',
            'security = "sign_and_encrypt"\ncertificate = "camera.der"\nprivate_key = "camera.pem"',
        )
    )
    m = parse_map(text, source=str(folder / "line.toml"))
    assert m.opcua_certificate == str(folder / "camera.der")

    async def go() -> dict[str, int]:
        link = open_link(server.url, m, timeout_s=5)
        await link.connect()
        try:
            await link.write({"trigger_ready": 1})
            return await link.read(["trigger_ready", "trigger"])
        finally:
            await link.close()

    assert run(go()) == {"trigger_ready": 1, "trigger": 0}


def test_sign_mode_needs_certificate_and_key_in_the_map() -> None:
    from edgeconsole.core.errors import ConfigError

    text = sample_map_path("opcua").read_text().replace('security = "none"', 'security = "sign"')
    with pytest.raises(ConfigError, match="needs the client's certificate and private_key"):
        parse_map(text)


def test_missing_certificate_file_is_a_sentence(
    secure: tuple[ServerThread, Path], tmp_path: Path
) -> None:
    server, _ = secure
    text = (
        sample_map_path("opcua")
        .read_text()
        .replace(
            'security = "none"',
            'security = "sign"\ncertificate = "gone.der"\nprivate_key = "gone.pem"',
        )
    )
    m = parse_map(text, source=str(tmp_path / "line.toml"))
    with pytest.raises(PlcError, match="cannot read the certificate or key"):
        run(open_link(server.url, m, timeout_s=5).connect())
