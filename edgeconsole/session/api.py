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
