# PyInstaller runtime hook: runs in the frozen app before any of its modules, so
# onnxruntime's telemetry is off even if something imports onnxruntime before
# edgeconsole (DESIGN section 9: the choice is latched when onnxruntime loads).
# edgeconsole/__init__.py sets the same; this is the frozen app's own guarantee.
import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"
