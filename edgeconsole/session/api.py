"""The domain names the window and the command line may use, through the session.

``ui/`` and ``cli/`` import ``edgeconsole.session`` and ``edgeconsole.core`` only
(import-linter, pyproject). The values they show (a journal entry, a latency
snapshot, a trigger setting) are the domain packages' own types: this module is the
one door through which those types reach the top layer, so a new dependency of the
window on a domain package is a visible line here, not an import buried in a widget.
"""

from __future__ import annotations

from edgeconsole.inference.line.triggers import TriggerConfig
from edgeconsole.inference.shadow import ShadowStatus
from edgeconsole.journal.journal import Journal
from edgeconsole.session.plc_monitor import PlcMonitor

__all__ = ["Journal", "PlcMonitor", "ShadowStatus", "TriggerConfig"]
