from __future__ import annotations

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.inference.line import TriggerConfig, TriggerLine


@pytest.mark.parametrize(
    ("text", "kind", "desc"),
    [
        ("line", "line", "line:x=0.5"),
        ("LINE:x=0.3", "line", "line:x=0.3"),
        ("line:y=0.25", "line", "line:y=0.25"),
        ("line:x=640px", "line", "line:x=640px"),
        ("external", "external", "external:x=0.5"),
        ("external:x=0.7", "external", "external:x=0.7"),
        ("periodic:500ms", "periodic", "periodic:500ms"),
        ("periodic:2s", "periodic", "periodic:2000ms"),
        ("periodic:period=250", "periodic", "periodic:250ms"),
        ("frame", "frame", "frame"),
    ],
)
def test_parse(text: str, kind: str, desc: str) -> None:
    cfg = TriggerConfig.parse(text)
    assert cfg.kind == kind and cfg.describe() == desc
    assert TriggerConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "unknown trigger"),
        ("laser", "unknown trigger"),
        ("line:x=1.5", "outside the frame"),
        ("line:x=0", "outside the frame"),
        ("line:x=-0.2", "outside the frame"),
        ("line:x=-5px", "outside the frame"),
        ("line:z=0.5", "cannot read the line"),
        ("line:x=nan", "cannot read the line"),
        ("line:x=0.5;rm -rf", "cannot read the line"),
        ("periodic", "cannot read the period"),
        ("periodic:0ms", "out of range"),
        ("periodic:-5ms", "cannot read the period"),
        ("periodic:99999999s", "out of range"),
        ("frame:x=0.5", "takes no setting"),
        ("line:x=" + "9" * 5000, "outside the frame"),
    ],
)
def test_bad_triggers_say_what_is_wrong(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TriggerConfig.parse(text)


def test_pixel_line_is_checked_against_the_frame() -> None:
    line = TriggerLine("horizontal", 0.5, 300.0)
    assert line.coordinate(640, 360) == 300.0 and line.axis == 1
    with pytest.raises(ConfigError, match=r"y=400 px is outside the 640x360 frame"):
        TriggerLine("horizontal", 0.5, 400.0).coordinate(640, 360)
    assert TriggerLine("vertical", 0.25).coordinate(640, 360) == 160.0


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        "line",
        {"kind": "bogus"},
        {"position": "left"},
        {"kind": "periodic"},
        {"orientation": "diagonal"},
        {"position": 7},
    ],
)
def test_remembered_settings_that_are_damaged_are_refused(obj: object) -> None:
    with pytest.raises(ConfigError):
        TriggerConfig.from_json(obj)
