"""The Commission flow window: validate a target on a labelled set, sign a report.

``CommissionPanel`` is self-contained: the main window mounts it (as a tab or a
dock) and nothing else is needed. It drives ``commission.ValidationJob`` (through the session).
"""

from __future__ import annotations

from edgeconsole.ui.commission.panel import CommissionPanel

__all__ = ["CommissionPanel"]
