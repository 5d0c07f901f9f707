"""Bundle refusals. Each one names what is wrong, with which bundle, and what to do.

All derive from :class:`edgeconsole.core.errors.BundleError`, so callers that only
care "the bundle was refused" catch that; tests and the UI can tell the step.
"""

from __future__ import annotations

from edgeconsole.core.errors import BundleError


class BundleFormatError(BundleError):
    """The archive is not a well-formed bundle: tar structure, order, names, member types."""


class BundleSignatureError(BundleError):
    """Unsigned, signed by unknown keys, too few distinct signers, or a signature fails."""


class BundleIncompatibleError(BundleError):
    """Signed and intact, but not for this device: hardware id, version, expiry, agent."""


class BundleSchemaError(BundleError):
    """The manifest does not follow the schema (unknown fields are refused)."""


class BundleTamperedError(BundleError):
    """A payload file does not match its signed length or hashes."""


class BundleUnsafeModelError(BundleError):
    """A model file is not ONNX, or its external data reaches outside the bundle."""


class TrustStoreError(BundleError):
    """The trust store or a key file cannot be read, or a key operation failed."""
