"""The models the agent serves over OIP: the running slot's bundle, plus model
folders or bundles under ``<data>/models`` (the repository extension loads and
unloads those by name).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from edgeconsole.agent.errors import ModelUnavailable, NotFound
from edgeconsole.agent.ports import LoadModel, ModelHandle
from edgeconsole.core.errors import EdgeConsoleError


class ModelRepository:
    def __init__(self, models_dir: Path, load_model: LoadModel) -> None:
        self.models_dir = models_dir
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._load = load_model
        self._lock = threading.RLock()
        self._loaded: dict[str, ModelHandle] = {}
        self._reasons: dict[str, str] = {}
        self._slot_name: str | None = None
        self._slot_path: Path | None = None

    # -- the running slot ---------------------------------------------------------
    def set_slot_model(self, path: Path | None) -> ModelHandle | None:
        """Load the running slot's bundle (None: nothing runs) and replace the old one."""
        handle: ModelHandle | None = None
        error: str | None = None
        if path is not None:
            try:
                handle = self._load(path)
            except EdgeConsoleError as exc:
                error = str(exc)
        with self._lock:
            if self._slot_name is not None:
                old = self._loaded.pop(self._slot_name, None)
                if old is not None and old is not handle:
                    old.close()
            self._slot_path = path
            if handle is not None:
                self._slot_name = handle.name
                self._loaded[handle.name] = handle
                self._reasons.pop(handle.name, None)
            else:
                self._slot_name = None
                if error:
                    self._reasons["<slot>"] = error
        return handle

    @property
    def running(self) -> ModelHandle | None:
        with self._lock:
            return self._loaded.get(self._slot_name) if self._slot_name else None

    # -- OIP ------------------------------------------------------------------------
    def _folder_entries(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for p in sorted(self.models_dir.iterdir()):
            if p.name.startswith("."):
                continue
            if (p.is_dir() and (p / "model.json").is_file()) or p.suffix == ".ecb":
                out[p.stem if p.suffix == ".ecb" else p.name] = p
        return out

    def get(self, name: str) -> ModelHandle:
        with self._lock:
            handle = self._loaded.get(name)
        if handle is not None:
            return handle
        if name in self._folder_entries() or name == self._slot_name:
            raise ModelUnavailable(
                f"model '{name}' is not loaded",
                hint="load it with POST /v2/repository/models/NAME/load",
            )
        raise NotFound(f"unknown model '{name}'", hint="list models with POST /v2/repository/index")

    def index(self) -> list[dict[str, Any]]:
        with self._lock:
            rows: dict[str, dict[str, Any]] = {}
            for name in self._folder_entries():
                rows[name] = {
                    "name": name,
                    "version": "",
                    "state": "UNAVAILABLE",
                    "reason": self._reasons.get(name, "unloaded"),
                }
            for name, handle in self._loaded.items():
                rows[name] = {
                    "name": name,
                    "version": handle.version,
                    "state": "READY",
                    "reason": "",
                }
            return [rows[k] for k in sorted(rows)]

    def load(self, name: str) -> ModelHandle:
        with self._lock:
            if name == self._slot_name and name in self._loaded:
                return self._loaded[name]
        path = self._folder_entries().get(name)
        if path is None:
            raise NotFound(f"no model '{name}' in the repository", subject=str(self.models_dir))
        try:
            handle = self._load(path)
        except EdgeConsoleError as exc:
            with self._lock:
                self._reasons[name] = str(exc)
            raise
        with self._lock:
            old = self._loaded.pop(name, None)
            self._loaded[name] = handle
            self._reasons.pop(name, None)
        if old is not None:
            old.close()
        return handle

    def unload(self, name: str) -> None:
        with self._lock:
            if name == self._slot_name:
                from edgeconsole.agent.errors import Conflict

                raise Conflict(
                    f"model '{name}' runs from the active slot and stays loaded",
                    hint="swap or roll back the slot instead",
                )
            handle = self._loaded.pop(name, None)
        if handle is None:
            raise NotFound(f"model '{name}' is not loaded")
        handle.close()

    def close(self) -> None:
        with self._lock:
            handles = list(self._loaded.values())
            self._loaded.clear()
            self._slot_name = None
        for h in handles:
            h.close()
