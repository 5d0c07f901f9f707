"""Keep the libraries EdgeConsole loads from phoning home (DESIGN section 9).

onnxruntime >= 1.29 ships 1DS telemetry on Linux: once imported it writes a device
id and an event cache under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``
and, a few seconds into a session, resolves ``mobile.events.data.microsoft.com``.
``onnxruntime.disable_telemetry_events()`` does not stop that; the environment
variable ``ORT_DISABLE_TELEMETRY=1`` does, but only if it is set before
onnxruntime's native module loads: the choice is latched per process at import.

``edgeconsole/__init__.py`` calls :func:`disable_library_telemetry` before anything
else, so every way into the package (window, CLI, agent, simulator, the frozen app,
tests, a library user's ``import edgeconsole``) sets it first, and every child
process inherits it through the environment. When onnxruntime was imported
before edgeconsole without the variable, nothing can switch it off any more:
that is detected and said, never hidden.

Standard library only: this runs before numpy, onnxruntime or anything else.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass

ORT_TELEMETRY_VAR = "ORT_DISABLE_TELEMETRY"
#: The native module whose import latches the telemetry choice.
ORT_NATIVE_MODULE = "onnxruntime.capi.onnxruntime_pybind11_state"

LATE_IMPORT_HINT = (
    "import edgeconsole before onnxruntime, or start Python with "
    f"{ORT_TELEMETRY_VAR}=1 in its environment"
)


@dataclass(frozen=True)
class TelemetryState:
    """Whether onnxruntime's telemetry is off in this process, and why we think so."""

    off: bool
    detail: str


def _ort_loaded() -> bool:
    return ORT_NATIVE_MODULE in sys.modules or "onnxruntime" in sys.modules


def disable_library_telemetry() -> TelemetryState:
    """Set ``ORT_DISABLE_TELEMETRY=1`` for this process and its children.

    Always sets it (a person's ``ORT_DISABLE_TELEMETRY=0`` is overridden: the
    console promises silence). If onnxruntime is already loaded, the value it
    saw at import decides; only ``1`` is known to switch it off.
    """
    before = os.environ.get(ORT_TELEMETRY_VAR)
    os.environ[ORT_TELEMETRY_VAR] = "1"
    if not _ort_loaded():
        return TelemetryState(True, f"{ORT_TELEMETRY_VAR}=1 set before onnxruntime loaded")
    if before == "1":
        return TelemetryState(True, f"onnxruntime loaded first, with {ORT_TELEMETRY_VAR}=1")
    seen = "unset" if before is None else f"{before!r}"
    detail = (
        f"onnxruntime was imported before edgeconsole with {ORT_TELEMETRY_VAR} {seen}: its "
        "telemetry is ON in this process (it keeps a device id and an event cache under "
        "~/.cache/Microsoft/DeveloperTools/.onnxruntime/ and resolves "
        "mobile.events.data.microsoft.com) and cannot be switched off now; "
        f"{LATE_IMPORT_HINT}. Child processes EdgeConsole starts have it off."
    )
    return TelemetryState(False, detail)


def warn_if_on(state: TelemetryState) -> None:
    if not state.off:
        # stacklevel 3: point at the library user's import, not at edgeconsole/__init__.
        warnings.warn(f"EdgeConsole: {state.detail}", RuntimeWarning, stacklevel=3)
