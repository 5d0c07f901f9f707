"""Agent refusals, each carrying the HTTP status it is answered with."""

from __future__ import annotations

from edgeconsole.core.errors import DeviceError


class AgentRequestError(DeviceError):
    """A request the agent refuses; ``status`` is the HTTP status of the answer."""

    status = 400

    def __init__(
        self, what: str, *, subject: str | None = None, hint: str | None = None, **extra: object
    ) -> None:
        super().__init__(what, subject=subject, hint=hint)
        self.extra = extra


class BadRequest(AgentRequestError):
    status = 400


class NotFound(AgentRequestError):
    status = 404


class Conflict(AgentRequestError):
    """The request clashes with the agent's state (another upload, a slot in use)."""

    status = 409


class Unprocessable(AgentRequestError):
    status = 422


class InsufficientStorage(AgentRequestError):
    """The agent's disk cannot hold the bundle; nothing active was touched."""

    status = 507


class ModelUnavailable(AgentRequestError):
    status = 503


class RequestTimeout(AgentRequestError):
    """A request body stopped arriving or trickled in too slowly."""

    status = 408


class PayloadTooLarge(AgentRequestError):
    status = 413
