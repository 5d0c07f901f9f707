"""The PLC map file: which handshake signal lives where on the line's PLC.

A small TOML file (documented in docs/PLC.md, sample in ``sample_map.toml``)
names, for each signal of the reject-gate handshake, its Modbus area and
address or its OPC UA node id. It is read by the camera side (agent, local
pipeline), the virtual PLC and the watcher, so all three agree by construction.

The reader is strict: unknown keys, a newer format version, two signals on one
address, a camera output in an area the camera cannot write, a word signal in
a bit area: each is refused with a sentence naming the signal and the fix.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgeconsole.core.errors import ConfigError

FORMAT = "edgeconsole-plc-map"
VERSION = 1
MAX_MAP_BYTES = 64 * 1024

Protocol = Literal["modbus", "opcua"]
Area = Literal["coil", "discrete_input", "holding_register", "input_register"]
AREAS: tuple[Area, ...] = ("coil", "discrete_input", "holding_register", "input_register")
BIT_AREAS = frozenset({"coil", "discrete_input"})
#: Areas a Modbus client (the camera) can write: the PLC's own inputs are read-only to it.
WRITABLE_AREAS = frozenset({"coil", "holding_register"})

#: Signals the PLC drives and the camera reads.
INPUTS = ("trigger", "results_ack", "sub_config")
#: Signals the camera drives and the PLC reads.
OUTPUTS = (
    "trigger_ready",
    "results_ready",
    "ok",
    "ng",
    "class_id",
    "part_counter",
    "error",
    "error_code",
)
SIGNALS = INPUTS + OUTPUTS
REQUIRED = ("trigger", "results_ack", "trigger_ready", "results_ready")
#: Signals that carry a number (16-bit register); the others are on/off.
WORD_SIGNALS = frozenset({"sub_config", "class_id", "part_counter", "error_code"})

_TOP_KEYS = {"format", "version", "protocol", "name", "modbus", "opcua", "timing", "signals"}
_TIMING_DEFAULTS = {"poll_ms": 1.0, "ack_timeout_ms": 1000.0, "result_budget_ms": 50.0}
_TIMING_RANGES = {
    "poll_ms": (0.1, 1000.0),
    "ack_timeout_ms": (1.0, 600_000.0),
    "result_budget_ms": (0.1, 600_000.0),
}
_OPCUA_SECURITY = ("none", "sign", "sign_and_encrypt")
_OPCUA_FILES = ("certificate", "private_key", "server_certificate")
_NODE_ID = re.compile(r"^(ns=\d{1,5};)?[isgb]=.{1,512}$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Signal:
    """Where one handshake signal lives: a Modbus (area, address) or an OPC UA node."""

    name: str
    area: Area | None = None
    address: int | None = None
    node: str | None = None

    @property
    def is_word(self) -> bool:
        return self.name in WORD_SIGNALS

    @property
    def direction(self) -> Literal["input", "output"]:
        """``input``: the PLC drives it; ``output``: the camera does."""
        return "input" if self.name in INPUTS else "output"

    def where(self) -> str:
        if self.node is not None:
            return f"node {self.node}"
        return f"{self.area} {self.address}"


@dataclass(frozen=True, slots=True)
class Timing:
    poll_ms: float = 1.0
    ack_timeout_ms: float = 1000.0
    result_budget_ms: float = 50.0


@dataclass(frozen=True, slots=True)
class PlcMap:
    """A parsed, checked map. ``signals`` holds only the signals the file names."""

    protocol: Protocol
    signals: dict[str, Signal]
    name: str = ""
    unit_id: int = 1
    opcua_security: str = "none"
    #: OPC UA sign modes: the client's certificate and key (and optionally the server's
    #: certificate to pin), absolute paths (relative ones are read next to the map).
    opcua_certificate: str | None = None
    opcua_private_key: str | None = None
    opcua_server_certificate: str | None = None
    timing: Timing = field(default_factory=Timing)
    source: str = "<map>"

    def has(self, name: str) -> bool:
        return name in self.signals

    def inputs(self) -> list[Signal]:
        return [s for n, s in self.signals.items() if n in INPUTS]

    def outputs(self) -> list[Signal]:
        return [s for n, s in self.signals.items() if n in OUTPUTS]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "unit_id": self.unit_id if self.protocol == "modbus" else None,
            "source": self.source,
            "signals": {n: s.where() for n, s in self.signals.items()},
        }


def load_map(path: str | Path) -> PlcMap:
    """Read and check a map file; every problem is a ConfigError naming the file."""
    p = Path(path)
    subject = f"PLC map {p}"
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_MAP_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            "file not found", subject=subject, hint="give the path of a PLC map (.toml)"
        ) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a map file", subject=subject) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror or exc}", subject=subject) from exc
    return parse_map(data, source=str(p))


def parse_map(data: bytes | str, *, source: str = "<map>") -> PlcMap:
    subject = f"PLC map {source}"
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_MAP_BYTES:
        raise ConfigError(
            f"is larger than {MAX_MAP_BYTES // 1024} KiB; a map is a few dozen lines",
            subject=subject,
            hint="check that this is the PLC map and not another file",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"is not UTF-8 text (byte {exc.start})", subject=subject, hint="save it as UTF-8"
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"is not valid TOML: {exc}", subject=subject, hint="see docs/PLC.md for the format"
        ) from None
    return _build(doc, subject, source)


def _build(doc: dict[str, Any], subject: str, source: str) -> PlcMap:
    def bad(what: str, hint: str | None = None) -> ConfigError:
        return ConfigError(what, subject=subject, hint=hint or "see docs/PLC.md for the format")

    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(map(repr, unknown))}")
    if doc.get("format") != FORMAT:
        raise bad(f"'format' must be {FORMAT!r}, not {doc.get('format')!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad(f"'version' must be a whole number, not {version!r}")
    if version > VERSION:
        raise bad(
            f"is map version {version}; this EdgeConsole reads version {VERSION}",
            "update EdgeConsole, or write the map in version 1",
        )
    protocol = doc.get("protocol")
    if protocol not in ("modbus", "opcua"):
        raise bad(f"'protocol' must be 'modbus' or 'opcua', not {protocol!r}")
    name = doc.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise bad("'name' must be text of at most 200 characters")

    unit_id = 1
    modbus = _table(doc, "modbus", bad)
    if modbus:
        _only(modbus, {"unit_id"}, "[modbus]", bad)
        unit_id = modbus.get("unit_id", 1)
        if not _int_in(unit_id, 0, 255):
            raise bad(f"[modbus] unit_id must be 0..255, not {unit_id!r}")
    security = "none"
    files: dict[str, str | None] = dict.fromkeys(_OPCUA_FILES)
    opcua = _table(doc, "opcua", bad)
    if opcua:
        _only(opcua, {"security", *_OPCUA_FILES}, "[opcua]", bad)
        security = opcua.get("security", "none")
        if security not in _OPCUA_SECURITY:
            raise bad(f"[opcua] security must be one of {', '.join(_OPCUA_SECURITY)}")
        base = Path(source).parent if source != "<map>" else Path.cwd()
        for key in _OPCUA_FILES:
            value = opcua.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not 0 < len(value) <= 4096 or "\0" in value:
                raise bad(f"[opcua] {key} must be a file path")
            files[key] = str(base / value)
        if security != "none" and not (files["certificate"] and files["private_key"]):
            raise bad(
                f"[opcua] security = {security!r} needs the client's certificate and "
                "private_key (files)",
                'give certificate = "client_cert.der" and private_key = "client_key.pem" '
                'in [opcua], or use security = "none" if the PLC allows it',
            )

    timing_doc = _table(doc, "timing", bad)
    _only(timing_doc, set(_TIMING_DEFAULTS), "[timing]", bad)
    values: dict[str, float] = {}
    for key, default in _TIMING_DEFAULTS.items():
        v = timing_doc.get(key, default)
        low, high = _TIMING_RANGES[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
            raise bad(f"[timing] {key} must be a number of ms in {low:g}..{high:g}, not {v!r}")
        values[key] = float(v)

    sig_doc = _table(doc, "signals", bad)
    unknown = sorted(set(sig_doc) - set(SIGNALS))
    if unknown:
        raise bad(
            f"unknown signal(s) {', '.join(map(repr, unknown))}",
            f"known signals: {', '.join(SIGNALS)}",
        )
    missing = [n for n in REQUIRED if n not in sig_doc]
    if missing:
        raise bad(f"is missing the required signal(s) {', '.join(missing)}")
    if "ok" not in sig_doc and "ng" not in sig_doc:
        raise bad("names neither 'ok' nor 'ng': the PLC would never learn the verdict")
    signals: dict[str, Signal] = {}
    used: dict[tuple[str, Any], str] = {}
    for n in SIGNALS:
        if n not in sig_doc:
            continue
        sig = _signal(n, sig_doc[n], protocol, bad)
        spot = (sig.area or "node", sig.address if sig.node is None else sig.node)
        if spot in used:
            raise bad(f"signals {used[spot]!r} and {n!r} are both at {sig.where()}")
        used[spot] = n
        signals[n] = sig
    return PlcMap(
        protocol=protocol,
        signals=signals,
        name=name,
        unit_id=int(unit_id),
        opcua_security=security,
        opcua_certificate=files["certificate"],
        opcua_private_key=files["private_key"],
        opcua_server_certificate=files["server_certificate"],
        timing=Timing(**values),
        source=source,
    )


def _signal(n: str, spec: Any, protocol: str, bad: Any) -> Signal:
    if not isinstance(spec, dict):
        raise bad(f'signal {n!r} must be a table like {{ area = "coil", address = 0 }}')
    if protocol == "opcua":
        _only(spec, {"node"}, f"signal {n!r}", bad)
        node = spec.get("node")
        if not isinstance(node, str) or not _NODE_ID.match(node):
            raise bad(f'signal {n!r} needs a node id like "ns=2;s=Camera.Trigger", not {node!r}')
        return Signal(n, node=node)
    _only(spec, {"area", "address"}, f"signal {n!r}", bad)
    area, address = spec.get("area"), spec.get("address")
    if area not in AREAS:
        raise bad(f"signal {n!r}: area must be one of {', '.join(AREAS)}, not {area!r}")
    if not _int_in(address, 0, 65535):
        raise bad(f"signal {n!r}: address must be 0..65535 (as on the wire), not {address!r}")
    if n in OUTPUTS and area not in WRITABLE_AREAS:
        raise bad(
            f"signal {n!r} is written by the camera but sits in {area}s, "
            "which a Modbus client cannot write",
            "put camera outputs in coils or holding registers",
        )
    if n in WORD_SIGNALS and area in BIT_AREAS:
        raise bad(
            f"signal {n!r} carries a number but sits in {area}s (one bit)",
            "put it in a holding or input register",
        )
    return Signal(n, area=area, address=int(address))  # type: ignore[arg-type]


def _table(doc: dict[str, Any], key: str, bad: Any) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise bad(f"[{key}] must be a table")
    return value


def _only(table: dict[str, Any], allowed: set[str], where: str, bad: Any) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise bad(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}")


def _int_in(v: Any, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def sample_map_path(protocol: Protocol = "modbus") -> Path:
    """The shipped sample map (Modbus TCP, or OPC UA), as documented in docs/PLC.md."""
    name = "sample_map_opcua.toml" if protocol == "opcua" else "sample_map.toml"
    return Path(__file__).with_name(name)
