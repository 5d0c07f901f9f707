"""Loading the vendor libraries lazily, and saying exactly what is missing.

Aravis comes through GObject introspection: PyGObject (``gi``) in this Python,
and the typelib ``Aravis-0.8.typelib`` from Debian's ``gir1.2-aravis-0.8``. A
PyGObject built from source links the system ``libgirepository-1.0``, whose
compiled-in search path is ``/usr/lib/<triplet>/girepository-1.0``; that is how
a venv finds the system typelibs without ``--system-site-packages``. A typelib
elsewhere is found through ``GI_TYPELIB_PATH``.

pypylon ships the pylon runtime in its wheel. Its camera emulation is switched
on by ``PYLON_CAMEMU=N`` in the environment before pylon initialises (read once
per process), which ``enable_pylon_emulation`` does when asked in time.
"""

from __future__ import annotations

import os
import sys
import threading
from types import ModuleType
from typing import Any, cast

from edgeconsole.core.errors import SourceOpenError

_lock = threading.Lock()
_aravis: ModuleType | None = None
_aravis_error: SourceOpenError | None = None
_pylon: ModuleType | None = None
_pylon_error: SourceOpenError | None = None

#: Serial numbers pylon gives its emulated cameras ("0815-0000", "0815-0001", ...).
PYLON_EMULATOR_PREFIX = "0815-"


def aravis() -> ModuleType:
    """The ``gi.repository.Aravis`` module; SourceOpenError says what to install."""
    global _aravis, _aravis_error
    with _lock:
        if _aravis is not None:
            return _aravis
        if _aravis_error is not None:
            raise _aravis_error
        try:
            _aravis = _load_aravis()
        except SourceOpenError as exc:
            _aravis_error = exc
            raise
        return _aravis


def _load_aravis() -> ModuleType:
    try:
        import gi
    except ImportError as exc:
        raise SourceOpenError(
            "PyGObject (the Python module 'gi') is not installed in this Python",
            subject="Aravis (GigE Vision / USB3 Vision)",
            hint="run ./run setup, or pip install 'edgeconsole[cameras]' "
            "(needs Debian's libgirepository1.0-dev and libcairo2-dev to build)",
        ) from exc
    try:
        gi.require_version("Aravis", "0.8")
    except ValueError as exc:
        searched = ", ".join(_typelib_dirs()) or "the default GObject introspection path"
        raise SourceOpenError(
            f"the Aravis 0.8 typelib was not found ({exc}); searched {searched}",
            subject="Aravis (GigE Vision / USB3 Vision)",
            hint="install Debian's gir1.2-aravis-0.8 (./run setup does), "
            "or point GI_TYPELIB_PATH at the folder holding Aravis-0.8.typelib",
        ) from exc
    try:
        from gi.repository import Aravis
    except ImportError as exc:  # typelib present but its shared library is not
        raise SourceOpenError(
            f"the Aravis library could not be loaded: {exc}",
            subject="Aravis (GigE Vision / USB3 Vision)",
            hint="install Debian's libaravis-0.8-0 (pulled in by gir1.2-aravis-0.8)",
        ) from exc
    return cast(ModuleType, Aravis)


def _typelib_dirs() -> list[str]:
    dirs = [d for d in os.environ.get("GI_TYPELIB_PATH", "").split(":") if d]
    for lib in (
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ):
        if os.path.isdir(f"{lib}/girepository-1.0"):
            dirs.append(f"{lib}/girepository-1.0")
    return dirs


def pylon() -> ModuleType:
    """``pypylon.pylon``; SourceOpenError says what to install."""
    global _pylon, _pylon_error
    with _lock:
        if _pylon is not None:
            return _pylon
        if _pylon_error is not None:
            raise _pylon_error
        try:
            from pypylon import pylon as module
        except ImportError as exc:
            _pylon_error = SourceOpenError(
                f"pypylon is not installed in this Python ({exc})",
                subject="Basler pylon",
                hint="run ./run setup, or pip install 'edgeconsole[cameras]'",
            )
            raise _pylon_error from exc
        _pylon = cast(ModuleType, module)
        return _pylon


def genicam() -> Any:
    """``pypylon.genicam`` (node types, access checks); after ``pylon()`` loaded."""
    pylon()
    from pypylon import genicam as module

    return module


def pylon_loaded() -> bool:
    return "pypylon.pylon" in sys.modules


def enable_pylon_emulation(count: int = 1) -> bool:
    """Ask pylon for ``count`` emulated cameras. True when it will take effect (pylon
    not initialised yet in this process, or PYLON_CAMEMU already set)."""
    if os.environ.get("PYLON_CAMEMU"):
        return True
    if pylon_loaded():
        return False
    os.environ["PYLON_CAMEMU"] = str(max(1, count))
    return True


def availability() -> dict[str, dict[str, Any]]:
    """What each backend needs and whether it loads here (for ``cameras`` and About)."""
    out: dict[str, dict[str, Any]] = {}
    for name, loader in (("aravis", aravis), ("pylon", pylon)):
        try:
            loader()
            out[name] = {"available": True, "error": None}
        except SourceOpenError as exc:
            out[name] = {"available": False, "error": str(exc)}
    return out
