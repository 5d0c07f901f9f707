from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from edgeconsole.core.frames import Frame, InferenceResult, OverlayBanner, OverlayBox
from edgeconsole.session.display import fit_size, to_display
from edgeconsole.session.update import LiveFrame
from edgeconsole.ui.frame_image import to_qimage
from edgeconsole.ui.live_view import LiveView, fit_rect
from edgeconsole.ui.theme import COLOURS

from . import builders


def close_to(c: QColor, hex_colour: str, tol: int = 40) -> bool:
    want = QColor(hex_colour)
    return (
        abs(c.red() - want.red()) <= tol
        and abs(c.green() - want.green()) <= tol
        and abs(c.blue() - want.blue()) <= tol
    )


def test_to_qimage_wraps_bgr_without_copy() -> None:
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 2] = 255  # red in BGR
    fi = to_qimage(img)
    assert fi.array is img  # no copy for a contiguous uint8 image
    assert QColor(fi.image.pixel(2, 2)) == QColor(255, 0, 0)


def test_to_qimage_copies_non_contiguous_and_handles_grey() -> None:
    big = np.zeros((10, 10, 3), np.uint8)
    big[:, 5:, 1] = 255
    crop = big[:, 4:8]
    fi = to_qimage(crop)
    assert fi.image.width() == 4 and QColor(fi.image.pixel(2, 0)) == QColor(0, 255, 0)
    grey = np.full((3, 5), 128, np.uint8)
    assert QColor(to_qimage(grey).image.pixel(1, 1)).red() == 128
    with pytest.raises(ValueError, match="cannot show"):
        to_qimage(np.zeros((2, 2, 2), np.uint8))


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        ((1000, 360), (180.0, 0.0, 640.0, 360.0)),  # wide: bars left and right
        ((640, 1000), (0.0, 320.0, 640.0, 360.0)),  # tall: bars top and bottom
        ((1280, 720), (0.0, 0.0, 1280.0, 720.0)),  # same aspect: fills
    ],
)
def test_fit_rect_keeps_aspect(
    area: tuple[int, int], expected: tuple[float, float, float, float]
) -> None:
    r = fit_rect(640, 360, *area)
    assert (r.x(), r.y(), r.width(), r.height()) == pytest.approx(expected)
    assert fit_rect(0, 10, 100, 100).isEmpty()


def _grab(view: LiveView) -> QImage:
    return view.grab().toImage()


def test_paints_frame_overlay_and_reports_shown_once(qtbot: QtBot) -> None:
    view = LiveView()
    qtbot.addWidget(view)
    view.resize(1280, 720)
    view.show()
    qtbot.waitExposed(view)
    shown: list[tuple[int, int]] = []
    view.on_shown = lambda i, t: shown.append((i, t))
    view.show_frame(builders.live(7))
    img = _grab(view)
    # The overlay banner (FAIL, red) spans the top of the image.
    assert close_to(img.pixelColor(30, 8), COLOURS.fail, tol=50)
    # Frame content: dark green background well below the banner.
    c = img.pixelColor(60, 600)
    assert c.green() > c.red() and c.green() > c.blue()
    # The "ok" box at source (160,90)-(320,180) is drawn at 2x in widget coordinates:
    # its left edge runs along x=320 from y=180 to y=360.
    assert close_to(img.pixelColor(320, 300), COLOURS.ok)
    assert not close_to(img.pixelColor(326, 300), COLOURS.ok)  # a line, not a fill
    qtbot.waitUntil(lambda: len(shown) == 1)
    assert shown[0][0] == 7 and shown[0][1] > 0
    view.repaint()  # same frame again: not reported twice
    assert len(shown) == 1 and view.frames_painted == 1
    view.show_frame(builders.live(8))
    qtbot.waitUntil(lambda: len(shown) == 2)
    assert [i for i, _ in shown] == [7, 8]


def test_overlay_stays_crisp_when_window_grows(qtbot: QtBot) -> None:
    """Lines are drawn in widget pixels: 3x larger view, same line width."""
    view = LiveView()
    qtbot.addWidget(view)
    box = OverlayBox(box=(10, 10, 50, 50), role="ok")
    img = np.zeros((100, 100, 3), np.uint8)
    live = LiveFrame(
        Frame(index=1, image=img, captured_ns=0, source="t"),
        InferenceResult(frame_index=1, overlay=[box]),
    )
    widths = []
    for size in (100, 300):
        view.resize(size, size)
        view.show_frame(live)
        grabbed = _grab(view)
        y = size // 2 - size // 5  # through the box's left edge region
        row = [close_to(grabbed.pixelColor(x, y), COLOURS.ok, tol=90) for x in range(size)]
        widths.append(sum(row[: size // 3]))  # left edge only
    assert widths[0] >= 1 and widths[1] >= 1
    assert abs(widths[1] - widths[0]) <= 1, widths


def test_placeholder_tag_and_clear(qtbot: QtBot) -> None:
    view = LiveView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show_frame(builders.live(1))
    view.set_tag("STOPPED")
    tagged = _grab(view)
    # The tag sits in the bottom-right corner of the image, amber text on black.
    corner = [tagged.pixelColor(x, y) for x in range(250, 395) for y in range(190, 262)]
    assert any(close_to(c, COLOURS.warn, tol=60) for c in corner)
    view.clear("Nothing here")
    assert view.frame_index == -1 and view.overlay == []
    blank = _grab(view)
    assert blank.pixelColor(5, 5) == QColor("#07090b")


def test_banner_without_boxes_and_label_at_image_edge(qtbot: QtBot) -> None:
    view = LiveView()
    qtbot.addWidget(view)
    view.resize(640, 360)
    img = np.zeros((360, 640, 3), np.uint8)
    overlay = [
        OverlayBanner("PASS", "ok"),
        OverlayBox(box=(600, 0, 640, 30), role="warn", label="a long label at the edge"),
    ]
    view.show_frame(
        LiveFrame(
            Frame(index=3, image=img, captured_ns=0, source="t"),
            InferenceResult(frame_index=3, overlay=overlay),
        )
    )
    g = _grab(view)
    assert close_to(g.pixelColor(320, 5), COLOURS.ok, tol=50)
    # The label was pulled back inside the image and below the banner: its right
    # end is on screen, in the label colour, under the PASS banner.
    label_pixels = [g.pixelColor(x, y) for x in range(560, 640) for y in range(30, 80)]
    assert any(close_to(c, COLOURS.warn, tol=40) for c in label_pixels)
    assert close_to(g.pixelColor(636, 5), COLOURS.ok, tol=50)  # banner not covered


def _line_frame(line: tuple[int, float] = (0, 320.0)) -> LiveFrame:
    from edgeconsole.inference.line.overlay import TRIGGER_LINE_LABEL

    frame = Frame(index=1, image=np.zeros((360, 640, 3), np.uint8), captured_ns=0, source="t")
    result = InferenceResult(
        frame_index=1,
        overlay=[
            OverlayBox((320.0, 0.0, 320.0, 360.0), "warn", TRIGGER_LINE_LABEL),
            OverlayBox((100.0, 100.0, 200.0, 200.0), "ok", "#3 ok 1.2 ms", thick=True),
        ],
    )
    return LiveFrame(frame=frame, result=result, line=line)


def test_trigger_line_is_drawn_and_dragged_to_a_new_place(qtbot: QtBot) -> None:
    from PySide6.QtCore import QPoint

    view = LiveView()
    qtbot.addWidget(view)
    view.resize(640, 360)  # the image fills the view: widget pixels are source pixels
    view.show()
    qtbot.waitExposed(view)
    view.show_frame(_line_frame())
    # The line is the view's own (draggable), not an overlay box drawn twice.
    assert [o.label for o in view.overlay] == ["#3 ok 1.2 ms"]
    img = view.grab().toImage()
    assert close_to(QColor(img.pixel(320, 200)), COLOURS.warn)
    moved: list[tuple[int, float]] = []
    view.on_line_moved = lambda axis, f: moved.append((axis, f))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(40, 200))  # far away: no grab
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(40, 200))
    assert moved == []
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(323, 200))
    qtbot.mouseMove(view, QPoint(200, 210))
    assert view.trigger_line == (0, pytest.approx(200.0, abs=1.0))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 210))
    assert moved and moved[0][0] == 0 and moved[0][1] == pytest.approx(200 / 640, abs=0.01)
    # Dragged past the edge: kept inside (a part must be able to reach it whole).
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 210))
    qtbot.mouseMove(view, QPoint(2, 210))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(2, 210))
    assert moved[-1][1] == pytest.approx(0.02)


def test_trigger_setting_is_remembered_and_survives_damage(tmp_path: object) -> None:
    from pathlib import Path

    from PySide6.QtCore import QSettings

    from edgeconsole.inference.line import TriggerConfig
    from edgeconsole.ui.settings import WindowSettings

    path = Path(str(tmp_path)) / "s.ini"
    ws = WindowSettings(QSettings(str(path), QSettings.Format.IniFormat))
    assert ws.trigger == TriggerConfig()
    ws.trigger = TriggerConfig.parse("line:y=0.3")
    ws.sync()
    again = WindowSettings(QSettings(str(path), QSettings.Format.IniFormat))
    assert again.trigger.describe() == "line:y=0.3"
    for junk in ("{not json", '{"kind": "laser"}', '{"position": 9}', "[]"):
        again.qsettings.setValue("run/trigger", junk)
        assert again.trigger == TriggerConfig()  # damaged: the default, never a crash


def test_a_long_banner_shrinks_before_it_is_cut(qtbot: QtBot) -> None:
    from PySide6.QtGui import QFont, QFontMetricsF

    from edgeconsole.ui.live_view import fit_banner

    font = QFont()
    font.setPointSizeF(20.0)
    text = "PASS 15 · FAIL 7 · LATE 22   decision p99 197 ms / 5 ms"
    width = QFontMetricsF(font).horizontalAdvance(text)
    fitted, shown = fit_banner(text, font, width * 0.8)  # 80% of the room it needs
    assert shown == text and fitted.pointSizeF() < 20.0  # whole, smaller
    assert QFontMetricsF(fitted).horizontalAdvance(shown) <= width * 0.8
    fitted, shown = fit_banner(text, font, width * 0.3)  # far too narrow: cut at 60%
    assert fitted.pointSizeF() == 12.0 and shown.endswith("…")
    fitted, shown = fit_banner(text, font, width * 2)
    assert shown == text and fitted.pointSizeF() == 20.0


def test_letterbox_margins_and_banner_are_painted_whole(qtbot: QtBot) -> None:
    """Only the margins around the frame are filled (the frame covers the rest), with
    no seam of unpainted pixels between them; the verdict banner is opaque in its
    role's colour (issue 15: no blended fills across the view on every frame)."""
    view = LiveView()
    qtbot.addWidget(view)
    view.resize(1401, 503)  # wider than 16:9, odd sizes: fractional image edges
    view.show()
    qtbot.waitExposed(view)
    view.show_frame(builders.live(3))
    img = _grab(view)
    target = view.image_rect()
    background = QColor("#07090b")
    left, right = int(target.left()), int(target.right())
    assert left > 100 and right < 1300
    for y in range(0, img.height(), 7):
        for x in (*range(0, left - 1, 5), *range(right + 2, img.width(), 5)):
            assert img.pixelColor(x, y) == background, (x, y)
    # Image right up to its edges: no pixel column left unpainted between them.
    for x in range(left - 1, left + 3):
        c = img.pixelColor(x, 400)
        assert c == background or c.green() > c.red(), x
    assert img.pixelColor(left + 3, 400).green() > img.pixelColor(left + 3, 400).red()
    assert img.pixelColor(left + 8, 6) == QColor(COLOURS.fail)  # the banner, opaque


def test_a_prepared_frame_is_copied_as_is_and_scaled_here_after_a_resize(
    qtbot: QtBot,
) -> None:
    """The view tells the session its size; a frame the session prepared at that size
    (session/display.py) is painted pixel for pixel, with no scaling on the window's
    thread. Once the view has another size, the frame is scaled here as before."""
    view = LiveView()
    qtbot.addWidget(view)
    told: list[tuple[int, int]] = []
    view.on_area = lambda w, h: told.append((w, h))
    view.resize(1309, 505)
    view.show()
    qtbot.waitExposed(view)
    assert told and told[-1] == (1309, 505)
    image = np.zeros((720, 1280, 3), np.uint8)
    image[:, :640] = (30, 60, 200)  # BGR: red-ish left half
    image[:, 640:] = (200, 90, 20)  # blue-ish right half
    size = fit_size(1280, 720, *told[-1])
    pixels = to_display(image, size)
    pixels[100, 50, :3] = (0, 255, 0)  # one green pixel: copied 1:1, it stays one pixel

    def live(index: int) -> LiveFrame:
        frame = Frame(index=index, image=image, captured_ns=0, source="t")
        return LiveFrame(frame, InferenceResult(frame_index=index), display=pixels)

    view.show_frame(live(1))
    img = _grab(view)
    assert view.frames_blitted == 1 and view.frames_scaled == 0
    target = view.image_rect()
    x0, y0 = int(target.left()), int(target.top())
    assert (int(target.width()), int(target.height())) == size
    assert img.pixelColor(x0 + 50, y0 + 100) == QColor(0, 255, 0)
    assert img.pixelColor(x0 + 51, y0 + 100) == QColor(200, 60, 30)
    assert img.pixelColor(x0 + size[0] - 10, y0 + 200) == QColor(20, 90, 200)
    assert img.pixelColor(x0 - 2, y0 + 200) == QColor("#07090b")  # the margin
    # Another size: those pixels no longer fit, the frame itself is scaled here.
    view.resize(1309, 400)
    qtbot.waitUntil(lambda: told[-1] == (1309, 400))
    view.show_frame(live(2))
    img = _grab(view)
    assert view.frames_blitted == 1 and view.frames_scaled == 1
    target = view.image_rect()
    c = img.pixelColor(int(target.left()) + 20, int(target.top()) + 200)
    assert close_to(c, "#c83c1e", tol=8)
