"""A deterministic synthetic conveyor: labelled parts riding a dark belt.

The scene drives the demo and the tests. Everything random comes from the seed:
each part's look and label state from ``(seed, part id)``, the lighting flicker
and sensor noise from ``(seed, frame index)``, so the same seed always gives the
same frames, and a part looks the same in every frame it appears in.

Speed: each part is drawn once into a sprite and pasted into later frames; the
belt is a horizontally periodic strip read at a moving offset; noise comes from
one pre-made noise field read at a per-frame offset. A frame costs a few
memory copies, a lookup table and a saturating add.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError
from edgeconsole.core.frames import Frame
from edgeconsole.sources._base import Pacer, SourceBase
from edgeconsole.sources.belt import PART_W, REF_H, REF_W, BeltTiming

LabelState = Literal["upright", "rotated", "missing", "smudged"]
LABEL_STATES: tuple[LabelState, ...] = ("upright", "rotated", "missing", "smudged")
#: Share of parts in each label state (same order as LABEL_STATES).
LABEL_WEIGHTS = (0.60, 0.15, 0.15, 0.10)

# Geometry at the reference size 1280x720; everything scales with the frame. Where
# parts are along the belt, and when, is the belt timing model's (sources/belt.py).
PART_H = 180
LABEL_W, LABEL_H = 210, 92
BELT_TOP, BELT_BOTTOM = 150, 570
BELT_PERIOD = 48  # the belt texture repeats every this many reference pixels
FONT = cv2.FONT_HERSHEY_DUPLEX
FONT_SCALE = 0.9  # gives ~24 px tall capitals at the reference size
FONT_THICK = 2
NOISE_SIGMA = 3.0
NOISE_MARGIN = 61  # the noise field is this much larger than a frame

#: Verdict a QC model should give each label state (truth CSVs, commissioning).
VERDICTS: dict[str, str] = {
    "upright": "ok",
    "rotated": "rotated 180",
    "missing": "missing label",
    "smudged": "unreadable",
}

#: Belt and rail colours (BGR).
BELT_BGR = (38, 36, 34)
RAIL_BGR = (92, 96, 100)
FLOOR_BGR = (55, 58, 60)
PART_TINTS_BGR = ((196, 200, 204), (170, 196, 214), (184, 206, 220), (205, 205, 200))


@dataclass(frozen=True, slots=True)
class PartSpec:
    """How one part looks; fully decided by (seed, id)."""

    id: int
    label: LabelState
    text: str
    tint: tuple[int, int, int]
    dy: int  # vertical offset from the belt centre line, reference pixels
    label_dx: int
    label_dy: int


def part_spec(seed: int, part_id: int) -> PartSpec:
    rng = np.random.default_rng([seed & 0xFFFFFFFF, part_id, 0x5EED])
    label = LABEL_STATES[int(rng.choice(len(LABEL_STATES), p=LABEL_WEIGHTS))]
    lot = int(rng.integers(1000, 10000))
    letter = "ABCDEFGHJKLMNPRSTUVWXYZ"[int(rng.integers(0, 23))]
    year = int(rng.integers(2026, 2031))
    month = int(rng.integers(1, 13))
    text = f"LOT {lot}-{letter}\nEXP {year}-{month:02d}"
    tint = PART_TINTS_BGR[int(rng.integers(0, len(PART_TINTS_BGR)))]
    return PartSpec(
        id=part_id,
        label=label,
        text="" if label == "missing" else text,
        tint=tint,
        dy=int(rng.integers(-28, 29)),
        label_dx=int(rng.integers(-8, 9)),
        label_dy=int(rng.integers(-8, 9)),
    )


def _render_label(text: str, scale: float) -> np.ndarray:
    """A white label with two lines of dark text, upright."""
    lw, lh = max(8, round(LABEL_W * scale)), max(6, round(LABEL_H * scale))
    label = np.full((lh, lw, 3), (238, 241, 242), np.uint8)
    cv2.rectangle(label, (0, 0), (lw - 1, lh - 1), (150, 150, 150), max(1, round(scale)))
    font_scale = FONT_SCALE * scale
    thick = max(1, round(FONT_THICK * scale))
    lines = text.split("\n")
    sizes = [cv2.getTextSize(line, FONT, font_scale, thick)[0] for line in lines]
    line_h = max(h for _, h in sizes)
    gap = round(14 * scale)
    block_h = line_h * len(lines) + gap * (len(lines) - 1)
    y = (lh - block_h) // 2 + line_h
    for line, (tw, _) in zip(lines, sizes, strict=True):
        x = max(1, (lw - tw) // 2)
        cv2.putText(label, line, (x, y), FONT, font_scale, (28, 24, 22), thick, cv2.LINE_AA)
        y += line_h + gap
    return label


def _smudge(label: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Smear a label until its text cannot be read: motion blur, blur, grime."""
    k = max(3, round(31 * scale)) | 1
    kernel = np.zeros((k, k), np.float32)
    angle = float(rng.uniform(-0.35, 0.35))
    c = k // 2
    dx, dy = np.cos(angle) * c, np.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    kernel /= kernel.sum()
    out = cv2.filter2D(label, -1, kernel)
    out = cv2.GaussianBlur(out, (0, 0), 4.0 * scale + 0.5)
    h, w = out.shape[:2]
    grime = np.zeros((h, w), np.uint8)
    for _ in range(5):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        ax, ay = int(rng.integers(w // 6, w // 2 + 1)), int(rng.integers(h // 6, h // 2 + 1))
        cv2.ellipse(grime, (cx, cy), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    grime = cv2.GaussianBlur(grime, (0, 0), 6.0 * scale + 1.0)
    alpha = (grime.astype(np.float32) / 255.0 * 0.55)[:, :, None]
    dirt = np.array((70, 88, 98), np.float32)
    return (out.astype(np.float32) * (1 - alpha) + dirt * alpha).astype(np.uint8)


def render_sprite(spec: PartSpec, seed: int, scale: float) -> tuple[np.ndarray, list[int] | None]:
    """Draw a part; returns the sprite and the label box inside it (or None)."""
    pw, ph = max(8, round(PART_W * scale)), max(6, round(PART_H * scale))
    b, g, r = spec.tint
    # Top-lit box: a gentle vertical gradient over the tint.
    shade = np.linspace(1.06, 0.9, ph, dtype=np.float32)[:, None, None]
    sprite = np.clip(np.array((b, g, r), np.float32) * shade, 0, 255).astype(np.uint8)
    sprite = np.ascontiguousarray(np.broadcast_to(sprite, (ph, pw, 3)))
    outline = max(2, round(3 * scale))
    cv2.rectangle(sprite, (0, 0), (pw - 1, ph - 1), (60, 66, 72), outline)
    # A strip of packing tape along the top edge, as real cartons have.
    tape_h = max(1, round(14 * scale))
    cv2.rectangle(
        sprite,
        (outline, outline + 2),
        (pw - outline - 1, outline + 2 + tape_h),
        (150, 172, 182),
        -1,
    )
    if spec.label == "missing":
        return sprite, None
    label = _render_label(spec.text, scale)
    if spec.label == "rotated":
        label = cv2.rotate(label, cv2.ROTATE_180)
    elif spec.label == "smudged":
        rng = np.random.default_rng([seed & 0xFFFFFFFF, spec.id, 0x5A0D])
        label = _smudge(label, rng, scale)
    lh, lw = label.shape[:2]
    x0 = (pw - lw) // 2 + round(spec.label_dx * scale)
    y0 = (ph - lh) // 2 + round((spec.label_dy + 8) * scale)
    x0 = min(max(outline, x0), pw - lw - outline)
    y0 = min(max(outline, y0), ph - lh - outline)
    sprite[y0 : y0 + lh, x0 : x0 + lw] = label
    return sprite, [x0, y0, x0 + lw, y0 + lh]


def _belt_strip(
    height: int, width: int, scale: float, seed: int, *, belt_only: bool = False
) -> np.ndarray:
    """The static scene, periodic along x: floor, rails, belt with seams.

    ``belt_only`` fills the whole image with belt (for part crops).
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0xBE17])
    img = np.empty((height, width, 3), np.uint8)
    img[:] = FLOOR_BGR
    if belt_only:
        top, bottom = 0, height
    else:
        top, bottom = round(BELT_TOP * scale), round(BELT_BOTTOM * scale)
        rail = max(2, round(22 * scale))
        img[max(0, top - rail) : top] = RAIL_BGR
        img[bottom : bottom + rail] = RAIL_BGR
        img[max(0, top - rail) : max(0, top - rail) + max(1, rail // 5)] = (140, 144, 148)
        img[bottom : bottom + max(1, rail // 5)] = (140, 144, 148)
    # Belt texture: fine grain plus a darker seam every period.
    grain = rng.integers(-6, 7, size=(bottom - top, width, 1), dtype=np.int16)
    belt = np.clip(np.array(BELT_BGR, np.int16) + grain, 0, 255)
    belt = belt.astype(np.uint8)
    period = max(4, round(BELT_PERIOD * scale))
    for x in range(0, width, period):
        belt[:, x : x + max(1, round(3 * scale))] = (24, 23, 22)
    img[top:bottom] = belt
    # Soft light fall-off toward the edges of the view (fixed, like a lamp).
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None, None]
    return np.clip(img.astype(np.float32) * (1.0 - 0.12 * ys**2), 0, 255).astype(np.uint8)


class ConveyorScene:
    """Renders frame ``i`` of the conveyor for a seed and size; no I/O, no clock."""

    def __init__(
        self,
        seed: int = 0,
        fps: float = 30.0,
        width: int = REF_W,
        height: int = REF_H,
        *,
        parts_per_min: float | None = None,
        overlap: float = 0.0,
        stops: tuple[tuple[int, int], ...] = (),
    ) -> None:
        """``parts_per_min``: the belt's rate (default about 33); ``overlap``: share of
        parts that touch or partly overlap the one ahead; ``stops``: (first frame,
        frames) the belt stands still."""
        if width < 64 or height < 48 or width > 7680 or height > 4320:
            raise ConfigError(
                f"conveyor size {width}x{height} is out of range",
                subject="synthetic:conveyor",
                hint="use a width of 64..7680 and a height of 48..4320",
            )
        if not (0 < fps <= 240):
            raise ConfigError(
                f"conveyor fps {fps} is out of range",
                subject="synthetic:conveyor",
                hint="use an fps between 1 and 240",
            )
        self.seed = int(seed)
        self.fps = float(fps)
        self.width = int(width)
        self.height = int(height)
        if any(a < 0 or n < 0 for a, n in stops):
            raise ConfigError(
                "conveyor stops must be (first frame >= 0, frames >= 0) pairs",
                subject="synthetic:conveyor",
            )
        self.stops = tuple(sorted((int(a), int(n)) for a, n in stops))
        self.belt = BeltTiming.for_frame(
            width,
            height,
            parts_per_min=parts_per_min,
            overlap=overlap,
            seed=self.seed,
            stops=tuple((a / self.fps, n / self.fps) for a, n in self.stops),
        )
        self.overlap = float(overlap)
        self.scale = self.belt.scale
        s = self.scale
        self.part_w, self.part_h = self.belt.part_w, max(6, round(PART_H * s))
        self.pitch = self.belt.pitch
        self.speed_px_frame = self.belt.speed_px_s / self.fps
        if parts_per_min is not None and self.speed_px_frame > 0.8 * self.part_w:
            raise ConfigError(
                f"at {parts_per_min:g} parts/min and {fps:g} fps a part moves "
                f"{self.speed_px_frame:.0f} px per frame, more than its own length",
                subject="synthetic:conveyor",
                hint="raise fps or lower the rate",
            )
        self.belt_mid = round((BELT_TOP + BELT_BOTTOM) / 2 * s)
        self.period = max(4, round(BELT_PERIOD * s))
        self._strip = _belt_strip(height, width + self.period, s, self.seed)
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, 0x0015E])
        field_shape = (height + NOISE_MARGIN, width + NOISE_MARGIN, 3)
        noise = rng.normal(0.0, NOISE_SIGMA, size=field_shape)
        self._noise_pos = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_neg = np.clip(-noise, 0, 255).astype(np.uint8)
        self._sprites: OrderedDict[int, tuple[PartSpec, np.ndarray, list[int] | None]] = (
            OrderedDict()
        )
        # Where part 0 starts: fully in view near the right edge, so frame 0
        # already shows a full belt.
        self._x_start = self.belt.x_start

    def travel(self, index: int) -> float:
        """How far the belt has moved at frame ``index`` (pixels), stops included."""
        return self.belt.travel_px(index / self.fps)

    def _centre_x(self, part_id: int, index: int) -> int:
        return (
            self._x_start + round(self.travel(index)) - self.belt.offset_of(part_id)
        ) + self.part_w // 2

    def crossings(self, line_x: float, frames: range) -> list[tuple[int, int, str]]:
        """(part id, frame, label state) for each part whose centre crosses the vertical
        line at ``line_x`` within ``frames``: the first frame its centre is at or past
        the line, as drawn (pixel rounding included). A commissioning run's truth."""
        out: list[tuple[int, int, str]] = []
        if len(frames) == 0:
            return out
        first, last = frames[0], frames[-1]
        k = self.belt.first_part_after(first / self.fps - 2.0 / self.fps, line_x)
        while True:
            i = max(first, math.ceil(self.belt.crossing_s(k, line_x) * self.fps) - 2)
            while i <= last and self._centre_x(k, i) < line_x:
                i += 1
            if i > last:
                break
            if i > first:  # on the first frame it was there already: no crossing seen
                out.append((k, i, part_spec(self.seed, k).label))
            k += 1
        return out

    def _sprite(self, part_id: int) -> tuple[PartSpec, np.ndarray, list[int] | None]:
        hit = self._sprites.get(part_id)
        if hit is not None:
            self._sprites.move_to_end(part_id)
            return hit
        spec = part_spec(self.seed, part_id)
        sprite, label_box = render_sprite(spec, self.seed, self.scale)
        entry = (spec, sprite, label_box)
        self._sprites[part_id] = entry
        while len(self._sprites) > 32:  # only a handful are ever in view
            self._sprites.popitem(last=False)
        return entry

    def render(self, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        w, h = self.width, self.height
        travel = self.travel(index)
        shift = round(travel) % self.period
        # Reading the periodic strip further left makes the belt move right.
        frame = self._strip[:, self.period - shift : self.period - shift + w].copy()
        offset = round(travel)
        # Parts k with x_k = x_start + offset - offset_of(k) inside (-part_w, w).
        belt = self.belt
        k_min = belt.first_part_beyond(self._x_start + offset - w)
        k_max = belt.first_part_beyond(self._x_start + offset + self.part_w) - 1
        parts: list[dict[str, Any]] = []
        shadow = max(2, round(8 * self.scale))
        for k in range(k_max, k_min - 1, -1):
            spec, sprite, label_box = self._sprite(k)
            x0 = self._x_start + offset - belt.offset_of(k)
            y0 = self.belt_mid - self.part_h // 2 + round(spec.dy * self.scale)
            y0 = min(max(0, y0), h - self.part_h)
            x1, y1 = x0 + self.part_w, y0 + self.part_h
            cx0, cx1 = max(0, x0), min(w, x1)
            if cx1 <= cx0:
                continue
            # Contact shadow below and right of the part (lamp at top left).
            sx0, sx1 = max(0, x0 + shadow), min(w, x1 + shadow)
            if sx1 > sx0:
                region = frame[min(h, y0 + shadow) : min(h, y1 + shadow), sx0:sx1]
                np.right_shift(region, 1, out=region)
            frame[y0:y1, cx0:cx1] = sprite[:, cx0 - x0 : cx1 - x0]
            lbox = None
            if label_box is not None:
                lx0, ly0, lx1, ly1 = label_box
                bx0, bx1 = max(0, x0 + lx0), min(w, x0 + lx1)
                if bx1 > bx0:
                    lbox = [bx0, y0 + ly0, bx1, y0 + ly1]
            parts.append(
                {
                    "id": spec.id,
                    "box": [cx0, y0, cx1, y1],
                    "label": spec.label,
                    "label_box": lbox,
                    "text": spec.text,
                    "complete": x0 >= 0 and x1 <= w,
                }
            )
        parts.sort(key=lambda p: p["id"])
        self._light_and_noise(frame, index)
        return frame, {"parts": parts}

    def _light_and_noise(self, frame: np.ndarray, index: int) -> None:
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, index, 0x119])
        # Slow drift (mains-free LED lamp) plus a little flicker per frame.
        gain = 1.0 + 0.05 * np.sin(index / (self.fps * 3.0)) + float(rng.normal(0.0, 0.01))
        lut = np.clip(np.arange(256, dtype=np.float32) * gain, 0, 255).astype(np.uint8)
        cv2.LUT(frame, lut, dst=frame)
        oy, ox = (int(v) for v in rng.integers(0, NOISE_MARGIN, size=2))
        h, w = self.height, self.width
        cv2.add(frame, self._noise_pos[oy : oy + h, ox : ox + w], dst=frame)
        cv2.subtract(frame, self._noise_neg[oy : oy + h, ox : ox + w], dst=frame)


def render_part(state: LabelState, seed: int, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """One part in the given label state on a patch of belt, ``size`` = (h, w).

    For building labelled datasets: the part fills about 80% of the crop and
    everything else (text, tint, position jitter, smudge, noise) follows from
    ``seed``. Returns a BGR uint8 array of shape (h, w, 3).
    """
    if state not in LABEL_STATES:
        raise ConfigError(
            f"unknown label state {state!r}",
            subject="render_part",
            hint=f"use one of {', '.join(LABEL_STATES)}",
        )
    h, w = int(size[0]), int(size[1])
    if h < 16 or w < 16 or h > 4096 or w > 4096:
        raise ConfigError(
            f"crop size {h}x{w} out of range", subject="render_part", hint="use 16..4096 pixels"
        )
    base = part_spec(seed, 0)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0xC409])
    spec = PartSpec(
        id=seed,
        label=state,
        text="" if state == "missing" else (base.text or _fallback_text(rng)),
        tint=base.tint,
        dy=0,
        label_dx=base.label_dx,
        label_dy=base.label_dy,
    )
    scale = 0.8 * min(w / PART_W, h / PART_H)
    sprite, _ = render_sprite(spec, seed, scale)
    crop = _belt_strip(h, w, scale, seed, belt_only=True)
    ph, pw = sprite.shape[:2]
    jx, jy = (int(v) for v in rng.integers(-max(1, (w - pw) // 4), max(2, (w - pw) // 4 + 1), 2))
    x0 = min(max(0, (w - pw) // 2 + jx), w - pw)
    y0 = min(max(0, (h - ph) // 2 + jy), h - ph)
    crop[y0 : y0 + ph, x0 : x0 + pw] = sprite
    noise = rng.normal(0.0, NOISE_SIGMA, size=crop.shape)
    gain = 1.0 + float(rng.normal(0.0, 0.04))
    return np.clip(crop.astype(np.float32) * gain + noise, 0, 255).astype(np.uint8)


def _fallback_text(rng: np.random.Generator) -> str:
    return f"LOT {int(rng.integers(1000, 10000))}-A\nEXP 2027-{int(rng.integers(1, 13)):02d}"


class SyntheticConveyorSource(SourceBase):
    """Frames of the conveyor scene, with ground truth in ``Frame.truth``.

    ``frames=None`` runs forever; otherwise ``read`` returns None after that
    many frames. ``realtime=True`` paces frames at ``fps``.
    """

    kind = "synthetic"

    def __init__(
        self,
        seed: int = 0,
        fps: float = 30.0,
        width: int = REF_W,
        height: int = REF_H,
        realtime: bool = True,
        frames: int | None = None,
        *,
        name: str | None = None,
        parts_per_min: float | None = None,
        overlap: float = 0.0,
        stops: tuple[tuple[int, int], ...] = (),
        belt_clock: bool = False,
    ) -> None:
        """``belt_clock``: the scene's frame is the machine's monotonic clock divided by
        the frame period, so another process (the virtual device's photo-eye) knows
        where every part is without talking to this one. Frames then come in real time
        (whatever ``realtime`` says); ``Frame.index`` counts ticks since the first frame
        read (a tick the reader was too slow for is a gap, as with a camera)."""
        super().__init__(name or f"conveyor(seed={seed})")
        if frames is not None and frames < 0:
            raise ConfigError(f"frames must be >= 0, not {frames}", subject="synthetic:conveyor")
        self.scene = ConveyorScene(
            seed=seed,
            fps=fps,
            width=width,
            height=height,
            parts_per_min=parts_per_min,
            overlap=overlap,
            stops=stops,
        )
        # A belt on the clock runs in real time by nature: a reader cannot get ahead of it.
        self.realtime = realtime or belt_clock
        self.belt_clock = belt_clock
        self.frames = frames
        self._pacer = Pacer(fps)
        self._period_ns = round(1e9 / fps)
        self._first_tick: int | None = None
        self._last_tick: int | None = None

    @property
    def nominal_fps(self) -> float | None:
        return self.scene.fps

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scene": "conveyor",
            "seed": self.scene.seed,
            "width": self.scene.width,
            "height": self.scene.height,
            "fps": self.scene.fps,
            "parts_per_min": round(self.scene.belt.parts_per_min, 3),
            "frames": self.frames,
            "realtime": self.realtime,
            "overlap": self.scene.overlap,
            "stops": [list(x) for x in self.scene.stops],
            "clock": self.belt_clock,
        }

    def _open(self) -> None:
        self._pacer.reset()

    def _read_frame(self) -> Frame | None:
        if self.frames is not None and self._next_index >= self.frames:
            self.state = "ended"
            return None
        if self.belt_clock:
            return self._read_clocked()
        if self.realtime and self._wait(self._pacer.delay_s()):
            return None
        started = now_ns()
        image, truth = self.scene.render(self._next_index)
        return self._make_frame(image, started_ns=started, truth=truth)

    def _read_clocked(self) -> Frame | None:
        period = self._period_ns
        now = now_ns()
        tick = now // period + 1 if self._last_tick is None else self._last_tick + 1
        tick = max(tick, now // period)  # too slow for a tick: that frame is gone
        if self._wait((tick * period - now) / 1e9):
            return None
        if self._first_tick is None:
            self._first_tick = tick
        self._last_tick = tick
        image, truth = self.scene.render(tick)
        truth["scene_frame"] = tick
        self._next_index = tick - self._first_tick
        return self._make_frame(image, started_ns=tick * period, truth=truth)
