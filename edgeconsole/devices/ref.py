"""``TargetRef``: the one parser of target URLs (DESIGN section 4).

Every place that takes a target names it the same way: ``serial:///dev/ttyACM0?baud=B``
(or a bare port path; ``usb=VID:PID`` and ``sn=SERIAL`` find a USB device again after
an unplug), ``gateway://HOST[:PORT]`` (an EdgeConsole agent; ``http://`` is taken for
one too), ``oip://HOST[:PORT]`` (any Open Inference Protocol v2 server), ``local://``
(the laptop) and ``sim://`` (the embedded simulator). Options a target kind takes ride
in the query (``?model=NAME``, ``?camera=N``); :attr:`TargetRef.url` is the canonical
name without them, the key a target is known by in the session, the journal and the
fleet.

No pyserial or network import here: parsing is cheap and safe on any input (a clear
ConfigError for an empty, oversized, malformed or hostile string).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from edgeconsole.core.errors import ConfigError

DEFAULT_BAUD = 115200
#: The agent's port, and the port an ``oip://`` server is assumed on when none is given.
DEFAULT_PORT = 8470
MAX_URL = 2048
KINDS = ("serial", "gateway", "oip", "local", "sim")
HINT = "use serial:///dev/ttyACM0, gateway://HOST:PORT, oip://HOST:PORT, local:// or sim://"


@dataclass(frozen=True)
class SerialAddress:
    path: str
    baud: int = DEFAULT_BAUD
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None

    @property
    def url(self) -> str:
        return f"serial://{self.path}?baud={self.baud}"


@dataclass(frozen=True)
class TargetRef:
    """A parsed target URL: its kind, its canonical URL and what it addresses."""

    kind: str
    url: str
    host: str = ""
    port: int = 0
    address: SerialAddress | None = None
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> TargetRef:
        text = _clean(text)
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme in ("", "serial"):
            address = parse_serial(text)
            return cls("serial", address.url, address=address)
        if scheme in ("gateway", "http", "oip"):
            return _network(text, "oip" if scheme == "oip" else "gateway")
        if scheme in ("local", "sim"):
            rest = text.split("://", 1)[1]
            if rest.strip("/"):
                raise ConfigError(
                    f"{scheme}:// takes no address", subject=text, hint=f"use {scheme}://"
                )
            return cls(scheme, f"{scheme}://")
        raise ConfigError(f"unknown target kind '{scheme}'", subject=text, hint=HINT)

    @property
    def hostport(self) -> str:
        """``HOST:PORT`` of a network target (IPv6 hosts in brackets); tokens are kept
        per hostport."""
        return _hostport(self.host, self.port)

    @property
    def http_base(self) -> str:
        return f"http://{self.hostport}"

    @property
    def url_with_options(self) -> str:
        """The canonical URL with the options given (``?model=NAME``): what a person's
        typing becomes without losing what they asked for."""
        return self.url + (f"?{urlencode(self.options)}" if self.options else "")

    def option(self, name: str) -> str | None:
        return next((v for k, v in reversed(self.options) if k == name), None)

    @property
    def model(self) -> str | None:
        """``?model=NAME``: the model a gateway or OIP server is asked to run."""
        return self.option("model") or None

    def camera(self, default: int = 0) -> int:
        """``?camera=N`` of a gateway camera stream (0 to 1023)."""
        value = self.option("camera")
        if value is None:
            return default
        try:
            camera = int(value)
        except ValueError:
            raise ConfigError(
                f"camera must be a number, got {value!r}",
                subject=self.url,
                hint="gateway://HOST:PORT?camera=0",
            ) from None
        if not 0 <= camera < 1024:
            raise ConfigError(f"camera {camera} is out of range", subject=self.url)
        return camera


def _clean(text: str) -> str:
    if not isinstance(text, str):
        raise ConfigError(f"a target is a URL, not {type(text).__name__}", hint=HINT)
    text = text.strip()
    if not text:
        raise ConfigError("no device given", hint="a port path or serial:///dev/ttyACM0")
    if len(text) > MAX_URL:
        raise ConfigError(f"target URL of {len(text)} characters is too long", hint=HINT)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ConfigError("target URL holds control characters", subject=repr(text[:80]))
    return text


def _network(text: str, kind: str) -> TargetRef:
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "a target URL carries no credentials",
            subject=f"{kind}://{parts.hostname or ''}",
            hint="give the token with --token-file (the agent's DATA/token)",
        )
    if not parts.hostname:
        raise ConfigError(f"{kind} URL has no host: {text}", hint=f"use {kind}://HOST:PORT")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ConfigError(f"{kind} URL has a bad port: {text}", hint="a port is 1-65535") from None
    if parts.path.strip("/"):
        raise ConfigError(
            f"{kind} URL has a path ({parts.path}); a target is a host and port",
            subject=text,
            hint=f"use {kind}://HOST:PORT",
        )
    options = tuple((k, v[-1]) for k, v in parse_qs(parts.query).items())
    url = f"{kind}://{_hostport(parts.hostname, port)}"
    return TargetRef(kind, url, parts.hostname, port, options=options)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_serial(text: str) -> SerialAddress:
    """``serial:///dev/x?baud=B``, ``serial:///dev/x``, or a bare path."""
    if text.startswith("serial://"):
        parts = urlsplit(text)
        path = unquote(parts.netloc + parts.path)
        query = parse_qs(parts.query)
    elif "://" in text:
        raise ConfigError(
            f"{text!r} is not a serial target", hint="use serial:///dev/ttyACM0 or a port path"
        )
    else:
        path, query = text, {}
    if not path:
        raise ConfigError("serial target has no port path", hint="serial:///dev/ttyACM0")
    baud = DEFAULT_BAUD
    if "baud" in query:
        try:
            baud = int(query["baud"][0])
        except ValueError:
            raise ConfigError(f"baud {query['baud'][0]!r} is not a number") from None
        if not 50 <= baud <= 20_000_000:
            raise ConfigError(f"baud {baud} is out of range")
    vid = pid = None
    if "usb" in query:
        try:
            v, p = query["usb"][0].split(":")
            vid, pid = int(v, 16), int(p, 16)
        except ValueError:
            raise ConfigError("usb must be VID:PID in hex, e.g. usb=2fe3:0100") from None
    sn = query.get("sn", [None])[0]
    return SerialAddress(path, baud, vid, pid, sn)
