"""The live view: the newest frame scaled to fit, with the model's overlay on top.

The overlay is drawn with QPainter in widget coordinates (not burnt into the
image) so lines and text stay crisp at any window size. The view tells the session
its size (``on_area``); the session then hands each frame already scaled to it and
in the screen's pixel layout (``LiveFrame.display``, session/display.py), and the
view copies it 1:1. A frame that does not fit the view as it is now (the window was
just resized, or none was prepared) is scaled here as before. After a new frame has
been painted the view reports it through ``on_shown`` so the session can stamp
the "shown" time and close the end-to-end latency.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from edgeconsole.core.clock import now_ns
from edgeconsole.session.display import fit_size
from edgeconsole.ui.frame_image import FrameImage, display_qimage, to_qimage
from edgeconsole.ui.theme import COLOURS, role_colour

if TYPE_CHECKING:
    from edgeconsole.core.frames import OverlayBanner, OverlayBox, OverlayItem
    from edgeconsole.session.update import LiveFrame

ShownCallback = Callable[[int, int], None]
#: (axis, fraction of the frame): 0 = a vertical line at x, 1 = horizontal at y.
LineMovedCallback = Callable[[int, float], None]
#: The view's size in device pixels, whenever it changes.
AreaCallback = Callable[[int, int], None]
#: How close (widget pixels) the pointer must be to grab the trigger line.
GRAB_PX = 8.0

IDLE_PLACEHOLDER = "No source running. Pick a source and a model, then press F5."

# Text on a filled label background: dark on the bright role colours.
_LABEL_TEXT = QColor("#0b0d10")
# Looked up once: each enum access is a Python call, and a frame makes hundreds.
_ANTIALIAS = QPainter.RenderHint.Antialiasing
_MITER = Qt.PenJoinStyle.MiterJoin
_NO_BRUSH = Qt.BrushStyle.NoBrush
_NO_PEN = Qt.PenStyle.NoPen
_CENTRE = Qt.AlignmentFlag.AlignCenter
_WARN = QColor(COLOURS.warn)
_LINE_LABEL_BACK = QColor(0, 0, 0, 170)


def _line_pen(width: float) -> QPen:
    pen = QPen(_WARN, width, Qt.PenStyle.DashLine)
    pen.setCosmetic(True)
    return pen


_BACKGROUND = QColor("#07090b")


def fit_rect(image_w: int, image_h: int, area_w: float, area_h: float) -> QRectF:
    """The largest rectangle with the image's aspect ratio centred in the area."""
    if image_w <= 0 or image_h <= 0 or area_w <= 0 or area_h <= 0:
        return QRectF()
    scale = min(area_w / image_w, area_h / image_h)
    w, h = image_w * scale, image_h * scale
    return QRectF((area_w - w) / 2.0, (area_h - h) / 2.0, w, h)


def fit_banner(text: str, font: QFont, room: float) -> tuple[QFont, str]:
    """A narrow view shrinks a banner's text (down to 60%) before cutting it: the end of
    a line's banner is its decision p99 against the budget."""
    fitted = QFont(font)
    need = QFontMetricsF(fitted).horizontalAdvance(text)
    if need > room > 0:
        size = font.pointSizeF()
        fitted.setPointSizeF(max(size * 0.6, size * room / need * 0.98))
    elided = QFontMetricsF(fitted).elidedText(text, Qt.TextElideMode.ElideRight, room)
    return fitted, elided


class LiveView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Live view")
        self._frame: FrameImage | None = None
        self._paintable: QImage | None = None  # _frame as 32-bit pixels, made at first paint
        self._display: FrameImage | None = None  # _frame as the session prepared it
        #: Told the view's size in device pixels whenever it changes (the session
        #: prepares frames at that size).
        self.on_area: AreaCallback | None = None
        self._area_told: tuple[int, int] | None = None
        #: Frames copied 1:1 as prepared, and frames scaled here (tests, benchmarks).
        self.frames_blitted = 0
        self.frames_scaled = 0
        self._fonts: dict[tuple[float, bool], tuple[QFont, QFontMetricsF]] = {}
        self._pens: dict[tuple[str, bool], tuple[QPen, QColor]] = {}
        self._banner_fit: dict[tuple[str, str, float], tuple[QFont, str]] = {}
        self._line_pens = (_line_pen(2.0), _line_pen(3.0))  # [dragged]
        self._frame_index = -1
        self._overlay: list[OverlayItem] = []
        self._reported_index = -1
        self._placeholder = IDLE_PLACEHOLDER
        self._tag: str | None = None
        self.on_shown: ShownCallback | None = None
        self.frames_painted = 0
        #: Per-part mode: the trigger line (axis, source pixels), drawn and draggable.
        self._line: tuple[int, float] | None = None
        self._drag: float | None = None  # source pixels while the line is dragged
        #: Called once a drag ends, with the line's new place (the session moves it).
        self.on_line_moved: LineMovedCallback | None = None
        self.setMouseTracking(True)

    # -- data in -------------------------------------------------------------
    def show_frame(self, live: LiveFrame) -> None:
        """Take the newest frame; it is painted on the next repaint."""
        self._frame = to_qimage(live.frame.image)
        self._paintable = None
        self._display = (
            display_qimage(live.display, self.devicePixelRatioF())
            if live.display is not None
            else None
        )
        self._frame_index = live.frame.index
        # Looked up with the first frame: the door imports the line's package, which
        # is not needed before the window's first paint (issue 15).
        from edgeconsole.core.frames import OverlayBox
        from edgeconsole.session.api import TRIGGER_LINE_LABEL

        overlay = list(live.result.overlay) if live.result is not None else []
        # The trigger line is drawn by the view itself (it can be dragged).
        self._overlay = [
            o for o in overlay if not (isinstance(o, OverlayBox) and o.label == TRIGGER_LINE_LABEL)
        ]
        self._line = live.line
        self.update()

    def clear(self, placeholder: str | None = None) -> None:
        self._frame = None
        self._paintable = None
        self._display = None
        self._overlay = []
        self._line = None
        self._drag = None
        self._frame_index = -1
        if placeholder is not None:
            self._placeholder = placeholder
        self.update()

    def set_placeholder(self, text: str) -> None:
        """What the view says while it has no frame."""
        if text != self._placeholder:
            self._placeholder = text
            self.update()

    def set_tag(self, text: str | None) -> None:
        """A corner tag over the image, e.g. "STOPPED" on a frozen last frame."""
        if text != self._tag:
            self._tag = text
            self.update()

    @property
    def frame_index(self) -> int:
        return self._frame_index

    @property
    def overlay(self) -> list[OverlayItem]:
        return list(self._overlay)

    def image_rect(self) -> QRectF:
        if self._frame is None:
            return QRectF()
        blit = self._blit_rect()
        if blit is not None:
            return blit
        return fit_rect(self._frame.width, self._frame.height, self.width(), self.height())

    def _device_area(self) -> tuple[int, int]:
        dpr = self.devicePixelRatioF()
        return (round(self.width() * dpr), round(self.height() * dpr))

    def _blit_rect(self) -> QRectF | None:
        """Where the prepared pixels go 1:1 (whole device pixels, centred), or None when
        there are none or they were made for another size of the view."""
        if self._frame is None or self._display is None:
            return None
        area = self._device_area()
        size = fit_size(self._frame.width, self._frame.height, *area)
        if size != (self._display.width, self._display.height):
            return None
        dpr = self.devicePixelRatioF()
        x, y = (area[0] - size[0]) // 2, (area[1] - size[1]) // 2
        return QRectF(x / dpr, y / dpr, size[0] / dpr, size[1] / dpr)

    def _tell_area(self) -> None:
        area = self._device_area()
        if area != self._area_told and self.on_area is not None:
            self._area_told = area
            self.on_area(*area)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._tell_area()

    def sizeHint(self) -> QSize:
        return QSize(960, 600)

    def minimumSizeHint(self) -> QSize:
        return QSize(320, 200)

    # -- painting ------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        self._tell_area()  # also after a move to a screen of another pixel ratio
        blitted: bool | None = None
        p = QPainter(self)
        try:
            if self._frame is None:
                p.fillRect(self.rect(), _BACKGROUND)
                self._paint_placeholder(p)
                return
            target = self.image_rect()
            # Only the margins around the image: the frame covers the rest opaquely
            # (a full fill first was one more whole-view pass on every frame).
            w, h = float(self.width()), float(self.height())
            for margin in (
                QRectF(0.0, 0.0, w, target.top()),
                QRectF(0.0, target.bottom(), w, h - target.bottom()),
                QRectF(0.0, target.top(), target.left(), target.height()),
                QRectF(target.right(), target.top(), w - target.right(), target.height()),
            ):
                if margin.width() > 0 and margin.height() > 0:
                    p.fillRect(margin, _BACKGROUND)
            if self._display is not None and self._blit_rect() is not None:
                p.drawImage(target.topLeft(), self._display.image)  # 1:1, no scaling
                blitted = True
            else:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                p.drawImage(target, self._image_to_paint(self._frame))
                blitted = False
            p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            scale = target.width() / self._frame.width
            # A frame is on screen: the session has imported these long ago.
            from edgeconsole.core.frames import OverlayBanner, OverlayBox

            banners = [o for o in self._overlay if isinstance(o, OverlayBanner)]
            banner_font = self._banner_font(target)
            banner_h = self._metrics(banner_font.pointSizeF()).height() * 1.5
            # Labels keep clear of the banners so neither hides the other.
            label_top = target.top() + banner_h * len(banners)
            labels: list[tuple[str, QColor, QPointF]] = []
            boxes = [o for o in self._overlay if isinstance(o, OverlayBox)]
            # Square boxes on whole pixels look the same without antialiasing, which
            # cost about a third of the overlay on every frame (issue 15); polygons
            # (a rotated find) keep it.
            p.setRenderHint(_ANTIALIAS, False)
            for item in boxes:
                if not item.polygon:
                    label = self._paint_box(p, item, target, scale)
                    if label is not None:
                        labels.append(label)
            p.setRenderHint(_ANTIALIAS, True)
            for item in boxes:
                if item.polygon:
                    label = self._paint_box(p, item, target, scale)
                    if label is not None:
                        labels.append(label)
            # The trigger line under the labels: a part's verdict stays readable on it.
            self._paint_trigger_line(p, target, scale)
            # Labels after all boxes, so no box line crosses a label.
            placed: list[QRectF] = []
            for text, colour, anchor in labels:
                placed.append(self._paint_label(p, text, colour, anchor, target, label_top, placed))
            self._paint_banners(p, banners, target, banner_font, banner_h)
            if self._tag:
                self._paint_tag(p, target)
        finally:
            p.end()
        if self._frame is not None and self._frame_index != self._reported_index:
            self._reported_index = self._frame_index
            self.frames_painted += 1
            if blitted:
                self.frames_blitted += 1
            elif blitted is not None:
                self.frames_scaled += 1
            if self.on_shown is not None:
                self.on_shown(self._frame_index, now_ns())

    def _image_to_paint(self, frame: FrameImage) -> QImage:
        # Qt scales smoothly on a fast path for 32-bit pixels only: a 1280x720 BGR888
        # frame drawn smooth into 960x540 took 5.7 ms on the window's thread, converted
        # once per frame to RGB32 (0.6 ms) and drawn 1.2 ms. Converted lazily, so a
        # frame replaced before any repaint costs nothing.
        if self._paintable is None:
            self._paintable = frame.image.convertToFormat(QImage.Format.Format_RGB32)
        return self._paintable

    # -- the trigger line --------------------------------------------------------
    @property
    def trigger_line(self) -> tuple[int, float] | None:
        """(axis, source pixels) as shown, the drag included."""
        if self._line is None:
            return None
        return (self._line[0], self._drag if self._drag is not None else self._line[1])

    def _line_widget(self, target: QRectF, scale: float) -> float | None:
        line = self.trigger_line
        if line is None:
            return None
        axis, pos = line
        return (target.left() if axis == 0 else target.top()) + pos * scale

    def _paint_trigger_line(self, p: QPainter, target: QRectF, scale: float) -> None:
        w = self._line_widget(target, scale)
        if w is None or self._line is None:
            return
        colour = _WARN
        p.setPen(self._line_pens[self._drag is not None])
        vertical = self._line[0] == 0
        if vertical:
            a, b = QPointF(w, target.top()), QPointF(w, target.bottom())
        else:
            a, b = QPointF(target.left(), w), QPointF(target.right(), w)
        # A straight dashed line on whole pixels: antialiasing (stroking each dash)
        # cost a quarter of the overlay on every frame, and looks the same.
        p.setRenderHint(_ANTIALIAS, False)
        p.drawLine(QPointF(round(a.x()), round(a.y())), QPointF(round(b.x()), round(b.y())))
        p.setRenderHint(_ANTIALIAS, True)
        # A handle at the far end says "drag me"; the label says what the line is.
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        handle = b if vertical else a
        p.drawEllipse(handle, 7.0, 7.0)
        font = self._font(9.5)
        p.setFont(font)
        text = "trigger line · drag to move"
        fm = self._metrics(9.5)
        box = QRectF(0, 0, fm.horizontalAdvance(text) + 10, fm.height() + 4)
        if vertical:
            box.moveBottomLeft(QPointF(min(w + 6, target.right() - box.width()), b.y() - 4))
        else:
            box.moveBottomLeft(QPointF(a.x() + 12, w - 4))
        p.setBrush(_LINE_LABEL_BACK)
        p.drawRoundedRect(box, 3, 3)
        p.setPen(colour)
        p.drawText(box, _CENTRE, text)

    def _near_line(self, pos: QPointF) -> bool:
        if self._frame is None or self._line is None:
            return False
        target = self.image_rect()
        w = self._line_widget(target, target.width() / self._frame.width)
        if w is None:
            return False
        d = pos.x() - w if self._line[0] == 0 else pos.y() - w
        return abs(d) <= GRAB_PX and target.adjusted(-GRAB_PX, -GRAB_PX, GRAB_PX, GRAB_PX).contains(
            pos
        )

    def _source_pos(self, pos: QPointF) -> float:
        assert self._frame is not None and self._line is not None
        target = self.image_rect()
        scale = target.width() / self._frame.width
        if self._line[0] == 0:
            v, extent = (pos.x() - target.left()) / scale, self._frame.width
        else:
            v, extent = (pos.y() - target.top()) / scale, self._frame.height
        # Never at the very edge: a part must be able to reach it whole.
        return min(max(v, 0.02 * extent), 0.98 * extent)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._near_line(event.position()):
            self._drag = self._source_pos(event.position())
            self.update()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            self._drag = self._source_pos(event.position())
            self.update()
        elif self._line is not None:
            near = self._near_line(event.position())
            shape = (
                Qt.CursorShape.SizeHorCursor if self._line[0] == 0 else Qt.CursorShape.SizeVerCursor
            )
            if near:
                self.setCursor(shape)
            else:
                self.unsetCursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None and self._line is not None and self._frame is not None:
            axis = self._line[0]
            extent = self._frame.width if axis == 0 else self._frame.height
            self._line = (axis, self._drag)
            fraction = self._drag / extent
            self._drag = None
            self.update()
            if self.on_line_moved is not None:
                self.on_line_moved(axis, fraction)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _font(self, points: float, bold: bool = True) -> QFont:
        return self._font_and_metrics(points, bold)[0]

    def _metrics(self, points: float, bold: bool = True) -> QFontMetricsF:
        return self._font_and_metrics(points, bold)[1]

    def _font_and_metrics(self, points: float, bold: bool) -> tuple[QFont, QFontMetricsF]:
        # Made once per size, not for every label of every frame; a new widget font
        # (changeEvent) starts afresh.
        key = (points, bold)
        found = self._fonts.get(key)
        if found is None:
            f = QFont(self.font())
            f.setPointSizeF(points)
            f.setBold(bold)
            if len(self._fonts) > 64:  # banner sizes follow the view's height
                self._fonts.clear()
            found = self._fonts[key] = (f, QFontMetricsF(f))
        return found

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._fonts.clear()
        super().changeEvent(event)

    def _paint_placeholder(self, p: QPainter) -> None:
        p.setPen(QColor(COLOURS.text_dim))
        p.setFont(self._font(14, bold=False))
        p.drawText(
            self.rect().adjusted(24, 24, -24, -24),
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            self._placeholder,
        )

    def _box_pen(self, role: str, thick: bool) -> tuple[QPen, QColor]:
        # Made once per role: a box is drawn for every part on every frame (issue 15).
        key = (role, thick)
        found = self._pens.get(key)
        if found is None:
            colour = role_colour(role)
            pen = QPen(colour, 4.0 if thick else 2.5)
            pen.setCosmetic(True)
            pen.setJoinStyle(_MITER)
            found = self._pens[key] = (pen, colour)
        return found

    def _paint_box(
        self, p: QPainter, item: OverlayBox, target: QRectF, scale: float
    ) -> tuple[str, QColor, QPointF] | None:
        pen, colour = self._box_pen(item.role, item.thick)
        p.setPen(pen)
        p.setBrush(_NO_BRUSH)
        ox, oy = target.x(), target.y()
        x0, y0, x1, y1 = item.box
        if item.polygon:
            p.drawPolygon(
                QPolygonF([QPointF(ox + x * scale, oy + y * scale) for x, y in item.polygon])
            )
        else:  # on whole pixels: drawn without antialiasing (paintEvent)
            p.drawRect(
                QRectF(
                    round(ox + min(x0, x1) * scale),
                    round(oy + min(y0, y1) * scale),
                    round(abs(x1 - x0) * scale),
                    round(abs(y1 - y0) * scale),
                )
            )
        if not item.label:
            return None
        return item.label, colour, QPointF(ox + min(x0, x1) * scale, oy + min(y0, y1) * scale)

    def _paint_label(
        self,
        p: QPainter,
        text: str,
        colour: QColor,
        anchor: QPointF,
        target: QRectF,
        top: float,
        placed: list[QRectF],
    ) -> QRectF:
        font = self._font(10.5)
        fm = self._metrics(10.5)
        pad = 4.0
        w = fm.horizontalAdvance(text) + 2 * pad
        h = fm.height() + 2 * pad
        # Above the box when there is room, else just inside its top edge;
        # never past the right edge of the image.
        x = min(anchor.x(), target.right() - w)
        x = max(x, target.left())
        y = anchor.y() - h if anchor.y() - h >= top else max(anchor.y(), top)
        rect = QRectF(x, y, w, h)
        # Nearby regions would stack their labels on top of each other: move
        # down a row until this one is clear (a few tries, then accept overlap).
        for _ in range(6):
            if not any(rect.intersects(other) for other in placed):
                break
            rect.translate(0, h + 1)
        p.setPen(_NO_PEN)
        p.setBrush(colour)
        p.drawRoundedRect(rect, 3, 3)
        p.setFont(font)
        p.setPen(_LABEL_TEXT)
        p.drawText(rect, _CENTRE, text)
        return rect

    def _banner_font(self, target: QRectF) -> QFont:
        # Scales with the view but never tiny and never huge.
        return self._font(max(14.0, min(28.0, target.height() / 22.0)))

    def _paint_banners(
        self, p: QPainter, banners: list[OverlayBanner], target: QRectF, font: QFont, h: float
    ) -> None:
        if not banners:
            return
        y = target.top()
        for banner in banners:
            colour = role_colour(banner.role)
            rect = QRectF(target.left(), y, target.width(), h)
            # Opaque: at 88% the image hardly showed through, and blending the band
            # across the whole width cost on every frame.
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawRect(rect)
            # The text changes a few times a second (a part decided), the frame 30:
            # fitted once per text, font and room.
            key = (banner.text, font.key(), rect.width())
            fit = self._banner_fit.get(key)
            if fit is None:
                if len(self._banner_fit) > 32:
                    self._banner_fit.clear()
                fit = self._banner_fit[key] = fit_banner(banner.text, font, rect.width() - 24)
            fitted, text = fit
            p.setFont(fitted)
            p.setPen(_LABEL_TEXT)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
            y += h

    def _paint_tag(self, p: QPainter, target: QRectF) -> None:
        font = self._font(12)
        fm = self._metrics(12)
        text = self._tag or ""
        w = fm.horizontalAdvance(text) + 20
        h = fm.height() + 10
        rect = QRectF(target.right() - w - 10, target.bottom() - h - 10, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 190))
        p.drawRoundedRect(rect, 4, 4)
        p.setFont(font)
        p.setPen(QColor(COLOURS.warn))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
