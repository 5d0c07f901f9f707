"""Hammer every state-changing route of a real agent process at once; kill -9; check.

One round: start ``edgeconsole agent`` (a real process, real HTTP on 127.0.0.1),
let ``WORKERS`` threads fire random requests at it (upload begin / data / cancel /
status, activate with and without confirm, confirm, rollback, repository
load / unload, info, slots), SIGKILL the agent's whole process group (the agent and
its health-check children: a power cut) at a seeded moment, then check what it
left behind:

- ``slots.json`` reads as a valid table (no torn file, no "not JSON"), and no
  temp file of a killed write is left once the agent booted again;
- the agent starts again on the same directory and serves exactly the table on
  disk;
- every slot that claims a bundle (staged, trial, confirmed) holds that bundle's
  bytes (SHA-256 as the table says), and the model the agent serves is the
  running slot's bundle;
- no answer during the hammering was a 5xx (other than 503/507) or said that the
  slot table could not be saved.

The state carries over from round to round (the directory is kept), so the
rounds walk through the slot state machine. Seeded: the same seed gives the same
kill delays and request mix (the interleaving is the machine's).

CI runs a few rounds (tests/agent/test_slot_race.py); the long run is
``EDGECONSOLE_AGENT_ROUNDS=1000 .venv/bin/pytest tests/agent/test_slot_race.py``
or ``.venv/bin/python -m tests.agent.slot_hammer --rounds 1000``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.agent.agent_proc import AgentDidNotStart, AgentProcess, Client

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "sample_models" / "digits"
WORKERS = 6
#: Share of rounds that stop for a quiet-moment check before their kill.
QUIET_SHARE = 0.3
E = "/v2/edgeconsole"
#: Answers the agent may give under this load; anything else 5xx is a defect.
OK_5XX = {503, 507}


@dataclass
class RoundReport:
    index: int
    kill_after_s: float
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    table: dict[str, Any] | None = None
    quiet_checks: int = 0


class Hammer:
    """Random requests from several threads until told to stop."""

    def __init__(
        self, client: Client, bundles: list[bytes], rng: random.Random, report: RoundReport
    ) -> None:
        self.client = client
        self.bundles = bundles
        self.shas = [hashlib.sha256(b).hexdigest() for b in bundles]
        self.report = report
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._seeds = [rng.randrange(1 << 30) for _ in range(WORKERS)]
        self.threads = [
            threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(WORKERS)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self, timeout: float = 60.0) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout)

    def _record(self, what: str, status: int, body: dict[str, Any]) -> None:
        with self._lock:
            self.report.requests += 1
            self.report.by_status[status] = self.report.by_status.get(status, 0) + 1
            text = json.dumps(body)
            if status >= 500 and status not in OK_5XX:
                self.report.problems.append(f"{what}: HTTP {status} {text[:300]}")
            if "slot table" in text:
                self.report.problems.append(f"{what}: {text[:300]}")

    def _worker(self, index: int) -> None:
        rng = random.Random(self._seeds[index])
        actions = [
            (self._upload, 5),
            (self._begin_only, 2),
            (self._partial, 2),
            (self._cancel, 2),
            (self._status, 1),
            (self._activate, 4),
            (self._confirm, 2),
            (self._rollback, 2),
            (self._load_unload, 2),
            (self._read, 2),
        ]
        fns = [a for a, _ in actions]
        weights = [w for _, w in actions]
        while not self.stop.is_set():
            fn = rng.choices(fns, weights)[0]
            try:
                fn(rng)
            except (OSError, http.client.HTTPException):
                # The agent was killed (or a connection was cut by the kill).
                if self.stop.wait(0.05):
                    return

    def _call(
        self, what: str, method: str, path: str, body: Any = None, **kw: Any
    ) -> tuple[int, dict[str, Any]]:
        status, data = self.client.call(method, path, body, **kw)
        self._record(what, status, data)
        return status, data

    def _pick(self, rng: random.Random) -> int:
        return rng.randrange(len(self.bundles))

    def _begin(self, rng: random.Random, i: int) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"sha256": self.shas[i], "length": len(self.bundles[i])}
        if rng.random() < 0.5:
            body["allow_downgrade"] = True  # ignored by agents without the override
        return self._call("begin", "POST", E + "/uploads", body)

    def _put(self, i: int, offset: int, end: int | None = None) -> None:
        data = self.bundles[i][offset:end]
        self._call(
            "put",
            "PUT",
            f"{E}/uploads/{self.shas[i]}",
            data,
            headers={"Upload-Offset": str(offset), "Content-Type": "application/octet-stream"},
        )

    def _upload(self, rng: random.Random) -> None:
        i = self._pick(rng)
        status, data = self._begin(rng, i)
        if status == 200 and data.get("state") == "uploading":
            self._put(i, int(data.get("offset", 0)))

    def _begin_only(self, rng: random.Random) -> None:
        self._begin(rng, self._pick(rng))

    def _partial(self, rng: random.Random) -> None:
        i = self._pick(rng)
        status, data = self._begin(rng, i)
        if status == 200 and data.get("state") == "uploading":
            offset = int(data.get("offset", 0))
            end = offset + rng.randrange(1, max(2, len(self.bundles[i]) - offset))
            self._put(i, offset, end)

    def _cancel(self, rng: random.Random) -> None:
        self._call("cancel", "DELETE", f"{E}/uploads/{self.shas[self._pick(rng)]}")

    def _status(self, rng: random.Random) -> None:
        self._call("status", "GET", f"{E}/uploads/{self.shas[self._pick(rng)]}")

    def _activate(self, rng: random.Random) -> None:
        body = {"confirm": rng.random() < 0.5, "timeout_s": 30}
        self._call("activate", "POST", f"{E}/slots/{rng.randrange(2)}/activate", body)

    def _confirm(self, rng: random.Random) -> None:
        self._call("confirm", "POST", E + "/slots/confirm", {})

    def _rollback(self, rng: random.Random) -> None:
        self._call("rollback", "POST", E + "/slots/rollback", {})

    def _load_unload(self, rng: random.Random) -> None:
        op = rng.choice(["load", "unload"])
        self._call(op, "POST", f"/v2/repository/models/digits/{op}", {})

    def _read(self, rng: random.Random) -> None:
        self._call("slots", "GET", E + "/slots")
        self._call("info", "GET", E + "/info")


def check_after_kill(data: Path, report: RoundReport) -> dict[str, Any] | None:
    """What a kill -9 left on disk: the table must read, whole."""
    sys.path.insert(0, str(REPO))
    from edgeconsole.core.errors import EdgeConsoleError
    from edgeconsole.core.slots import SlotStore

    try:
        table = SlotStore(data).load()
    except EdgeConsoleError as exc:
        report.problems.append(f"after kill -9: {exc}")
        return None
    return table.to_json()


def check_served(
    client: Client,
    data: Path,
    on_disk: dict[str, Any],
    report: RoundReport,
    when: str = "after restart",
) -> None:
    """The agent (freshly booted, or at a quiet moment with no request running)
    serves the table on disk and the running slot's model."""
    from edgeconsole.core.atomic import stale_temps
    from edgeconsole.core.slots import SlotStore

    status, served = client.call("GET", E + "/slots")
    if status != 200:
        report.problems.append(f"GET slots {when}: HTTP {status} {served}")
        return
    # The boot may spend a trial attempt: compare with the table as it is now.
    now = SlotStore(data).load().to_json()
    for key in ("confirmed", "running", "slots"):
        if served.get(key) != now.get(key):
            report.problems.append(
                f"{when}: served {key} {served.get(key)} != on disk {now.get(key)} "
                f"(before: {on_disk.get(key)})"
            )
    if stale_temps(data / SlotStore.FILE):
        report.problems.append(f"{when}: stale temp files {stale_temps(data / SlotStore.FILE)}")
    for rec in now["slots"]:
        if rec["state"] not in ("staged", "trial", "confirmed"):
            continue
        path = data / "slots" / str(rec["index"]) / "bundle.ecb"
        if not path.is_file():
            report.problems.append(
                f"{when}: slot {rec['index']} is {rec['state']} without its bundle"
            )
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != rec["sha256"]:
            report.problems.append(
                f"{when}: slot {rec['index']} is {rec['state']} with sha {rec['sha256'][:12]} "
                f"but holds {digest[:12]}"
            )
    running = now.get("running")
    status, info = client.call("GET", E + "/info")
    model = info.get("model")
    if running is None:
        if model is not None:
            report.problems.append(
                f"{when}: nothing runs per the table, but the agent serves {model}"
            )
    else:
        rec = now["slots"][running]
        want = {"name": "digits-mlp", "version": str(rec["version"])}
        if model != want:
            report.problems.append(
                f"{when}: the table runs slot {running} ({rec['bundle_id']} v{rec['version']}), "
                f"the agent serves {model}"
            )
    status, _ = client.call("GET", E + "/journal?limit=5")
    if status != 200:
        report.problems.append(f"journal {when}: HTTP {status}")


def build_bundles(root: Path, versions: int = 4) -> tuple[Path, str, list[bytes]]:
    """Signed digits bundles v1..vN and the trust store that accepts them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edgeconsole.bundles.signing import public_pem
    from tests.fixtures.gateway import GatewayKit

    key = Ed25519PrivateKey.generate()
    trust = root / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    (trust / "hammer.pub").write_bytes(public_pem(key.public_key()))
    kit = GatewayKit(root, key, trust)
    bundles = [kit.bundle(version=v).read_bytes() for v in range(1, versions + 1)]
    return trust, kit.hardware_id, bundles


def run(
    rounds: int,
    seed: int,
    workdir: Path,
    *,
    on_round: Any = None,
    min_s: float = 0.3,
    max_s: float = 2.5,
) -> list[RoundReport]:
    rng = random.Random(seed)
    trust, hardware_id, bundles = build_bundles(workdir / "kit")
    data = workdir / "agent"
    (data / "models").mkdir(parents=True, exist_ok=True)
    if not (data / "models" / "digits").exists():
        shutil.copytree(DIGITS, data / "models" / "digits")
    token = secrets.token_urlsafe(24)
    token_file = workdir / "token"
    token_file.write_text(token + "\n")
    reports: list[RoundReport] = []
    for i in range(rounds):
        report = RoundReport(i, round(rng.uniform(min_s, max_s), 3))
        reports.append(report)
        try:
            agent = AgentProcess(data, trust, token_file, hardware_id)
        except AgentDidNotStart as exc:
            report.problems.append(f"agent does not start: {exc}")
            break
        client = Client(agent.port, token)
        try:
            if i:  # the agent booted on what the previous kill left
                check_served(client, data, reports[-2].table or {}, report)
            hammer = Hammer(client, bundles, rng, report)
            hammer.start()
            # The kill moment is the experiment, not a wait for something.
            if rng.random() < QUIET_SHARE or i == 0:  # the first round always checks
                # A quiet moment mid-round: every request answered, the live agent must
                # serve what its disk says (the old race served one table, wrote another).
                time.sleep(report.kill_after_s / 2)
                hammer.join()
                check_served(client, data, {}, report, when="at a quiet moment")
                report.quiet_checks += 1
                hammer = Hammer(client, bundles, rng, report)
                hammer.start()
                time.sleep(report.kill_after_s / 2)
            else:
                time.sleep(report.kill_after_s)
            agent.kill9()
            hammer.join()
        finally:
            agent.kill9()
            if report.problems:  # the agent's own account of it, for the person reading
                tail = "".join(agent.stderr_lines[-60:]).strip()
                report.problems.append(f"agent stderr (last lines):\n{tail or '(empty)'}")
        report.table = check_after_kill(data, report)
        if on_round is not None:
            on_round(report)
        if report.problems:
            break
    # A last start: the final state must boot and be served too.
    if not reports or not reports[-1].problems:
        final = RoundReport(rounds, 0.0)
        try:
            agent = AgentProcess(data, trust, token_file, hardware_id)
            try:
                check_served(Client(agent.port, token), data, reports[-1].table or {}, final)
            finally:
                agent.terminate()
        except AgentDidNotStart as exc:
            final.problems.append(f"agent does not start: {exc}")
        reports.append(final)
    return reports


def _tables_seen(reports: list[RoundReport]) -> dict[str, int]:
    """How often each combination of slot states was left by a kill (coverage)."""
    seen: dict[str, int] = {}
    for r in reports:
        if r.table is not None:
            key = "/".join(s["state"] for s in r.table["slots"])
            seen[key] = seen.get(key, 0) + 1
    return dict(sorted(seen.items(), key=lambda kv: -kv[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write per-round results here")
    args = ap.parse_args()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="slot-hammer-") as tmp:

        def progress(r: RoundReport) -> None:
            if r.index % 25 == 0 or r.problems:
                states = [s["state"] for s in (r.table or {}).get("slots", [])]
                print(
                    f"round {r.index}: {r.requests} requests {r.by_status} kill at "
                    f"{r.kill_after_s}s table {states} problems {r.problems}",
                    flush=True,
                )

        reports = run(args.rounds, args.seed, Path(tmp), on_round=progress)
    total = sum(r.requests for r in reports)
    statuses: dict[int, int] = {}
    for r in reports:
        for k, v in r.by_status.items():
            statuses[k] = statuses.get(k, 0) + v
    problems = [f"round {r.index}: {p}" for r in reports for p in r.problems]
    summary = {
        "rounds": len([r for r in reports if r.index < args.rounds]),
        "seed": args.seed,
        "requests": total,
        "quiet_checks": sum(r.quiet_checks for r in reports),
        "tables_seen": _tables_seen(reports),
        "statuses": statuses,
        "seconds": round(time.monotonic() - t0, 1),
        "problems": problems,
    }
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
