"""Resumable bundle upload over real HTTP on 127.0.0.1, through the console's client."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edgeconsole.core.slots import SlotState
from edgeconsole.devices.gateway.client import GatewayClient, UploadFailed
from edgeconsole.devices.gateway.http import AuthError
from tests.fixtures.gateway import GatewayKit, RunningAgent, StartAgent

_clients: list[GatewayClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Any:
    yield
    while _clients:
        _clients.pop().close()


def client_for(
    agent: RunningAgent, token: str | None = None, port: int | None = None
) -> GatewayClient:
    c = GatewayClient(
        f"http://127.0.0.1:{port or agent.port}",
        agent.token if token is None else token,
        timeout_s=10,
    )
    _clients.append(c)
    return c


def files_under(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "journal.jsonl"
    }


def test_upload_stages_into_the_inactive_slot(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit
) -> None:
    bundle = gateway_kit.bundle(version=1)
    c = client_for(gateway_agent)
    progress: list[Any] = []
    result = c.upload(bundle, progress=progress.append)
    assert result["state"] == "staged" and result["slot"] == 0
    assert result["bundle_id"] == "digits-mlp" and result["version"] == 1
    staged = gateway_agent.data_dir / "slots" / "0" / "bundle.ecb"
    assert staged.read_bytes() == bundle.read_bytes()
    slots = c.slots()
    assert slots["slots"][0]["state"] == "staged"
    assert progress and progress[-1].sent == bundle.stat().st_size
    # Uploading the same bytes again sends nothing and changes nothing.
    again = c.upload(bundle)
    assert again["state"] == "staged" and again["offset"] == bundle.stat().st_size


def test_swap_trial_confirm_then_rollback(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit
) -> None:
    c = client_for(gateway_agent)
    v1, v2 = gateway_kit.bundle(version=1), gateway_kit.bundle(version=2)
    c.upload(v1)
    r = c.activate(0, confirm=True)
    assert r["state"] == "confirmed", r
    assert r["report"]["ok"] and r["report"]["max_error"] <= 1e-4
    assert c.info()["model"] == {"name": "digits-mlp", "version": "1"}
    up = c.upload(v2)
    assert up["slot"] == 1  # the confirmed slot 0 is never written
    r = c.activate(1)
    assert r["state"] == "trial"
    assert c.info()["model"]["version"] == "2"
    table = c.confirm()
    assert table["confirmed"] == 1
    table = c.rollback()  # back to the previous confirmed bundle
    assert table["confirmed"] == 0 and c.info()["model"]["version"] == "1"
    kinds = [e["text"] for e in c.journal()["entries"]]
    assert any("passed its health check" in t for t in kinds)


def test_wrong_or_missing_token_is_401_and_nothing_changes(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit
) -> None:
    bundle = gateway_kit.bundle(version=1)
    before = files_under(gateway_agent.data_dir)
    for token in ("", "wrong-token-0123456789", gateway_agent.token + "x"):
        c = client_for(gateway_agent, token=token)
        with pytest.raises(AuthError):
            c.upload(bundle)
        with pytest.raises(AuthError):
            c.activate(0)
        with pytest.raises(AuthError):
            c.rollback()
        with pytest.raises(AuthError):
            c.info()
        assert c.is_live()
    assert files_under(gateway_agent.data_dir) == before


def test_second_concurrent_upload_is_refused(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit
) -> None:
    a, b = gateway_kit.bundle(version=1), gateway_kit.bundle(version=2)
    c = client_for(gateway_agent)
    sha_a = hashlib.sha256(a.read_bytes()).hexdigest()
    started = c.aio  # announce A without sending it: a session in progress
    first = c._run(
        started.post_json("/v2/edgeconsole/uploads", {"sha256": sha_a, "length": a.stat().st_size})
    )
    assert first["state"] == "uploading" and first["offset"] == 0
    with pytest.raises(UploadFailed, match="another upload"):
        c.upload(b)
    # the first one still completes
    assert c.upload(a)["state"] == "staged"


def test_disk_full_is_a_clear_error_and_the_active_slot_is_untouched(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit, tmp_path: Path
) -> None:
    agent = start_gateway_agent()
    c = client_for(agent)
    c.upload(gateway_kit.bundle(version=1))
    c.activate(0, confirm=True)
    active = agent.data_dir / "slots" / "0" / "bundle.ecb"
    before = active.read_bytes()
    # Real ENOSPC from the kernel: the staging file is /dev/full.
    v2 = gateway_kit.bundle(version=2)
    sha = hashlib.sha256(v2.read_bytes()).hexdigest()
    (agent.data_dir / "upload").mkdir(exist_ok=True)
    agent.agent.uploads.part_path(sha).symlink_to("/dev/full")
    agent.agent.uploads.begin  # noqa: B018 - the session below is created by the client

    real_begin = agent.agent.uploads.begin

    def begin_keep_link(s: str, n: int, **kw: Any) -> dict[str, Any]:
        # begin() recreates the part file; put /dev/full back under it.
        out = real_begin(s, n, **kw)
        p = agent.agent.uploads.part_path(s)
        p.unlink()
        p.symlink_to("/dev/full")
        return out

    agent.agent.uploads.begin = begin_keep_link  # type: ignore[method-assign]
    with pytest.raises(UploadFailed, match="disk is full"):
        c.upload(v2)
    assert active.read_bytes() == before
    assert c.info()["model"]["version"] == "1"
    slots = c.slots()
    assert slots["confirmed"] == 0 and slots["slots"][0]["state"] == "confirmed"


def test_not_enough_free_space_is_refused_before_any_byte(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit
) -> None:
    agent = start_gateway_agent(reserve_bytes=1 << 60)  # more than any disk has free
    c = client_for(agent)
    with pytest.raises(UploadFailed, match="not enough space"):
        c.upload(gateway_kit.bundle(version=1))
    assert c.slots()["slots"][0]["state"] == "empty"


def test_bad_signature_refused_before_payload(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tests.fixtures.gateway import GatewayKit as Kit

    stranger = Kit(tmp_path, Ed25519PrivateKey.generate(), gateway_kit.trust_dir)
    c = client_for(gateway_agent)
    with pytest.raises(UploadFailed, match="unknown key"):
        c.upload(stranger.bundle(version=1))
    assert c.slots()["slots"][0]["state"] in ("empty", "bad")
    assert not (gateway_agent.data_dir / "slots" / "0" / "bundle.ecb").exists()


def test_wrong_hardware_refused(gateway_agent: RunningAgent, gateway_kit: GatewayKit) -> None:
    c = client_for(gateway_agent)
    with pytest.raises(UploadFailed, match="hardware"):
        c.upload(gateway_kit.bundle(version=1, hardware_ids=("mcu-m4",)))


def _put(agent: RunningAgent, sha: str, offset: int, data: bytes) -> tuple[int, dict[str, Any]]:
    import asyncio

    async def go() -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as s,
            s.put(
                f"{agent.url}/v2/edgeconsole/uploads/{sha}",
                data=data,
                headers={**agent.headers(), "Upload-Offset": str(offset)},
            ) as r,
        ):
            return r.status, json.loads(await r.read())

    return asyncio.run(go())


def _post(agent: RunningAgent, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    import asyncio

    async def go() -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                f"{agent.url}{path}",
                data=body,
                headers={**agent.headers(), "Content-Type": "application/json"},
            ) as r,
        ):
            return r.status, json.loads(await r.read())

    return asyncio.run(go())


def test_corrupted_chunk_is_refused_with_the_offset_to_resend(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit
) -> None:
    data = gateway_kit.bundle(version=1, padding=300_000).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    status, body = _post(
        gateway_agent,
        "/v2/edgeconsole/uploads",
        json.dumps({"sha256": sha, "length": len(data)}).encode(),
    )
    assert status == 200
    bad = bytearray(data)
    bad[-20_000] ^= 0xFF  # inside the last payload chunk
    status, body = _put(gateway_agent, sha, 0, bytes(bad))
    assert status == 422 and "chunk" in body["error"]
    resend = body["offset"]
    assert 0 < resend < len(data) - 20_000
    status, body = _put(gateway_agent, sha, resend, data[resend:])
    assert status == 200 and body["state"] == "staged"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b"{",
        b'{"sha256": "zz", "length": 5}',
        b'{"sha256": "' + b"a" * 64 + b'", "length": -1}',
        b'{"sha256": "' + b"a" * 64 + b'", "length": true}',
        b'{"sha256": "' + b"a" * 64 + b'", "length": 1e30}',
    ],
)
def test_hostile_upload_announcements_are_400(gateway_agent: RunningAgent, body: bytes) -> None:
    status, reply = _post(gateway_agent, "/v2/edgeconsole/uploads", body)
    assert status == 400 and reply["error"]
    assert gateway_agent.agent.uploads.session is None


def test_garbage_and_overlong_bodies_are_refused(gateway_agent: RunningAgent) -> None:
    junk = b"\x00not a tar" * 100
    sha = hashlib.sha256(junk).hexdigest()
    assert (
        _post(
            gateway_agent,
            "/v2/edgeconsole/uploads",
            json.dumps({"sha256": sha, "length": len(junk)}).encode(),
        )[0]
        == 200
    )
    status, body = _put(gateway_agent, sha, 5, junk)
    assert status == 409 and body["offset"] == 0  # not where the upload stands
    status, body = _put(gateway_agent, sha, 0, junk + b"x")
    assert status == 400 and "length" in body["error"]
    status, body = _put(gateway_agent, sha, 0, junk)
    assert status == 422
    assert gateway_agent.agent.uploads.session is None  # discarded, nothing staged
    slots = gateway_agent.agent.slots.table
    assert all(s.state in (SlotState.EMPTY, SlotState.BAD) for s in slots.slots)


@pytest.mark.parametrize("request_bytes", [1 << 20, 32 << 20], ids=["mid-upload", "at-finish"])
def test_failed_fsync_of_the_part_file_rolls_back_to_synced_bytes(
    gateway_agent: RunningAgent,
    gateway_kit: GatewayKit,
    monkeypatch: pytest.MonkeyPatch,
    request_bytes: int,
) -> None:
    """An fsync that fails (EIO) may have lost any byte after the persisted offset:
    the agent says so, forgets those bytes, and a retry sends them again."""
    import errno
    import os

    import edgeconsole.devices.gateway.client as client_mod

    monkeypatch.setattr(client_mod, "REQUEST_BYTES", request_bytes)
    bundle = gateway_kit.bundle(version=1, padding=3_000_000)
    real_fsync = os.fsync
    failed: list[int] = []

    def fsync(fd: int) -> None:
        if not failed and os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
            failed.append(fd)
            raise OSError(errno.EIO, "Input/output error (injected)")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    c = client_for(gateway_agent)
    with pytest.raises(UploadFailed, match="could not store the bundle"):
        c.upload(bundle)
    assert failed
    uploads = gateway_agent.agent.uploads
    assert uploads.session is not None
    persisted = json.loads((gateway_agent.data_dir / "upload" / "session.json").read_text())
    # Nothing after the persisted offset is kept: the part file ends there.
    assert uploads.session.offset == persisted["offset"]
    assert uploads.part_path(uploads.session.sha256).stat().st_size == persisted["offset"]
    result = c.upload(bundle)
    assert result["state"] == "staged"
    staged = gateway_agent.data_dir / "slots" / "0" / "bundle.ecb"
    assert staged.read_bytes() == bundle.read_bytes()


def test_upload_goes_in_bounded_sized_requests_each_resuming_at_the_agents_offset(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgeconsole.devices.gateway.client as client_mod

    monkeypatch.setattr(client_mod, "REQUEST_BYTES", 1 << 20)
    bundle = gateway_kit.bundle(version=1, padding=3_000_000)
    size = bundle.stat().st_size
    result = client_for(gateway_agent).upload(bundle)
    assert result["state"] == "staged" and result["resumes"] == 0
    assert result["starts"] == list(range(0, size, 1 << 20))
    assert result["transmitted"] == size
    staged = gateway_agent.data_dir / "slots" / "0" / "bundle.ecb"
    assert staged.read_bytes() == bundle.read_bytes()


def test_a_chunked_body_in_odd_pieces_is_still_accepted(
    gateway_agent: RunningAgent, gateway_kit: GatewayKit
) -> None:
    """Older clients stream one chunked PUT; piece boundaries never matter."""
    import asyncio

    data = gateway_kit.bundle(version=1, padding=600_000).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    body = json.dumps({"sha256": sha, "length": len(data)}).encode()
    assert _post(gateway_agent, "/v2/edgeconsole/uploads", body)[0] == 200

    async def pieces() -> Any:
        pos, n = 0, 1
        while pos < len(data):
            yield data[pos : pos + n]
            pos, n = pos + n, (n * 7 + 3) % 70_001 + 1  # 1 byte up to ~70 KB

    async def go() -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as s,
            s.put(
                f"{gateway_agent.url}/v2/edgeconsole/uploads/{sha}",
                data=pieces(),
                headers={**gateway_agent.headers(), "Upload-Offset": "0"},
            ) as r,
        ):
            assert r.request_info.headers.get("Transfer-Encoding") == "chunked"
            return r.status, json.loads(await r.read())

    status, result = asyncio.run(go())
    assert status == 200 and result["state"] == "staged"
    staged = gateway_agent.data_dir / "slots" / "0" / "bundle.ecb"
    assert staged.read_bytes() == data


def test_a_session_left_by_a_kill_after_staging_is_dropped_at_start(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit, tmp_path: Path
) -> None:
    """Found by the kill -9 hammer (round 152 of the first long run): killed after the
    bundle was staged but before the session was cleared, the agent came back with a
    session whose part file had been moved into the slot; the resumed upload could
    not finish ("slot is not being staged") and every later PUT was an HTTP 500."""
    data = tmp_path / "agent"
    first = start_gateway_agent(data)
    bundle = gateway_kit.bundle(version=1)
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert client_for(first).upload(bundle)["state"] == "staged"
    first.background.stop()
    # What the kill left: the table says staged, session.json still names the upload.
    (data / "upload" / "session.json").write_text(
        json.dumps(
            {
                "sha256": sha,
                "length": bundle.stat().st_size,
                "slot": 0,
                "offset": bundle.stat().st_size,
                "started": 1.0,
                "updated": 1.0,
            }
        )
    )
    again = start_gateway_agent(data)
    assert again.agent.uploads.session is None
    c = client_for(again)
    assert c.upload_status(sha)["state"] == "staged"
    status, body = _put(again, sha, 0, bundle.read_bytes())
    assert status == 404, body  # nothing to resume: a sentence, not a 500
    result = c.upload(bundle)
    assert result["state"] == "staged" and result["transmitted"] == 0
    assert not (data / "upload" / "session.json").exists()
