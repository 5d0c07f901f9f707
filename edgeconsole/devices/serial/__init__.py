"""Serial devices: SMP (MCUmgr) over the console framing, plus plain CSV telemetry.

See README.md in this folder for the EdgeConsole SMP application group (65).
"""
