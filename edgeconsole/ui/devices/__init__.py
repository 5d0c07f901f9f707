"""Serial devices in the window: device panel, telemetry view, connect dialog.

Widgets only show what ``session.poll()`` returns (target views, job progress,
telemetry batches) and send commands to ``session.targets``; no device logic here.
"""
