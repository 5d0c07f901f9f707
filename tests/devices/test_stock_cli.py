"""``edgeconsole image|fs|stats|shell`` against the stock virtual device (real pty), with
what each leaves in the audit journal."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.cli.main import main
from edgeconsole.journal.journal import Journal
from edgeconsole.sim.stock_device import StockSerialDevice

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "sample_models" / "bundles" / "digits-1.ecb"
TRUST = ROOT / "sample_models" / "trust"

Device = Callable[..., StockSerialDevice]
Sign = Callable[..., bytes]


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def audit(home: Path) -> list[Any]:
    journal = Journal.open(home / "journal")
    try:
        return list(journal.audit.entries())
    finally:
        journal.close()


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_image_list_json(stock_device: Device, capsys: Any) -> None:
    dev = stock_device(groups=frozenset({0, 1, 8}))
    rc, out, _ = run(capsys, "image", "list", str(dev.path), "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["capabilities"]["source"] == "probing"
    features = {f["key"]: f for f in data["capabilities"]["features"]}
    assert features["fs"]["available"] and not features["shell"]["available"]
    assert "CONFIG_MCUMGR_GRP_SHELL" in features["shell"]["reason"]
    (slot0,) = data["images"]
    assert slot0["active"] and slot0["confirmed"] and slot0["version"] == "1.0.0"


def test_image_upload_confirm_and_its_journal(
    stock_device: Device,
    signed_image: Sign,
    capsys: Any,
    tmp_path: Path,
    _private_app_home: Path,
) -> None:
    dev = stock_device()
    image = write(tmp_path, "fw.bin", signed_image(dev, "1.4.0"))
    key = str(dev.key_path)
    rc, out, _ = run(
        capsys, "image", "upload", str(dev.path), image, "--key", key, "--confirm", "--json"
    )
    assert rc == 0, out
    result = json.loads(out)
    assert result["outcome"] == "confirmed" and result["version"] == "1.4.0"
    assert result["image"]["signed_by"] == "mcuboot-ed25519.pub.pem"
    entries = [e for e in audit(_private_app_home) if e.kind == "firmware"]
    assert [e.level for e in entries] == ["info", "info"]
    assert "1.4.0 runs (confirmed); was 1.0.0" in entries[-1].message
    assert entries[-1].fields["image_hash"] == result["hash"]


def test_upload_then_test_then_confirm_then_revert_refused(
    stock_device: Device, signed_image: Sign, capsys: Any, tmp_path: Path
) -> None:
    dev = stock_device()
    p, key = str(dev.path), str(dev.key_path)
    image = write(tmp_path, "fw.bin", signed_image(dev, "1.1.0"))
    rc, out, _ = run(capsys, "image", "upload", p, image, "--key", key, "--json", "--no-journal")
    assert rc == 0
    assert [s["slot"] for s in json.loads(out)["images"]] == [0, 1]
    rc, out, _ = run(capsys, "image", "test", p, "--json", "--no-journal")
    assert rc == 0
    running = next(s for s in json.loads(out)["images"] if s["active"])
    assert running["version"] == "1.1.0" and not running["confirmed"]
    rc, _, err = run(capsys, "image", "erase", p, "--no-journal")
    assert rc == 1 and "the confirmed image MCUboot reverts to" in err
    rc, out, _ = run(capsys, "image", "confirm", p, "--json", "--no-journal")
    assert rc == 0
    assert next(s for s in json.loads(out)["images"] if s["active"])["confirmed"]
    rc, _, err = run(capsys, "image", "revert", p, "--no-journal")
    assert rc == 1 and "nothing to revert" in err
    rc, out, _ = run(capsys, "image", "erase", p, "--json", "--no-journal")
    assert rc == 0 and [s["slot"] for s in json.loads(out)["images"]] == [0]


def test_refusals_are_sentences_and_change_nothing(
    stock_device: Device, signed_image: Sign, capsys: Any, tmp_path: Path
) -> None:
    dev = stock_device()
    other = stock_device("other")
    p = str(dev.path)
    foreign = write(tmp_path, "foreign.bin", signed_image(other, "1.1.0"))
    rc, _, err = run(capsys, "image", "upload", p, foreign, "--key", str(dev.key_path), "--confirm")
    assert rc == 1 and "not by a key you trust" in err
    rc, _, err = run(capsys, "image", "upload", p, foreign, "--confirm")
    assert rc == 1 and "no trusted firmware key" in err
    junk = write(tmp_path, "junk.bin", b"MZ" + bytes(100))
    rc, _, err = run(capsys, "image", "upload", p, junk, "--key", str(dev.key_path))
    assert rc == 1 and "not an MCUboot image" in err
    rc, _, err = run(capsys, "image", "upload", p, str(tmp_path / "nope.bin"), "--allow-unsigned")
    assert rc == 1 and "no such file" in err
    rc, _, err = run(capsys, "image", "upload", p, foreign, "--permanent")
    assert rc == 1 and "--test or --confirm" in err
    assert dev.server.counters.uploads == 0


def test_fs_put_get_and_bundle_model_with_hashes_in_the_journal(
    stock_device: Device, capsys: Any, tmp_path: Path, _private_app_home: Path
) -> None:
    dev = stock_device()
    p = str(dev.path)
    local = write(tmp_path, "notes.txt", b"line\n" * 1000)
    rc, out, _ = run(capsys, "fs", "put", p, "/lfs1/notes.txt", local, "--json")
    assert rc == 0 and json.loads(out)["device_hash"]["kind"] == "sha256"
    rc, out, _ = run(capsys, "fs", "stat", p, "/lfs1/notes.txt", "--json")
    stat = json.loads(out)
    assert rc == 0 and stat["size"] == 5000
    assert stat["hash"]["value"] == hashlib.sha256(b"line\n" * 1000).hexdigest()
    rc, out, _ = run(
        capsys, "fs", "get", p, "/lfs1/notes.txt", str(tmp_path / "back.txt"), "--json"
    )
    assert rc == 0 and (tmp_path / "back.txt").read_bytes() == b"line\n" * 1000
    if not BUNDLE.is_file():
        pytest.skip("sample bundles not built")
    args = ["fs", "put", p, "/lfs1/model.onnx", "--bundle", str(BUNDLE), "--trust", str(TRUST)]
    rc, out, _ = run(capsys, *args, "--json")
    assert rc == 0
    placed = json.loads(out)
    assert placed["before"] == "absent" and placed["after"].startswith("sha256:")
    rc, out, _ = run(capsys, *args, "--json")
    again = json.loads(out)
    assert again["before"] == placed["after"] == again["after"]
    entry = [e for e in audit(_private_app_home) if "placed at /lfs1/model.onnx" in e.message]
    assert entry and entry[-1].fields["before"] == placed["after"]
    rc, _, err = run(capsys, "fs", "put", p, "/lfs1/x", "--bundle", str(BUNDLE))
    assert rc == 1 and "trust" in err  # the app's own trust store is empty here


def test_fs_refusals(stock_device: Device, capsys: Any, tmp_path: Path) -> None:
    dev = stock_device()
    p = str(dev.path)
    rc, _, err = run(capsys, "fs", "get", p, "/lfs1/missing", str(tmp_path / "m"), "--no-journal")
    assert rc == 1 and "does not exist" in err and not (tmp_path / "m").exists()
    local = write(tmp_path, "a", b"x")
    rc, _, err = run(capsys, "fs", "put", p, "/nomount/a", local, "--no-journal")
    assert rc == 1 and "mount point" in err
    rc, _, err = run(capsys, "fs", "put", p, "relative", local, "--no-journal")
    assert rc == 1 and "absolute" in err


def test_stats_and_shell(stock_device: Device, capsys: Any, _private_app_home: Path) -> None:
    dev = stock_device()
    p = str(dev.path)
    rc, out, _ = run(capsys, "stats", p, "--json")
    assert rc == 0 and "smp_svr_stats" in json.loads(out)["groups"]
    rc, out, _ = run(capsys, "shell", p, "--json", "--", "echo", "hello", "there")
    assert rc == 0 and json.loads(out) == {
        "command": ["echo", "hello", "there"],
        "output": "hello there",
        "ret": 0,
    }
    rc, _, err = run(capsys, "shell", p, "--", "nope")
    assert rc == 1 and "returned -8" in err
    rc, _, err = run(capsys, "shell", p, "--timeout", "0.5", "--", "sleep", "2000")
    assert rc == 1 and "did not return within" in err
    shells = [e for e in audit(_private_app_home) if e.kind == "shell"]
    assert shells[0].fields["output"] == "hello there" and shells[0].fields["ret"] == 0
    assert shells[-1].level == "error"


def test_a_device_without_the_shell_group(stock_device: Device, capsys: Any) -> None:
    dev = stock_device(groups=frozenset({0, 1}))
    rc, _, err = run(capsys, "shell", str(dev.path), "--no-journal", "--", "help")
    assert rc == 1 and "no shell management" in err


def test_an_edgeconsole_device_is_sent_to_its_own_commands(serial_device: Any, capsys: Any) -> None:
    dev = serial_device()
    rc, _, err = run(capsys, "image", "list", str(dev.path))
    assert rc == 1 and "edgeconsole slots" in err


def test_bundle_commands_send_a_stock_device_to_the_image_commands(
    stock_device: Device, capsys: Any
) -> None:
    dev = stock_device()
    rc, _, err = run(capsys, "slots", str(dev.path))
    assert rc == 1 and "stock Zephyr/MCUmgr device" in err and "edgeconsole image" in err
