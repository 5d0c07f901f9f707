"""EdgeConsole: an offline field console for edge AI devices."""

# First, before anything can load onnxruntime: its telemetry is latched at import
# (DESIGN section 9; edgeconsole/core/offline.py says why and what is detected).
from edgeconsole.core.offline import TelemetryState, disable_library_telemetry, warn_if_on

__version__ = "0.1.0"

#: onnxruntime's telemetry in this process: ``TELEMETRY.off`` and a sentence why.
TELEMETRY: TelemetryState = disable_library_telemetry()
warn_if_on(TELEMETRY)
