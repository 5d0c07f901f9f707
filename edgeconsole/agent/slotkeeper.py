"""The agent's A/B slots: the state machine of ``core.slots`` plus the trial.

Activation puts the staged slot on trial and runs the bundle's health check in a
child process with a deadline (a crash or a hang only kills the child). Pass:
the trial bundle is loaded and runs (confirmed at once when asked). Fail: the
slot is marked bad and the last confirmed bundle keeps running. An agent start
is a boot: a trial that was interrupted spends an attempt (core.slots).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from edgeconsole.agent.isolate import run_isolated
from edgeconsole.agent.journal import AgentJournal
from edgeconsole.agent.ports import HealthCheck
from edgeconsole.agent.repository import ModelRepository
from edgeconsole.core.slots import SlotState, SlotStore, SlotTable, SlotTransitionError

DEFAULT_TRIAL_TIMEOUT_S = 60.0


class SlotKeeper:
    def __init__(
        self,
        data_dir: Path,
        repository: ModelRepository,
        health_check: HealthCheck,
        journal: AgentJournal,
        *,
        trial_timeout_s: float = DEFAULT_TRIAL_TIMEOUT_S,
    ) -> None:
        self.store = SlotStore(data_dir)
        self.slots_dir = data_dir / "slots"
        self.repository = repository
        self.health_check = health_check
        self.journal = journal
        self.trial_timeout_s = trial_timeout_s
        self._lock = threading.Lock()  # one slot operation at a time
        self.last_report: dict[str, Any] | None = None

    def bundle_path(self, index: int) -> Path:
        return self.slots_dir / str(index) / "bundle.ecb"

    @property
    def table(self) -> SlotTable:
        return self.store.table

    def boot(self) -> None:
        before = self.store.load()
        after = self.store.apply(lambda t: t.boot())
        if before.trial is not None and after.trial is None:
            self.journal.add("slot", f"slot {before.trial} ran out of trial attempts; rolled back")
        self._load_running()

    def _load_running(self) -> None:
        running = self.table.running
        path = self.bundle_path(running) if running is not None else None
        if path is not None and not path.exists():
            path = None
        self.repository.set_slot_model(path)

    def describe(self) -> dict[str, Any]:
        table = self.table
        data = table.to_json()
        running = self.repository.running
        data["model"] = (
            None if running is None else {"name": running.name, "version": running.version}
        )
        data["last_health_check"] = self.last_report
        return data

    def activate(
        self,
        index: int,
        *,
        confirm: bool = False,
        timeout_s: float | None = None,
        allow_downgrade: bool = False,
    ) -> dict[str, Any]:
        with self._lock:
            below = self._check_not_lower(index, allow_downgrade)
            self.store.apply(lambda t: t.activate(index))
            self.journal.add(
                "slot",
                f"slot {index} on trial; health check started"
                + (
                    f" (DOWNGRADE from confirmed v{below} to v{self.table.slot(index).version},"
                    " override)"
                    if below is not None
                    else ""
                ),
                downgrade_from=below,
            )
            path = self.bundle_path(index)
            report = run_isolated(
                self.health_check,
                str(path),
                timeout_s if timeout_s is not None else self.trial_timeout_s,
            )
            self.last_report = report
            if not report.get("ok"):
                self.store.apply(lambda t: t.rollback())
                self.journal.add(
                    "slot",
                    f"slot {index} failed its health check and was rolled "
                    f"back: {report.get('reason')}",
                    report=report,
                )
                self._load_running()
                return {
                    "slot": index,
                    "state": "rolled-back",
                    "report": report,
                    "slots": self.describe(),
                }
            handle = self.repository.set_slot_model(path)
            if handle is None:
                self.store.apply(lambda t: t.rollback())
                self._load_running()
                report = {
                    **report,
                    "ok": False,
                    "reason": "the bundle passed its health check "
                    "but could not be loaded by the agent",
                }
                self.last_report = report
                self.journal.add("slot", f"slot {index} rolled back: {report['reason']}")
                return {
                    "slot": index,
                    "state": "rolled-back",
                    "report": report,
                    "slots": self.describe(),
                }
            state = "trial"
            if confirm:
                self.store.apply(lambda t: t.confirm(index))
                state = "confirmed"
            self.journal.add(
                "slot", f"slot {index} passed its health check ({state})", report=report
            )
            return {"slot": index, "state": state, "report": report, "slots": self.describe()}

    def _check_not_lower(self, index: int, allow_downgrade: bool) -> int | None:
        """Refuse to put a bundle below the confirmed one on trial (what a rollback is
        for) unless asked; returns the confirmed version when this is an allowed
        downgrade."""
        table = self.table
        if table.confirmed is None or index == table.confirmed:
            return None
        rec, installed = table.slot(index), table.slot(table.confirmed).version
        if rec.state is not SlotState.STAGED or rec.version >= installed:
            return None
        if not allow_downgrade:
            raise SlotTransitionError(
                f"slot {index} holds {rec.bundle_id} v{rec.version}, lower than the "
                f"confirmed v{installed}",
                hint="downgrades are refused; pass allow_downgrade (edgeconsole flash "
                "--allow-downgrade) to go back on purpose, or roll back",
            )
        return installed

    def confirm(self) -> dict[str, Any]:
        with self._lock:
            table = self.store.apply(lambda t: t.confirm())
            self.journal.add("slot", f"slot {table.confirmed} confirmed")
            return self.describe()

    def rollback(self) -> dict[str, Any]:
        with self._lock:
            before = self.table
            table = self.store.apply(lambda t: t.rollback())
            self.journal.add(
                "slot", f"rolled back from slot {before.running} to slot {table.running}"
            )
            self._load_running()
            return self.describe()

    def running_state(self) -> str:
        running = self.table.running
        if running is None:
            return SlotState.EMPTY.value
        return self.table.slot(running).state.value
