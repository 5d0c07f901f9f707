"""The jobs a person runs on a target: flash, confirm, roll back (worker threads).

Each job asks the target's driver (``devices.driver.TargetDriver``) and never which
kind of target it is: a flash is the driver's ``FlashJobBase`` (serial, gateway),
confirm and rollback are the driver's. Whatever way a job ends (done, failed,
cancelled) the target is read again, so the slot view shows what the target holds
without a Refresh.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgeconsole.core.errors import Cancelled, ConfigError, DeviceError, EdgeConsoleError
from edgeconsole.devices.target import FlashProgress, Payload
from edgeconsole.session.target_views import JobProgress, JobState

if TYPE_CHECKING:
    from edgeconsole.session.target_views import _Managed
    from edgeconsole.session.targets import TargetManager

#: Phases during which a flash can still be cancelled (nothing runs the new bundle yet).
CANCELLABLE_PHASES = frozenset({"verify-bundle", "upload", "verify", "trial"})


@dataclass
class _Job:
    progress: JobProgress
    cancel: threading.Event = field(default_factory=threading.Event)


class DeviceJobs:
    """The job registry (ids, progress, cancel) and the jobs' bodies."""

    def __init__(self, manager: TargetManager) -> None:
        self.mgr = manager
        self._lock = manager._lock
        self.jobs: dict[int, _Job] = {}
        self.updates: dict[int, JobProgress] = {}
        self._ids = itertools.count(1)

    # -- bookkeeping -------------------------------------------------------------------
    def new(self, m: _Managed, kind: str, *, bundle: str = "", cancellable: bool = False) -> _Job:
        with self._lock:
            if m.job is not None:
                raise DeviceError(
                    f"{m.job.progress.kind} is still running on this device",
                    subject=m.url,
                    hint="wait for it to finish or cancel it",
                )
            if m.state != "connected" or m.driver is None:
                raise DeviceError(
                    f"device is {m.state}", subject=m.url, hint="wait until it is connected"
                )
            m.driver.refuse(kind)
            job = _Job(
                JobProgress(
                    next(self._ids),
                    m.url,
                    kind,
                    "running",
                    "starting",
                    bundle=bundle,
                    cancellable=cancellable,
                )
            )
            m.job = job
            self.jobs[job.progress.job_id] = job
            self.updates[job.progress.job_id] = job.progress
            self.mgr._changed = True
            return job

    def update(self, job: _Job, **changes: Any) -> None:
        with self._lock:
            job.progress = replace(job.progress, **changes)
            self.updates[job.progress.job_id] = job.progress

    def report(self, job: _Job, p: FlashProgress, *, cancellable: bool) -> None:
        """One progress report of an upload (or a phase) for the job's bar."""
        self.update(
            job,
            phase=p.phase,
            sent=p.sent,
            total=p.total,
            bytes_per_s=p.bytes_per_s,
            eta_s=p.eta_s,
            resumes=p.resumes,
            cancellable=cancellable,
        )

    def end(self, m: _Managed, job: _Job, state: JobState, message: str) -> None:
        with self._lock:
            job.progress = replace(
                job.progress,
                state=state,
                message=message,
                cancellable=False,
                eta_s=0.0 if state == "done" else job.progress.eta_s,
            )
            self.updates[job.progress.job_id] = job.progress
            m.job = None
            self.mgr._changed = True
        self.mgr.links.check(m)  # the link may have gone away during the job
        if state != "done" and m.state == "connected":
            self.mgr._submit(self.mgr._refresh, m)  # the target's slots, as it has them now

    def cancel(self, job_id: int) -> bool:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None or job.progress.finished or not job.progress.cancellable:
            return False
        job.cancel.set()
        return True

    # -- the jobs ----------------------------------------------------------------------
    def flash(self, m: _Managed, job: _Job, path: Path, mode: Literal["trial", "confirm"]) -> None:
        mgr, driver = self.mgr, m.driver
        assert driver is not None

        def progress(p: FlashProgress) -> None:
            cancellable = p.phase in CANCELLABLE_PHASES
            if job.cancel.is_set() and cancellable:
                raise Cancelled("flash cancelled", subject=m.url)
            self.report(job, p, cancellable=cancellable)

        try:
            self.update(job, phase="verify-bundle", message=f"verifying {path.name}")
            running = next((s for s in m.slots if s.running), None)
            payload = verified_payload(
                path,
                m.trust_dir if m.trust_dir is not None else mgr.trust_dir,
                hardware_id=m.info.hw_id if m.info else None,
                installed_version=running.version if running else None,
            )
            if job.cancel.is_set():
                raise Cancelled("flash cancelled", subject=m.url)
            mgr.shadows.remember(payload.sha256, path)
            name = f"{payload.bundle_id} v{payload.version}"
            self.update(job, bundle=name, total=len(payload.data))
            mgr._audit(
                "flash",
                "info",
                m,
                f"flash started: {name} ({len(payload.data)} B)",
                bundle=str(path),
                sha256=payload.sha256,
                mode=mode,
            )
            with m.io_lock:
                flash = driver.flash_job(payload, mode=mode, progress=progress, cancel=job.cancel)
                result = flash.run()
        except Cancelled:
            mgr._audit(
                "flash",
                "warning",
                m,
                "flash cancelled before the new bundle ran; the running bundle is unchanged",
            )
            self.end(m, job, "cancelled", "cancelled: the running bundle is unchanged")
            return
        except EdgeConsoleError as exc:
            mgr._audit("flash", "error", m, f"flash failed: {exc}", bundle=str(path))
            self.end(m, job, "failed", str(exc))
            return
        test = result.self_test
        state = "confirmed" if result.confirmed else "on trial: confirm or roll back"
        for note in result.notes:
            # What the job found and fixed on the way (a trial left by an interrupted flash).
            mgr._audit("flash", "warning", m, f"flash: {note}")
        mgr._slot_change(
            m,
            result.slots,
            f"flash done: {name} in slot {result.slot}, {state}",
            seconds=round(result.seconds, 3),
            bytes_per_s=round(result.bytes_per_s, 1),
            resumes=result.resumes,
            sha256=payload.sha256,
        )
        detail = test.detail if test else "-"
        self.end(m, job, "done", f"slot {result.slot}: health check passed ({detail}); {state}")

    def confirm(self, m: _Managed, job: _Job, health_check: bool) -> None:
        mgr, driver = self.mgr, m.driver
        assert driver is not None
        try:
            with m.io_lock:
                slots = driver.slots()
                trial = next((s for s in slots if s.state == "trial"), None)
                if trial is None:
                    mgr._set(m, slots=tuple(slots))
                    self.end(
                        m, job, "done", "nothing on trial: the running bundle is already confirmed"
                    )
                    return
                if health_check:
                    self.update(job, phase="selftest", message="running the health check")
                    test = driver.self_test(trial.index)
                    if not test.passed:
                        raise DeviceError(
                            f"health check failed: {test.detail}"
                            + ("; the device rolled back" if test.rolled_back else ""),
                            subject=m.url,
                            hint="not confirmed; roll back if still on trial",
                        )
                else:
                    mgr._audit(
                        "slot",
                        "warning",
                        m,
                        f"confirming slot {trial.index} "
                        f"({trial.bundle_id} v{trial.version}) WITHOUT a health check",
                    )
                self.update(job, phase="confirm")
                slots = driver.confirm(trial.index)
        except EdgeConsoleError as exc:
            mgr._audit("slot", "error", m, f"confirm failed: {exc}")
            self.end(m, job, "failed", str(exc))
            return
        mgr._slot_change(
            m,
            slots,
            f"slot {trial.index} confirmed: {trial.bundle_id} v{trial.version}",
            health_check=health_check,
        )
        self.end(m, job, "done", f"slot {trial.index} confirmed")

    def rollback(self, m: _Managed, job: _Job) -> None:
        mgr, driver = self.mgr, m.driver
        assert driver is not None
        try:
            with m.io_lock:
                self.update(job, phase="rollback")
                slots = driver.rollback()
        except EdgeConsoleError as exc:
            mgr._audit("slot", "error", m, f"rollback failed: {exc}")
            self.end(m, job, "failed", str(exc))
            return
        running = next((s for s in slots if s.running), None)
        text = (
            f"rolled back: slot {running.index} {running.bundle_id} v{running.version} runs"
            if running
            else "rolled back"
        )
        mgr._slot_change(m, slots, text)
        self.end(m, job, "done", text)


def verified_payload(
    path: Path,
    trust_dir: Path | None,
    *,
    hardware_id: str | None,
    installed_version: int | None,
) -> Payload:
    """Verify a bundle through the one door (``workshop.access.open_verified``) and
    return the exact bytes that were checked, ready for a target's upload."""
    from edgeconsole.workshop.access import open_verified

    if not path.is_file():
        raise ConfigError("no such bundle file", subject=str(path))
    vb = open_verified(
        path,
        trust_dir,
        hardware_id=hardware_id or None,
        installed_version=installed_version,
        mode="verify",
    )
    # A bundle whose preprocessing does not produce what its model takes (or an image
    # model with none) never reaches a device: refused here, naming both shapes.
    from edgeconsole.inference.input_check import check_input_fit
    from edgeconsole.inference.spec import ModelSpec

    if isinstance(vb.description, ModelSpec):
        check_input_fit(vb.description, subject=str(path))
    # Read the file once more and check it is the one verified (same size and
    # manifest bytes): the upload must be exactly what was checked. Never more than
    # one byte beyond the verified size is read, whatever the file grew to.
    with path.open("rb") as fh:
        data = fh.read(vb.size + 1)
    if len(data) != vb.size or vb.manifest_bytes not in data[: len(vb.manifest_bytes) + 4096]:
        raise DeviceError(
            "bundle changed while it was being verified", subject=str(path), hint="flash it again"
        )
    return Payload(
        data, hashlib.sha256(data).hexdigest(), vb.manifest.bundle_id, vb.manifest.version
    )
