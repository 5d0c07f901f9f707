"""Words and colours for device states and transfer figures (presentation only)."""

from __future__ import annotations

from edgeconsole.ui.theme import COLOURS

STATE_TEXT = {
    "connecting": "Connecting…",
    "connected": "Connected",
    "disconnected": "Disconnected: waiting for the device",
    "reconnecting": "Reconnecting…",
    "error": "Not connected",
    "closed": "Closed",
}

STATE_COLOUR = {
    "connecting": COLOURS.info,
    "connected": COLOURS.ok,
    "disconnected": COLOURS.fail,
    "reconnecting": COLOURS.warn,
    "error": COLOURS.fail,
    "closed": COLOURS.text_dim,
}

SLOT_COLOUR = {
    "confirmed": COLOURS.ok,
    "trial": COLOURS.warn,
    "bad": COLOURS.fail,
    "staging": COLOURS.info,
    "staged": COLOURS.info,
    "empty": COLOURS.text_dim,
}

PHASE_TEXT = {
    "starting": "Starting",
    "verify-bundle": "Verifying the bundle's signature and hashes",
    "upload": "Uploading",
    "verify": "Device checks the hash",
    "trial": "Activating on trial",
    "selftest": "Running the health check",
    "confirm": "Confirming",
    "rollback": "Rolling back",
    "done": "Done",
    # Stock MCUboot devices (firmware upgrade).
    "check-image": "Checking the image (signature, version, board)",
    "test": "Marking the image for test",
    "reset": "Resetting the device",
    "wait": "Waiting for the device to come back",
    "check": "Checking what booted",
}


def rate_text(bytes_per_s: float) -> str:
    if bytes_per_s >= 1024 * 1024:
        return f"{bytes_per_s / 1024 / 1024:.2f} MB/s"
    return f"{bytes_per_s / 1024:.1f} KB/s"


def eta_text(eta_s: float | None) -> str:
    if eta_s is None:
        return "ETA –"
    if eta_s >= 60:
        return f"ETA {int(eta_s // 60)} min {int(eta_s % 60):02d} s"
    return f"ETA {eta_s:.0f} s" if eta_s >= 10 else f"ETA {eta_s:.1f} s"


def size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} B"


def number_text(v: float | None, digits: int = 4) -> str:
    if v is None or v != v:
        return "–"
    return f"{v:.{digits}g}"
