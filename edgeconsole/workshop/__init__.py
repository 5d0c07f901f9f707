"""The bundle workshop: where bundles are built, measured and looked at.

Bundles and inference are sibling layers that never import each other; the work
that needs both lives here, one room above them, beside ``commission``: the one
door to a bundle's bytes (``access``), the trust store's key list, the library
scan, inspection, the benchmark and the build (with its FP32-vs-INT8 comparison).
Each long piece of work is a job (``core/jobs.py``) the session's job runner runs;
the window and the CLI reach all of it through ``session/workshop.py``.
"""
