"""TargetRef.parse: the one parser of target URLs, and the one token resolver."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.devices.gateway import tokens
from edgeconsole.devices.ref import TargetRef


@pytest.mark.parametrize(
    ("text", "kind", "url"),
    [
        ("/dev/ttyACM0", "serial", "serial:///dev/ttyACM0?baud=115200"),
        ("  serial:///dev/ttyUSB1?baud=9600 ", "serial", "serial:///dev/ttyUSB1?baud=9600"),
        ("serial:///dev/ttyACM0?baud=115200&usb=2fe3:0100&sn=X1", "serial", None),
        ("gateway://10.0.0.5", "gateway", "gateway://10.0.0.5:8470"),
        ("gateway://gw.local:9000/", "gateway", "gateway://gw.local:9000"),
        ("http://10.0.0.5:8470", "gateway", "gateway://10.0.0.5:8470"),
        ("GATEWAY://Gw.Local:1", "gateway", "gateway://gw.local:1"),
        ("oip://triton:8000", "oip", "oip://triton:8000"),
        ("oip://[::1]:8000", "oip", "oip://[::1]:8000"),
        ("gateway://127.0.0.1:8470?camera=2&model=digits", "gateway", "gateway://127.0.0.1:8470"),
        ("local://", "local", "local://"),
        ("sim://", "sim", "sim://"),
    ],
)
def test_parse_names_each_kind_canonically(text: str, kind: str, url: str | None) -> None:
    ref = TargetRef.parse(text)
    assert ref.kind == kind
    if url is not None:
        assert ref.url == url
        assert TargetRef.parse(ref.url) == TargetRef.parse(url)  # canonical is a fixed point


def test_serial_address_keeps_usb_identity_and_options_ride_in_the_query() -> None:
    ref = TargetRef.parse("serial:///dev/ttyACM0?baud=230400&usb=2fe3:0100&sn=X1")
    assert ref.address is not None
    assert (ref.address.baud, ref.address.vid, ref.address.pid) == (230400, 0x2FE3, 0x0100)
    assert ref.address.serial_number == "X1"
    gw = TargetRef.parse("gateway://h:1?camera=3&model=digits&camera=4")
    assert (gw.camera(), gw.model, gw.hostport, gw.http_base) == (4, "digits", "h:1", "http://h:1")
    assert TargetRef.parse("oip://[::1]:8000").http_base == "http://[::1]:8000"
    assert TargetRef.parse("gateway://h").camera(7) == 7


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no device given"),
        ("   ", "no device given"),
        ("ftp://x", "unknown target kind"),
        ("gateway://", "no host"),
        ("gateway://h:99999", "bad port"),
        ("gateway://h:-1", "bad port"),
        ("gateway://h:port", "bad port"),
        ("gateway://user:secret@h:1", "no credentials"),
        ("gateway://h:1/v2/models", "has a path"),
        ("oip://", "no host"),
        ("local://somewhere", "takes no address"),
        ("serial://", "no port path"),
        ("serial:///dev/x?baud=fast", "not a number"),
        ("serial:///dev/x?baud=-1", "out of range"),
        ("serial:///dev/x?usb=zz", "VID:PID"),
        ("gateway://h\x00:1", "control characters"),
        ("/dev/tty\nACM0", "control characters"),
        ("gateway://" + "a" * 5000, "too long"),
    ],
)
def test_malformed_and_hostile_urls_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        TargetRef.parse(text)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ConfigError, match="not bytes"):
        TargetRef.parse(b"gateway://h")  # type: ignore[arg-type]


def test_camera_option_is_checked() -> None:
    with pytest.raises(ConfigError, match="must be a number"):
        TargetRef.parse("gateway://h?camera=x").camera()
    with pytest.raises(ConfigError, match="out of range"):
        TargetRef.parse("gateway://h?camera=5000").camera()


def test_the_token_resolver_prefers_given_then_file_then_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    assert tokens.resolve("h:1") is None
    tokens.remember("h:1", "remembered-token")
    f = tmp_path / "token"
    f.write_text("file-token\n")
    assert tokens.resolve("h:1") == "remembered-token"
    assert tokens.resolve("h:1", token_file=f) == "file-token"
    assert tokens.resolve("h:1", token="given", token_file=f) == "given"
    assert tokens.resolve("other:2", token_file=str(f)) == "file-token"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"two words\n", "more than one word"),
        (b"line1\nline2\n", "more than one word"),
        (b"\xff\xfe", "cannot read"),
        (b"x" * 5000, "larger than"),
    ],
)
def test_bad_token_files_are_refused_never_sent(tmp_path: Path, content: bytes, says: str) -> None:
    f = tmp_path / "token"
    f.write_bytes(content)
    with pytest.raises(ConfigError, match=says):
        tokens.read_token_file(f)


def test_a_token_file_that_never_ends_is_refused_quickly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="larger than"):
        tokens.read_token_file(Path("/dev/zero"))
    with pytest.raises(ConfigError, match="cannot read"):
        tokens.read_token_file(tmp_path / "missing")
    with pytest.raises(ConfigError, match="cannot read"):
        tokens.read_token_file(tmp_path)
