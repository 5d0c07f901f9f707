"""The one exception tree of EdgeConsole.

Every error that can reach a person says what happened, to what (device, bundle,
file, source), and what to do next. ``str(error)`` is that one line.
"""

from __future__ import annotations


class EdgeConsoleError(Exception):
    """Base of every error EdgeConsole raises on purpose."""

    def __init__(self, what: str, *, subject: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.subject = subject
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.subject}: {self.what}" if self.subject else self.what
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class ConfigError(EdgeConsoleError):
    """A setting, argument or description is invalid."""


class SourceError(EdgeConsoleError):
    """A frame or telemetry source cannot be opened or read."""


class SourceOpenError(SourceError):
    """The source does not exist, cannot be decoded, or the device is absent."""


class SourceDisconnected(SourceError):
    """A live source dropped; it may come back (reconnect is attempted)."""


class CameraFeatureError(SourceError):
    """A camera lacks a feature, or a value for it is out of range or refused."""


class ModelError(EdgeConsoleError):
    """A model cannot be loaded, does not match its description, or misbehaves."""


class ModelLoadError(ModelError):
    """The file is not a loadable ONNX model."""


class ModelShapeError(ModelError):
    """The model's inputs or outputs do not match its description or the data."""


class InferenceOutputError(ModelError):
    """The model produced outputs that cannot be trusted (NaN, Inf, wrong size)."""


class BundleError(EdgeConsoleError):
    """A model bundle is malformed, untrusted, incompatible or tampered with."""


class ImageError(EdgeConsoleError):
    """A firmware image (MCUboot) is malformed, unsigned, untrusted or not for this device."""


class DeviceError(EdgeConsoleError):
    """A target device refused a request or broke the protocol."""


class DeviceDisconnected(DeviceError):
    """The link to a target device went away."""


class JournalError(EdgeConsoleError):
    """The journal, a recording or an export could not be written or read."""


class Cancelled(EdgeConsoleError):
    """Long work was cancelled by the person."""

    def __init__(self, what: str = "cancelled", *, subject: str | None = None) -> None:
        super().__init__(what, subject=subject)


class PlcError(DeviceError):
    """A line PLC refused a request, broke the handshake, or its map is wrong."""


class PlcDisconnected(PlcError, DeviceDisconnected):
    """The link to the line PLC went away (or never came up)."""
