"""The domain names the window and the command line may use, through the session.

``ui/`` and ``cli/`` import ``edgeconsole.session`` and ``edgeconsole.core`` only
(import-linter, pyproject). The values they show (a latency snapshot, a trigger
setting, a shadow comparison) are the domain packages' own types: this module is the
door through which the live view's names reach the top layer, so a new dependency of
the window on a domain package is a visible line here, not an import in a widget.
Its siblings: ``session/evidence.py`` (journal, export, replay), ``session/workshop.py``
(bundles), ``session/commissioning.py`` (validation and reports).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeconsole.devices.plc.plcmap import load_map as load_plc_map
    from edgeconsole.devices.plc.plcmap import sample_map_path
    from edgeconsole.devices.ref import TargetRef
    from edgeconsole.inference.latency import LatencySnapshot, LatencyStats, SeriesStats
    from edgeconsole.inference.line.overlay import TRIGGER_LINE_LABEL
    from edgeconsole.inference.line.triggers import (
        MAX_PERIOD_MS,
        MIN_PERIOD_MS,
        TriggerConfig,
        TriggerLine,
    )
    from edgeconsole.inference.shadow import ShadowStatus
    from edgeconsole.journal.journal import Journal
    from edgeconsole.session.plc_monitor import PlcMonitor
    from edgeconsole.sources.genicam.features import FeatureInfo

#: Where each name lives. A name is imported when first used, not when this door is:
#: the window's first screen needs a few of them, and importing them all put the PLC
#: monitor (asyncio), the journal and the shadow comparison on the way to its first
#: paint (issue 15).
_HOMES: dict[str, str] = {
    "load_plc_map": "edgeconsole.devices.plc.plcmap:load_map",
    "sample_map_path": "edgeconsole.devices.plc.plcmap",
    "TargetRef": "edgeconsole.devices.ref",
    "LatencySnapshot": "edgeconsole.inference.latency",
    "LatencyStats": "edgeconsole.inference.latency",
    "SeriesStats": "edgeconsole.inference.latency",
    "TRIGGER_LINE_LABEL": "edgeconsole.inference.line.overlay",
    "MAX_PERIOD_MS": "edgeconsole.inference.line.triggers",
    "MIN_PERIOD_MS": "edgeconsole.inference.line.triggers",
    "TriggerConfig": "edgeconsole.inference.line.triggers",
    "TriggerLine": "edgeconsole.inference.line.triggers",
    "ShadowStatus": "edgeconsole.inference.shadow",
    "Journal": "edgeconsole.journal.journal",
    "PlcMonitor": "edgeconsole.session.plc_monitor",
    "FeatureInfo": "edgeconsole.sources.genicam.features",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = home.partition(":")  # "module:attr" where the name is an alias
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value  # once: later lookups find it without this function
    return value


__all__ = [
    "MAX_PERIOD_MS",
    "MIN_PERIOD_MS",
    "TRIGGER_LINE_LABEL",
    "FeatureInfo",
    "Journal",
    "LatencySnapshot",
    "LatencyStats",
    "PlcMonitor",
    "SeriesStats",
    "ShadowStatus",
    "TargetRef",
    "TriggerConfig",
    "TriggerLine",
    "load_plc_map",
    "sample_map_path",
]
