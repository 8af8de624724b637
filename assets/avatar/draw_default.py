"""Draws aischoco's default image set ("초코"): a chibi girl with chocolate hair and a choco ribbon.

    python assets/avatar/draw_default.py            # writes assets/avatar/<emotion>/<slot>.png
    python assets/avatar/draw_default.py --sheet docs/screenshots/avatar-default-set.png

Pure Pillow, no fonts or downloads, deterministic: the same Pillow gives the same files. Each image
is drawn at 4× and scaled down (smooth edges), then reduced to a small palette (< 40 KB a file).
The drawing is CC0 (see README.md): use, change and share it freely.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 512
SS = 4  # supersampling factor
HERE = Path(__file__).resolve().parent
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "excited")
SLOTS = ("closed", "open", "closed_blink", "open_blink")

Point = tuple[float, float]
RGBA = tuple[int, int, int, int]


def rgb(hex_colour: str, alpha: int = 255) -> RGBA:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), alpha)


LINE = rgb("#4a2a1c")  # outlines: dark chocolate, softer than black
HAIR = rgb("#7a4a2e")  # milk chocolate
HAIR_DARK = rgb("#5e3620")
HAIR_LIGHT = rgb("#a5704a")
SKIN = rgb("#ffe6d5")
SKIN_SHADE = rgb("#f6cdb6")
IRIS = rgb("#b0683a")  # caramel
IRIS_DARK = rgb("#5a2a14")
WHITE = rgb("#ffffff")
RIBBON = rgb("#3e2216")  # dark chocolate
RIBBON_LIGHT = rgb("#7a4630")
PINK = rgb("#f59ab0")  # strawberry-choco accents
DRESS = rgb("#5c3424")
DRESS_LIGHT = rgb("#7b4a33")
CREAM = rgb("#fff4e2")
MOUTH = rgb("#b8444f")
TONGUE = rgb("#f28c96")
BLUSH = rgb("#ff8fa0", 120)
TEAR = rgb("#8fd3ff")
ANGER = rgb("#e8344a")
GOLD = rgb("#ffd35a")


class Canvas:
    """ImageDraw in 512-unit coordinates on a SS× canvas."""

    def __init__(self) -> None:
        self.image = Image.new("RGBA", (SIZE * SS, SIZE * SS), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.image)

    @staticmethod
    def _pts(points: Iterable[Point]) -> list[tuple[float, float]]:
        return [(x * SS, y * SS) for x, y in points]

    def polygon(self, points: Sequence[Point], fill: RGBA | None, outline: RGBA | None = None,
                width: float = 0) -> None:
        self.draw.polygon(self._pts(points), fill=fill)
        if outline is not None and width:
            self.line([*points, points[0]], outline, width)

    def line(self, points: Sequence[Point], colour: RGBA, width: float) -> None:
        pts = self._pts(points)
        w = max(1, round(width * SS))
        self.draw.line(pts, fill=colour, width=w, joint="curve")
        r = w / 2  # round caps
        for x, y in (pts[0], pts[-1]):
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: RGBA | None,
                outline: RGBA | None = None, width: float = 0) -> None:
        box = ((cx - rx) * SS, (cy - ry) * SS, (cx + rx) * SS, (cy + ry) * SS)
        self.draw.ellipse(box, fill=fill, outline=outline, width=round(width * SS))

    def overlay(self, paint: Callable[[Canvas], object]) -> None:
        """Draw translucent things on their own layer (alpha composites instead of replacing)."""
        layer = Canvas()
        paint(layer)
        self.image.alpha_composite(layer.image)

    def result(self) -> Image.Image:
        return self.image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


# --- geometry helpers ----------------------------------------------------------------------------
def bezier(p0: Point, p1: Point, p2: Point, p3: Point | None = None, n: int = 24) -> list[Point]:
    """Quadratic (p0, p1, p2) or cubic (p0..p3) Bézier as n+1 points."""
    out = []
    for i in range(n + 1):
        t = i / n
        if p3 is None:
            a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
            out.append((a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1]))
        else:
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t ** 3
            out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                        a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float,
        n: int = 32) -> list[Point]:
    """Points on an ellipse from `start` to `end` degrees (0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(start + (end - start) * i / n)),
             cy + ry * math.sin(math.radians(start + (end - start) * i / n))) for i in range(n + 1)]


def star(cx: float, cy: float, r: float, points: int = 4, inner: float = 0.38,
         turn: float = -90) -> list[Point]:
    out = []
    for i in range(points * 2):
        rr = r if i % 2 == 0 else r * inner
        a = math.radians(turn + 180 * i / points)
        out.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return out


def heart(cx: float, cy: float, s: float) -> list[Point]:
    pts = []
    for i in range(60):
        t = 2 * math.pi * i / 60
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((cx + x * s / 16, cy - y * s / 16))
    return pts


# --- the character -------------------------------------------------------------------------------
FACE = (256.0, 262.0, 116.0, 108.0)  # cx, cy, rx, ry
EYE_L, EYE_R = (202.0, 286.0), (310.0, 286.0)
MOUTH_AT = (256.0, 340.0)


def draw_back_hair(c: Canvas) -> None:
    # round over the head, then long hair falling behind the shoulders, ends tucked in softly
    top = arc(256, 246, 146, 150, 180, 360, n=48)
    right = bezier((402, 246), (414, 360), (404, 470), n=20)[1:] \
        + bezier((404, 470), (380, 462), (356, 476), n=10)[1:]
    left = bezier((156, 476), (132, 462), (108, 470), n=10) + bezier((108, 470), (98, 360), (110, 246), n=20)[1:]
    c.polygon(top + right + [(340, 400), (172, 400)] + left, HAIR_DARK, LINE, 3.2)


def draw_body(c: Canvas) -> None:
    c.polygon([(234, 340), (278, 340), (284, 410), (228, 410)], SKIN_SHADE)  # neck
    shoulders = (bezier((104, 512), (112, 420), (206, 398), n=20)
                 + bezier((306, 398), (400, 420), (408, 512), n=20))
    c.polygon(shoulders, DRESS, LINE, 3.2)
    c.line(bezier((150, 512), (156, 460), (176, 440), n=10), DRESS_LIGHT, 3)  # fold highlights
    c.line(bezier((362, 512), (356, 460), (336, 440), n=10), DRESS_LIGHT, 3)
    # cream collar: two rounded flaps meeting at the throat
    for side in (-1, 1):
        flap = bezier((256, 406), (256 + side * 44, 394), (256 + side * 84, 400), n=12) \
            + bezier((256 + side * 84, 400), (256 + side * 76, 446), (256, 446), n=12)[1:]
        c.polygon(flap, CREAM, LINE, 2.6)
    # a chocolate-square brooch with a pink heart
    c.polygon([(240, 434), (272, 434), (272, 466), (240, 466)], RIBBON, LINE, 2.6)
    c.line([(256, 436), (256, 464)], RIBBON_LIGHT, 1.6)
    c.line([(242, 450), (270, 450)], RIBBON_LIGHT, 1.6)
    c.polygon(heart(256, 450, 7.5), PINK)


def draw_face(c: Canvas) -> None:
    cx, cy, rx, ry = FACE
    face = arc(cx, cy, rx, ry * 0.92, 180, 360, n=40)  # the top: round
    face += bezier((cx + rx, cy), (cx + rx * 0.98, cy + ry * 0.78), (cx, cy + ry * 1.02), n=24)[1:]
    face += bezier((cx, cy + ry * 1.02), (cx - rx * 0.98, cy + ry * 0.78), (cx - rx, cy), n=24)[1:]
    c.polygon(face, SKIN, LINE, 3.2)


def draw_bangs(c: Canvas) -> None:
    # The hair cap over the skull, side locks framing the face, and a scalloped fringe: soft,
    # rounded strands read well even at 200 px on a stream.
    cap = arc(256, 250, 134, 142, 180, 360, n=48)  # (122, 250) → (390, 250)
    right_lock = bezier((390, 250), (396, 320), (378, 384), n=16)[1:] \
        + bezier((378, 384), (366, 330), (350, 300), n=12)[1:] \
        + bezier((350, 300), (346, 260), (352, 222), n=10)[1:]
    notches = [(352, 222), (322, 200), (290, 210), (256, 198), (222, 210), (190, 200), (160, 222)]
    fringe: list[Point] = []
    for a, b in itertools.pairwise(notches):
        fringe += bezier(a, ((a[0] + b[0]) / 2, max(a[1], b[1]) + 30), b, n=14)[1:]
    left_lock = bezier((160, 222), (166, 260), (162, 300), n=10)[1:] \
        + bezier((162, 300), (146, 330), (134, 384), n=12)[1:] \
        + bezier((134, 384), (116, 320), (122, 250), n=16)[1:]
    c.polygon(cap + right_lock + fringe + left_lock, HAIR, LINE, 3.2)
    # strand lines inside the fringe and a glossy band across the crown
    for x0, x1 in ((322, 316), (290, 286), (222, 226), (190, 196)):
        c.line(bezier((x0 + (x0 - 256) * 0.3, 140), ((x0 + x1) / 2, 170), (x1, 204), n=10), HAIR_DARK, 2.2)
    c.overlay(lambda layer: layer.polygon(
        arc(256, 250, 112, 118, 215, 325, n=24) + arc(256, 250, 100, 100, 325, 215, n=24),
        rgb("#d9a57c", 150)))


def draw_ribbon(c: Canvas) -> None:
    kx, ky = 350.0, 124.0  # the knot, top right of the head
    for side in (-1, 1):
        loop = bezier((kx + side * 6, ky - 8), (kx + side * 28, ky - 46), (kx + side * 60, ky - 34), n=14) \
            + bezier((kx + side * 60, ky - 34), (kx + side * 76, ky - 4), (kx + side * 58, ky + 24), n=14)[1:] \
            + bezier((kx + side * 58, ky + 24), (kx + side * 30, ky + 20), (kx + side * 6, ky + 8), n=14)[1:]
        c.polygon(loop, RIBBON, LINE, 3)
        c.line(bezier((kx + side * 14, ky - 2), (kx + side * 34, ky - 22), (kx + side * 52, ky - 20), n=10),
               RIBBON_LIGHT, 3)
        c.line(bezier((kx + side * 14, ky + 4), (kx + side * 34, ky + 10), (kx + side * 50, ky + 12), n=10),
               RIBBON_LIGHT, 2)
        c.line([(kx + side * 63, ky - 22), (kx + side * 64, ky + 6)], PINK, 3)  # pink edge stitch
    for side, tail_x in ((-1, -22), (1, 26)):
        tail = [(kx - 4 * side, ky + 8), (kx + tail_x, ky + 54), (kx + tail_x + 8 * side, ky + 46),
                (kx + tail_x + 6 * side, ky + 62), (kx + 10 * side, ky + 8)]
        c.polygon(tail, RIBBON, LINE, 2.6)
    c.ellipse(kx, ky, 14, 14, RIBBON_LIGHT, LINE, 3)
    c.polygon(heart(kx, ky + 1, 6.5), PINK)


def draw_blush(c: Canvas, strength: float) -> None:
    if strength <= 0:
        return
    colour = (BLUSH[0], BLUSH[1], BLUSH[2], int(BLUSH[3] * strength))

    def paint(layer: Canvas) -> None:
        for x in (186, 326):
            layer.ellipse(x, 318, 26, 13, colour)
            for dx in (-10, 0, 10):  # hatch strokes, the classic anime blush
                layer.line([(x + dx - 3, 322), (x + dx + 3, 313)], rgb("#f06a85", int(140 * strength)), 1.6)

    c.overlay(paint)


# --- eyes ----------------------------------------------------------------------------------------
def eye_open(c: Canvas, at: Point, side: int, *, iris_scale: float = 1.0, tall: float = 1.0,
             sparkle: str = "dot", lid: tuple[float, float] = (0.0, 0.0),
             smile_lid: float = 0.0) -> None:
    """An open eye. `side`: -1 left, 1 right. `lid`: how far (in eye heights) the upper lid comes
    down at the (inner, outer) corner: the outer for sad, the inner for angry. `smile_lid`: a
    cheek pushing the lower lid up (happy)."""
    x, y = at
    rx, ry = 28.0, 34.0 * tall
    c.ellipse(x, y, rx, ry, WHITE)
    ir = iris_scale
    c.ellipse(x, y + 3, 23 * ir, 29 * ir * tall, IRIS)
    c.ellipse(x, y + 11 * tall, 18 * ir, 16 * ir * tall, rgb("#d48a52"))  # lighter lower iris
    c.ellipse(x, y + 1, 12 * ir, 16 * ir * tall, IRIS_DARK)
    if sparkle == "star":
        c.polygon(star(x - 4, y - 5, 14 * ir, 4, 0.35), WHITE)
        c.ellipse(x + 8, y + 12, 3.2, 3.2, WHITE)
    else:
        c.ellipse(x - 8, y - 10 * tall, 8.5 * ir, 9.5 * ir, WHITE)
        c.ellipse(x + 9, y + 12 * tall, 4 * ir, 4 * ir, WHITE)
    if smile_lid:
        c.polygon(arc(x, y + ry + 18 - smile_lid * 16, rx + 6, 16, 180, 360, n=20)
                  + [(x + rx + 8, y + ry + 8), (x - rx - 8, y + ry + 8)], SKIN)
        c.line(arc(x, y + ry + 18 - smile_lid * 16, rx - 2, 16, 200, 340, n=16), LINE, 2)
    # The upper lid: a curve hugging the top of the eye, lowered at a corner for sad/angry;
    # everything above it is skin, and the lashes are drawn along it.
    inner_drop, outer_drop = lid
    inner = (x - side * (rx + 3), y - 0.5 * ry + inner_drop * ry)
    outer = (x + side * (rx + 3), y - 0.5 * ry + outer_drop * ry)
    top = (x, y - 1.5 * ry + (inner_drop + outer_drop) * ry * 0.6)
    curve = bezier(inner, top, outer, n=20)
    c.polygon(curve + [(outer[0], y - ry - 30), (inner[0], y - ry - 30)], SKIN)
    c.line(curve + [(outer[0] + side * 7, outer[1] - 7)], LINE, 6)


def eye_shut(c: Canvas, at: Point, side: int, style: str) -> None:
    x, y = at
    if style == "happy":  # ^
        c.line(bezier((x - 22, y + 8), (x, y - 22), (x + 22, y + 8), n=16), LINE, 5)
    elif style == "squeeze":  # > <
        c.line([(x - side * 20, y - 14), (x + side * 16, y + 1), (x - side * 20, y + 14)], LINE, 5)
    elif style == "angry":  # a slanted dash
        c.line([(x - side * 22, y - 6), (x + side * 22, y + 4)], LINE, 5)
    elif style == "sad":  # drooping arc
        c.line(bezier((x - side * 22, y - 2), (x, y + 12), (x + side * 22, y + 8), n=16), LINE, 5)
    else:  # neutral: a relaxed closed lid with a lash flick
        c.line(bezier((x - 23, y + 2), (x, y + 16), (x + 23, y + 2), n=16), LINE, 5)
        c.line([(x + side * 21, y + 4), (x + side * 28, y - 2)], LINE, 4)


def draw_brows(c: Canvas, kind: str) -> None:
    for (x, y), side in ((EYE_L, -1), (EYE_R, 1)):
        base = y - 54
        inner, outer = (x - side * 22, base), (x + side * 20, base)
        mid = (x, base - 7)
        if kind == "sad":
            inner, outer, mid = (x - side * 22, base - 10), (x + side * 20, base + 4), (x, base - 6)
        elif kind == "angry":
            inner, outer, mid = (x - side * 22, base + 10), (x + side * 20, base - 8), (x, base - 2)
        elif kind == "surprised":
            inner, outer, mid = (x - side * 20, base - 12), (x + side * 20, base - 10), (x, base - 24)
        elif kind == "up":
            inner, outer, mid = (x - side * 22, base - 4), (x + side * 20, base - 2), (x, base - 14)
        c.line(bezier(inner, mid, outer, n=12), HAIR_DARK, 4.5)


# --- mouths --------------------------------------------------------------------------------------
def mouth_shape(c: Canvas, top: list[Point], bottom: list[Point], *, tongue: bool = True,
                teeth: bool = False) -> None:
    shape = top + bottom[::-1]
    c.polygon(shape, MOUTH)
    xs = [p[0] for p in shape]
    ys = [p[1] for p in shape]
    if teeth:
        w = (max(xs) - min(xs)) * 0.34
        c.polygon([(min(xs) + w * 0.6, min(ys) + 1), (max(xs) - w * 0.6, min(ys) + 1),
                   (max(xs) - w * 0.8, min(ys) + 7), (min(xs) + w * 0.8, min(ys) + 7)], WHITE)
    if tongue:
        cx = (max(xs) + min(xs)) / 2
        h = max(ys) - min(ys)
        c.overlay(lambda layer: layer.ellipse(cx, max(ys) - h * 0.18, (max(xs) - min(xs)) * 0.28,
                                              h * 0.3, TONGUE))
    c.polygon(shape, None, LINE, 3)


def draw_mouth(c: Canvas, emotion: str, is_open: bool) -> None:
    x, y = MOUTH_AT
    if emotion == "neutral":
        if is_open:
            mouth_shape(c, bezier((x - 15, y - 4), (x, y - 8), (x + 15, y - 4)),
                        bezier((x - 15, y - 4), (x, y + 22), (x + 15, y - 4)))
        else:
            c.line(bezier((x - 13, y - 2), (x, y + 7), (x + 13, y - 2)), LINE, 3.6)
    elif emotion == "happy":
        if is_open:
            mouth_shape(c, bezier((x - 24, y - 8), (x, y - 4), (x + 24, y - 8)),
                        bezier((x - 24, y - 8), (x, y + 34), (x + 24, y - 8)))
        else:
            c.line(bezier((x - 22, y - 8), (x, y + 14), (x + 22, y - 8)), LINE, 3.8)
    elif emotion == "sad":
        if is_open:
            mouth_shape(c, bezier((x - 15, y + 6), (x, y - 12), (x + 15, y + 6)),
                        bezier((x - 15, y + 6), (x, y + 18), (x + 15, y + 6)), tongue=False)
        else:
            c.line(bezier((x - 14, y + 6), (x, y - 6), (x + 14, y + 6)), LINE, 3.6)
    elif emotion == "angry":
        if is_open:
            mouth_shape(c, bezier((x - 22, y + 6), (x, y - 14), (x + 22, y + 6)),  # a shout
                        bezier((x - 22, y + 6), (x, y + 32), (x + 22, y + 6)), teeth=True)
        else:  # a pout: へ
            c.line([(x - 15, y + 5), (x - 4, y - 4), (x + 3, y + 1), (x + 15, y + 5)], LINE, 3.6)
    elif emotion == "surprised":
        if is_open:
            c.ellipse(x, y + 6, 15, 21, MOUTH, LINE, 3)
            c.overlay(lambda layer: layer.ellipse(x, y + 17, 9, 7, TONGUE))
        else:
            c.ellipse(x, y + 2, 7, 8, MOUTH, LINE, 3)
    elif emotion == "excited":
        if is_open:
            mouth_shape(c, bezier((x - 30, y - 10), (x, y - 6), (x + 30, y - 10)),
                        bezier((x - 30, y - 10), (x, y + 40), (x + 30, y - 10)))
        else:  # ω
            c.line(bezier((x - 22, y - 6), (x - 12, y + 12), (x, y - 2), n=12)
                   + bezier((x, y - 2), (x + 12, y + 12), (x + 22, y - 6), n=12)[1:], LINE, 3.8)


# --- symbols -------------------------------------------------------------------------------------
def sparkle(c: Canvas, x: float, y: float, r: float, colour: RGBA = GOLD) -> None:
    c.polygon(star(x, y, r, 4, 0.3), colour, LINE, 2)


def draw_symbols(c: Canvas, emotion: str) -> None:
    if emotion == "happy":
        sparkle(c, 100, 190, 20)
        sparkle(c, 420, 236, 13)
        c.polygon(heart(424, 306, 18), PINK, LINE, 2.6)
    elif emotion == "sad":
        for (x, y), side in ((EYE_L, -1), (EYE_R, 1)):  # tears welling at the outer corners
            tx, ty = x + side * 24, y + 34
            drop = bezier((tx, ty - 14), (tx + side * 15, ty + 10), (tx, ty + 17), n=10) \
                + bezier((tx, ty + 17), (tx - side * 15, ty + 10), (tx, ty - 14), n=10)[1:]
            c.polygon(drop, TEAR, LINE, 2)
    elif emotion == "angry":
        ax, ay = 420, 176  # the anger mark: four bent strokes
        for dx, dy in ((-1, -1), (1, -1), (-1, 1), (1, 1)):
            c.line([(ax + dx * 8, ay + dy * 28), (ax + dx * 9, ay + dy * 9), (ax + dx * 28, ay + dy * 8)],
                   ANGER, 7)
    elif emotion == "surprised":
        c.polygon([(410, 100), (434, 100), (426, 166), (418, 166)], ANGER, LINE, 2.6)  # !
        c.ellipse(422, 184, 9, 9, ANGER, LINE, 2.6)
        sx, sy = 104, 232  # a sweat drop at the temple
        c.polygon(bezier((sx, sy - 22), (sx + 20, sy + 14), (sx, sy + 20), n=10)
                  + bezier((sx, sy + 20), (sx - 20, sy + 14), (sx, sy - 22), n=10)[1:], TEAR, LINE, 2.6)
    elif emotion == "excited":
        sparkle(c, 96, 176, 24)
        sparkle(c, 424, 224, 19)
        sparkle(c, 130, 104, 12, PINK)
        sparkle(c, 436, 326, 12, PINK)
        c.polygon(heart(88, 304, 18), PINK, LINE, 2.6)


# --- emotion table -------------------------------------------------------------------------------
STYLE: dict[str, dict[str, object]] = {
    "neutral": {"brows": "calm", "blush": 0.55, "shut": "calm", "eye": {}},
    "happy": {"brows": "up", "blush": 1.0, "shut": "happy", "eye": {"smile_lid": 0.6}},
    "sad": {"brows": "sad", "blush": 0.3, "shut": "sad", "eye": {"lid": (-0.05, 0.4), "iris_scale": 0.95}},
    "angry": {"brows": "angry", "blush": 0.8, "shut": "angry",
              "eye": {"lid": (0.5, 0.05), "iris_scale": 0.8}},
    "surprised": {"brows": "surprised", "blush": 0.35, "shut": "calm",
                  "eye": {"tall": 1.18, "iris_scale": 0.66}},
    "excited": {"brows": "up", "blush": 1.0, "shut": "squeeze", "eye": {"sparkle": "star"}},
}


def draw(emotion: str, slot: str) -> Image.Image:
    style = STYLE[emotion]
    c = Canvas()
    draw_back_hair(c)
    draw_body(c)
    draw_face(c)
    draw_blush(c, float(style["blush"]))  # type: ignore[arg-type]
    for at, side in ((EYE_L, -1), (EYE_R, 1)):
        if slot.endswith("_blink"):
            eye_shut(c, at, side, str(style["shut"]))
        else:
            eye_open(c, at, side, **style["eye"])  # type: ignore[arg-type]
    c.line([(256, 306), (254, 312)], rgb("#e0a58a"), 2.4)  # a tiny nose
    draw_mouth(c, emotion, slot.startswith("open"))
    draw_bangs(c)
    draw_brows(c, str(style["brows"]))
    draw_ribbon(c)
    draw_symbols(c, emotion)
    return c.result()


def small_png(image: Image.Image) -> Image.Image:
    """A 128-colour palette with alpha: flat drawing colours survive, files stay small."""
    return image.quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def sheet(images: dict[tuple[str, str], Image.Image]) -> Image.Image:
    cell, pad, label = 200, 8, 18
    out = Image.new("RGBA", (len(SLOTS) * (cell + pad) + pad,
                             len(EMOTIONS) * (cell + pad + label) + pad), rgb("#f3ece6"))
    d = ImageDraw.Draw(out)
    for row, emotion in enumerate(EMOTIONS):
        for col, slot in enumerate(SLOTS):
            x = pad + col * (cell + pad)
            y = pad + row * (cell + pad + label)
            d.rectangle((x, y, x + cell, y + cell + label), fill=rgb("#ffffff"))
            tile = images[emotion, slot].convert("RGBA").resize((cell, cell), Image.Resampling.LANCZOS)
            out.alpha_composite(tile, (x, y))
            d.text((x + 6, y + cell + 3), f"{emotion}/{slot}", fill=LINE)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="the set's folder (default: here)")
    parser.add_argument("--sheet", type=Path, help="also write a preview sheet of all 24 images")
    args = parser.parse_args()
    images: dict[tuple[str, str], Image.Image] = {}
    for emotion in EMOTIONS:
        for slot in SLOTS:
            image = small_png(draw(emotion, slot))
            path = args.out / emotion / f"{slot}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, optimize=True)
            images[emotion, slot] = image
            print(f"{path}: {path.stat().st_size // 1024} KB")
    if args.sheet:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        sheet(images).quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(args.sheet, optimize=True)
        print(f"{args.sheet}: {args.sheet.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
