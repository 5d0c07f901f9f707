"""Evidence packs are checked against console keys the person trusts, never against the
public key the pack carries (issue 13, section 2: a pack edited and re-signed with any
key used to verify)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.cli.main import main
from edgeconsole.journal.export import COMPLETE, PUBKEY, SIG, SUMS, EvidencePackJob, ExportRequest
from edgeconsole.journal.keys import ConsoleKey, public_pem
from edgeconsole.journal.pack_trust import OWN_LABEL, trusted_keys
from edgeconsole.journal.settings import SiteSettings
from edgeconsole.journal.verify import verify_pack


def _export(journal: Any, out: Path, key: ConsoleKey) -> Path:
    journal.set_site(SiteSettings("Plant 4", "Ana"))
    journal.audit.log("flash", "info", "serial:///dev/ttyACM0", "flash done", slot=1)
    EvidencePackJob(journal.dir, journal.site(), key, ExportRequest(out)).run()
    return out


def _resign(pack: Path, key: ConsoleKey) -> None:
    """What an attacker does: change a file, then make the pack consistent again and sign
    it with their own key, putting that key beside it."""
    audit = pack / "tables" / "audit.csv"
    audit.write_text(audit.read_text().replace("flash done", "flash done, all good"))
    (pack / PUBKEY).write_bytes(public_pem(key.public))
    lines = []
    for line in (pack / SUMS).read_text().splitlines():
        rel = line.split("  ", 1)[1]
        lines.append(f"{hashlib.sha256((pack / rel).read_bytes()).hexdigest()}  {rel}")
    sums = ("\n".join(lines) + "\n").encode()
    (pack / SUMS).write_bytes(sums)
    (pack / SIG).write_bytes(key.sign(sums))
    complete = json.loads((pack / COMPLETE).read_text())
    complete["sha256_of_SHA256SUMS"] = hashlib.sha256(sums).hexdigest()
    (pack / COMPLETE).write_text(json.dumps(complete))
    # manifest.json lists each file's hash too: fix it, and its line in SHA256SUMS.
    man = json.loads((pack / "manifest.json").read_text())
    for c in man["contents"]:
        c["sha256"] = hashlib.sha256((pack / c["path"]).read_bytes()).hexdigest()
    (pack / "manifest.json").write_text(json.dumps(man))
    lines = [
        f"{hashlib.sha256((pack / ln.split('  ', 1)[1]).read_bytes()).hexdigest()}  "
        f"{ln.split('  ', 1)[1]}"
        for ln in lines
    ]
    sums = ("\n".join(lines) + "\n").encode()
    (pack / SUMS).write_bytes(sums)
    (pack / SIG).write_bytes(key.sign(sums))
    complete["sha256_of_SHA256SUMS"] = hashlib.sha256(sums).hexdigest()
    (pack / COMPLETE).write_text(json.dumps(complete))


def test_a_pack_edited_and_re_signed_with_another_key_is_refused(
    journal: Any, tmp_path: Path
) -> None:
    pack = _export(journal, tmp_path / "pack", ConsoleKey.load_or_create())
    assert verify_pack(pack).ok
    attacker = ConsoleKey.load_or_create(tmp_path / "attacker")
    _resign(pack, attacker)
    rep = verify_pack(pack)
    assert not rep.ok
    assert rep.problems == [
        next(p for p in rep.problems if p.startswith(f"signed by {attacker.fingerprint}"))
    ], rep.problems  # every checksum is consistent: the signer is the only problem
    assert "a key you do not trust" in rep.problems[0]
    assert OWN_LABEL in rep.problems[0]
    assert rep.fingerprint is None and rep.carried_fingerprint == attacker.fingerprint


def test_a_pack_from_another_console_verifies_with_its_key_and_names_it(
    journal: Any, tmp_path: Path
) -> None:
    ConsoleKey.load_or_create()  # this console has a key of its own
    other = ConsoleKey.load_or_create(tmp_path / "other-console")
    pack = _export(journal, tmp_path / "pack", other)
    rep = verify_pack(pack)  # this console's key only
    assert not rep.ok and "a key you do not trust" in rep.problems[0]
    pem = tmp_path / "keys" / "line-3-console.pem"
    pem.parent.mkdir()
    pem.write_bytes(public_pem(other.public))
    (tmp_path / "keys" / "another.pub").write_bytes(
        public_pem(ConsoleKey.load_or_create(tmp_path / "x").public)
    )
    for trusted_path in (pem, pem.parent):  # one file, or a folder of several keys
        keys, problems = trusted_keys([trusted_path])
        assert not problems
        rep = verify_pack(pack, keys)
        assert rep.ok, rep.problems
        assert rep.signer == str(pem) and rep.fingerprint == other.fingerprint


def test_own_key_is_the_default_and_is_never_created_by_verifying(
    journal: Any, journal_home: Path, tmp_path: Path
) -> None:
    key = ConsoleKey.load_or_create()
    pack = _export(journal, tmp_path / "pack", key)
    rep = verify_pack(pack)
    assert rep.ok and rep.signer == OWN_LABEL and rep.fingerprint == key.fingerprint
    fresh = tmp_path / "fresh-home"
    keys, problems = trusted_keys(own_dir=fresh)
    assert keys == [] and problems == [] and not fresh.exists()
    rep = verify_pack(pack, keys)
    assert not rep.ok
    assert "no trusted console key" in rep.problems[0] and key.fingerprint in rep.problems[0]


def test_unreadable_trusted_keys_are_sentences(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    empty = tmp_path / "empty"
    empty.mkdir()
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"A" * 100_000)
    _keys, problems = trusted_keys([bad, empty, huge, tmp_path / "missing.pem"], own=False)
    assert len(problems) == 4
    assert "not a PEM public key" in problems[0]
    assert "no public key files" in problems[1]
    assert "too large" in problems[2]
    assert "cannot read trusted key" in problems[3]


def test_cli_verify_says_which_key_signed_and_refuses_a_re_signed_pack(
    journal: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _export(journal, tmp_path / "pack", ConsoleKey.load_or_create())
    assert main(["export", "verify", str(pack)]) == 0
    out = capsys.readouterr().out
    assert f"signed by {OWN_LABEL} (SHA256:" in out
    # This console's public key, for whoever verifies its packs elsewhere.
    assert main(["export", "key", "--out", str(tmp_path / "me.pem")]) == 0
    capsys.readouterr()
    assert (
        main(["export", "verify", str(pack), "--no-own-key", "--key", str(tmp_path / "me.pem")])
        == 0
    )
    assert f"signed by {tmp_path / 'me.pem'}" in capsys.readouterr().out
    _resign(pack, ConsoleKey.load_or_create(tmp_path / "attacker"))
    assert main(["export", "verify", str(pack), "--json"]) == 1
    res = json.loads(capsys.readouterr().out)
    assert not res["ok"] and res["signed_by"] is None
    assert "a key you do not trust" in res["problems"][0]
