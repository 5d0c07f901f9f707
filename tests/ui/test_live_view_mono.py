"""Monochrome camera frames (H x W, one channel) in the live view: the industrial
camera sources hand Mono8 frames on without widening them to BGR."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from edgeconsole.core.frames import Frame, InferenceResult, OverlayBox
from edgeconsole.session.update import LiveFrame
from edgeconsole.ui.live_view import LiveView
from edgeconsole.ui.theme import COLOURS


def test_a_mono_frame_is_painted_grey_with_its_overlay_in_colour(qtbot: QtBot) -> None:
    view = LiveView()
    qtbot.addWidget(view)
    view.resize(640, 360)
    view.show()
    qtbot.waitExposed(view)
    image = np.full((360, 640), 90, np.uint8)  # as a Mono8 camera sends it
    image[:, 320:] = 200
    box = OverlayBox(box=(100, 100, 200, 200), role="ok")
    view.show_frame(
        LiveFrame(
            Frame(index=3, image=image, captured_ns=0, source="pylon://0815-0000"),
            InferenceResult(frame_index=3, overlay=[box]),
        )
    )
    grabbed = view.grab().toImage()
    dark, light = grabbed.pixelColor(40, 300), grabbed.pixelColor(600, 300)
    assert dark.red() == dark.green() == dark.blue() and abs(dark.red() - 90) <= 2
    assert light.red() == light.green() == light.blue() and abs(light.red() - 200) <= 2
    edge = grabbed.pixelColor(100, 150)  # the box's left edge, in the theme's ok colour
    want = QColor(COLOURS.ok)
    assert abs(edge.green() - want.green()) <= 40 and abs(edge.red() - want.red()) <= 40
    assert view.frame_index == 3 and view.frames_painted == 1
