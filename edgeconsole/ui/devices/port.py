"""The calls the device widgets make on ``session.targets`` (a TargetManager)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol


class TargetsPort(Protocol):
    #: Stock Zephyr/MCUboot devices' jobs (session.stock_jobs.StockJobs).
    stock: Any

    def connect(self, url: str, *, trust_dir: Path | None = None) -> str: ...

    def disconnect(self, url: str, *, forget: bool = False) -> None: ...

    def flash(
        self, url: str, bundle_path: str | Path, *, mode: Literal["trial", "confirm"] = "trial"
    ) -> int: ...

    def confirm(self, url: str, *, health_check: bool = True) -> int: ...

    def rollback(self, url: str) -> int: ...

    def refresh(self, url: str) -> None: ...

    def cancel(self, job_id: int) -> bool: ...

    def discover(self) -> list[dict[str, Any]]: ...
