"""Procedurally drawn jewelry product photos: the course's embedded, licence-clean default dataset.

Every image is drawn with PIL and numpy alone (no downloads, no third-party pictures). Metal, stones, pose,
scale, background, shadow and lighting vary inside every class, so that no single cue (a colour, a
background) gives the class away; only the shape of the object does. About 30% of the photos show the piece
worn, drawn over fingers, a wrist, a neck or the side of a face in a range of skin tones: shops photograph
jewelry on people, and a model trained only on pieces lying on a table takes skin for a class (RESULTS.md).

`jewel synth` (`jobs.synth`) writes a set to a folder; LP-FT mixes a few drawn images into training.

Taught in: 03_evaluation.ipynb (`draw_item` and the scenes of the composites) and 05_beyond_labels.ipynb
(`make_synth` near misses); every notebook's setup cell draws the default dataset with `make_synth`.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from .errors import JewelError
from .images import read_items
from .progress import progress as progress_steps
from .settings import NEAR_MISSES

CLASSES = ("bracelet", "earring", "necklace", "ring", "watch")
MARKER = ".jewel-synth.json"

Colour = tuple[int, int, int]
Point = tuple[float, float]

METALS: dict[str, Colour] = {
    "yellow gold": (214, 172, 72),
    "white gold": (214, 214, 206),
    "rose gold": (212, 146, 126),
    "silver": (176, 181, 188),
}
GEMS: dict[str, Colour] = {
    "diamond": (228, 236, 248),
    "ruby": (188, 22, 54),
    "emerald": (22, 138, 82),
    "sapphire": (32, 66, 182),
    "amethyst": (138, 70, 178),
    "topaz": (232, 162, 52),
    "aquamarine": (118, 196, 218),
    "onyx": (28, 28, 32),
}
CUTS = ("round", "square", "emerald", "marquise", "pear", "oval")
PEARLS: tuple[Colour, ...] = ((238, 232, 220), (242, 226, 214), (210, 210, 218), (60, 58, 66))
LEATHERS: tuple[Colour, ...] = ((112, 66, 36), (32, 29, 29), (168, 118, 72), (36, 46, 82), (128, 32, 42),
                                (230, 226, 218), (226, 110, 40))
SKINS: tuple[Colour, ...] = ((243, 204, 178), (229, 180, 146), (208, 150, 114), (168, 112, 80), (118, 78, 54),
                            (76, 50, 38))
HAIRS: tuple[Colour, ...] = ((28, 22, 20), (70, 44, 28), (132, 96, 60), (196, 164, 112))
P_WORN = 0.3  # share of drawn photos where the piece is worn (on a finger, wrist, neck or beside a face)
DIALS: tuple[Colour, ...] = ((244, 242, 236), (24, 24, 28), (26, 46, 96), (214, 192, 150), (28, 80, 56),
                             (190, 196, 204))


def _tone(c: Colour, f: float) -> tuple[int, int, int, int]:
    """`c` darkened (f < 1, towards black) or lightened (f > 1, towards white), as opaque RGBA."""
    if f <= 1:
        rgb = [v * f for v in c]
    else:
        rgb = [v + (255 - v) * min(f - 1, 1) for v in c]
    return tuple(int(round(min(255, max(0, v)))) for v in rgb) + (255,)


def _jitter(c: Colour, rng: np.random.Generator, amount: float = 14) -> Colour:
    """`c` with each channel moved by up to `amount`."""
    return tuple(int(np.clip(v + rng.uniform(-amount, amount), 0, 255)) for v in c)


def _w(v: float) -> int:
    """A line width in pixels, at least 1."""
    return max(1, int(round(v)))


def _ellipse_pts(x: float, y: float, rx: float, ry: float, ang: float = 0.0, n: int = 20) -> list[Point]:
    """Outline of an ellipse centred at (x, y), turned by `ang` radians."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    ex, ey = rx * np.cos(t), ry * np.sin(t)
    ca, sa = math.cos(ang), math.sin(ang)
    return list(zip(x + ex * ca - ey * sa, y + ex * sa + ey * ca))


def _cut_pts(cut: str, x: float, y: float, r: float, ang: float = 0.0) -> list[Point]:
    """Outline of a stone of the given cut, radius `r`, turned by `ang` radians."""
    t = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    if cut == "square":
        t = np.array([0.25, 0.75, 1.25, 1.75]) * math.pi
        ex, ey = r * np.cos(t), r * np.sin(t)
    elif cut == "emerald":
        t = np.array([0.1, 0.4, 0.6, 0.9, 1.1, 1.4, 1.6, 1.9]) * math.pi
        ex, ey = r * np.sign(np.cos(t)) * np.minimum(1, 1.3 * abs(np.cos(t))), 0.75 * r * np.sin(t)
    elif cut == "marquise":
        s = np.sin(t)
        ex, ey = r * np.cos(t), 0.55 * r * np.sign(s) * np.abs(s) ** 1.6
    elif cut == "pear":
        ex, ey = 0.75 * r * np.sin(t) * np.abs(np.sin(t / 2)), -r * np.cos(t)
    elif cut == "oval":
        ex, ey = 0.72 * r * np.cos(t), r * np.sin(t)
    else:
        ex, ey = r * np.cos(t), r * np.sin(t)
    ca, sa = math.cos(ang), math.sin(ang)
    return list(zip(x + ex * ca - ey * sa, y + ex * sa + ey * ca))


def _gem(d: ImageDraw.ImageDraw, x: float, y: float, r: float, colour: Colour, cut: str,
         metal: Colour | None, ang: float = 0.0) -> None:
    """A faceted stone with a dark rim, lighter table and a glint; held by four prongs when `metal` is given."""
    if metal is not None:
        for k in range(4):
            a = ang + math.pi / 4 + k * math.pi / 2
            px, py, pr = x + 0.92 * r * math.cos(a), y + 0.92 * r * math.sin(a), 0.22 * r
            d.ellipse((px - pr, py - pr, px + pr, py + pr), fill=_tone(metal, 0.9))
    outer, table = _cut_pts(cut, x, y, 0.82 * r, ang), _cut_pts(cut, x, y, 0.45 * r, ang)
    d.polygon(_cut_pts(cut, x, y, r, ang), fill=_tone(colour, 0.45))
    d.polygon(outer, fill=_tone(colour, 1.0))
    step = max(1, len(outer) // 8)
    for p, q in zip(outer[::step], table[::step]):
        d.line((p, q), fill=_tone(colour, 0.7), width=_w(r * 0.06))
    d.polygon(table, fill=_tone(colour, 1.3))
    g = 0.16 * r
    d.ellipse((x - 0.38 * r - g, y - 0.38 * r - g, x - 0.38 * r + g, y - 0.38 * r + g), fill=(255, 255, 255, 255))


def _bead(d: ImageDraw.ImageDraw, x: float, y: float, r: float, colour: Colour) -> None:
    """A round bead or pearl lit from the upper left."""
    d.ellipse((x - r, y - r, x + r, y + r), fill=_tone(colour, 0.62))
    d.ellipse((x - 0.85 * r, y - 0.85 * r, x + 0.7 * r, y + 0.7 * r), fill=_tone(colour, 1.0))
    h = 0.3 * r
    d.ellipse((x - 0.4 * r - h, y - 0.4 * r - h, x - 0.4 * r + h, y - 0.4 * r + h), fill=_tone(colour, 1.6))


def _along(xs: np.ndarray, ys: np.ndarray, step: float) -> list[tuple[float, float, float]]:
    """Points every `step` pixels along the polyline (xs, ys), each with its tangent angle."""
    seg = np.hypot(np.diff(xs), np.diff(ys))
    s = np.concatenate([[0], np.cumsum(seg)])
    at = np.arange(0, s[-1], max(step, 1.0))
    px, py = np.interp(at, s, xs), np.interp(at, s, ys)
    ang = np.arctan2(np.interp(at + 0.5, s, ys) - np.interp(at - 0.5, s, ys),
                     np.interp(at + 0.5, s, xs) - np.interp(at - 0.5, s, xs))
    return list(zip(px, py, ang))


def _strand(d: ImageDraw.ImageDraw, pts: list[tuple[float, float, float]], style: str, r: float,
            metal: Colour, bead: Colour, shade: float = 1.0) -> None:
    """Links, balls or beads of radius `r` at `pts`: a chain drawn as a dotted or linked curve."""
    for k, (x, y, a) in enumerate(pts):
        if style == "cable":
            flat = 0.38 if k % 2 else 0.62
            outline = _ellipse_pts(x, y, 1.25 * r, flat * r, a, 14)
            d.line(outline + outline[:1], fill=_tone(metal, 0.7 * shade), width=_w(0.38 * r))
            d.line(outline[8:12], fill=_tone(metal, 1.35 * shade), width=_w(0.2 * r))
        elif style == "box":
            d.polygon(_cut_pts("square", x, y, 1.1 * r, a), fill=_tone(metal, 0.75 * shade))
            d.polygon(_cut_pts("square", x - 0.15 * r, y - 0.15 * r, 0.55 * r, a), fill=_tone(metal, 1.3 * shade))
        elif style == "balls":
            _bead(d, x, y, 0.8 * r, _tone(metal, shade)[:3])
        else:
            _bead(d, x, y, r, _tone(bead, shade)[:3])


def _band(d: ImageDraw.ImageDraw, x: float, y: float, rx: float, aspect: float, t: float, h: float,
          metal: Colour) -> tuple[float, float]:
    """A metal band (short cylinder) seen from above at an angle; returns the top point of its rim."""
    ry, ix, iy = rx * aspect, rx - t, (rx - t) * aspect
    top, bot = y - h / 2, y + h / 2
    d.ellipse((x - rx, bot - ry, x + rx, bot + ry), fill=_tone(metal, 0.62))
    d.rectangle((x - rx, top, x + rx, bot), fill=_tone(metal, 0.62))
    d.arc((x - rx + t * 0.3, bot - ry, x + rx - t * 0.3, bot + ry - t * 0.15), 40, 140,
          fill=_tone(metal, 1.25), width=_w(max(h, t) * 0.25))
    d.ellipse((x - rx, top - ry, x + rx, top + ry), fill=_tone(metal, 1.0))
    d.ellipse((x - ix, top - iy, x + ix, top + iy), fill=_tone(metal, 0.45))
    hole = math.sqrt(max(0.0, 1 - (h / (2 * iy + 1e-6)) ** 2))
    if iy * 2 > h:
        d.ellipse((x - ix * hole, y - iy + h / 2, x + ix * hole, y + iy - h / 2), fill=(0, 0, 0, 0))
    d.arc((x - rx + t / 2, top - ry + t * aspect / 2, x + rx - t / 2, top + ry - t * aspect / 2), 120, 215,
          fill=_tone(metal, 1.5), width=_w(t * 0.3))
    return x, top - ry + t * aspect / 2


def _ring(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float, metal: Colour) -> None:
    """A finger ring: a band in perspective, as large in the frame as a bracelet (a catalogue fills the frame with
    either), plain in 40% of rings (wedding bands), else with one or more stones on top.

    What tells it from a bangle is the band's thickness against its diameter, not a gem or its size in the frame."""
    rx = ext * rng.uniform(0.36, 0.48)
    aspect = rng.uniform(0.3, 0.85)
    style = rng.choice(["plain", "plain", "solitaire", "trilogy", "halo", "eternity"], p=[0.2, 0.2, 0.2, 0.15, 0.1, 0.15])
    wide = style == "plain"
    t, h = rx * rng.uniform(0.1, 0.25 if wide else 0.22), rx * rng.uniform(0.12, 0.6 if wide else 0.4)
    gx, gy = _band(d, x, y + 0.1 * ext, rx, aspect, t, h, metal)
    gem, cut = GEMS[str(rng.choice(list(GEMS)))], str(rng.choice(CUTS))
    r = rx * rng.uniform(0.22, 0.4)
    if style == "solitaire":
        d.polygon([(gx - 0.35 * r, gy), (gx + 0.35 * r, gy), (gx, gy - 0.9 * r)], fill=_tone(metal, 0.8))
        _gem(d, gx, gy - 0.9 * r, r, gem, cut, metal)
    elif style == "trilogy":
        side = GEMS[str(rng.choice(list(GEMS)))]
        for dx in (-1, 1):
            _gem(d, gx + dx * 1.35 * r, gy - 0.35 * r, 0.65 * r, side, "round", metal)
        _gem(d, gx, gy - 0.6 * r, r, gem, cut, metal)
    elif style == "halo":
        for k in range(12):
            a = 2 * math.pi * k / 12
            _bead(d, gx + 1.15 * r * math.cos(a), gy - 0.8 * r + 1.15 * r * math.sin(a), 0.25 * r, GEMS["diamond"])
        _gem(d, gx, gy - 0.8 * r, 0.9 * r, gem, cut, None)
    elif style == "eternity":
        ry = rx * aspect
        top = y + 0.1 * ext - h / 2
        for a in np.linspace(0.15 * math.pi, 0.85 * math.pi, 9):
            _gem(d, x + (rx - t / 2) * math.cos(a), top + (ry - t * aspect / 2) * math.sin(a), t * 0.45, gem,
                 "round", None)


def _earring(d: ImageDraw.ImageDraw, x: float, y: float, p: dict, mirror: int) -> None:
    """One earring of a pair, drawn from the style parameters `p`; `mirror` is +1 or -1."""
    s, metal = p["size"], p["metal"]
    if p["style"] == "stud":
        if p["flower"]:
            for k in range(6):
                a = p["ang"] + 2 * math.pi * k / 6
                _gem(d, x + 0.55 * s * math.cos(a), y + 0.55 * s * math.sin(a), 0.3 * s, p["gem2"], "marquise", None,
                     a)
            _gem(d, x, y, 0.35 * s, p["gem"], "round", metal)
        else:
            _gem(d, x, y, 0.6 * s, p["gem"], p["cut"], metal, p["ang"] * mirror)
    elif p["style"] == "hoop":
        rx, ry = 0.55 * s, 0.55 * s * p["aspect"]
        box = (x - rx, y - ry, x + rx, y + ry)
        d.ellipse(box, outline=_tone(metal, 0.65), width=_w(p["thick"] * s))
        inset = p["thick"] * s * 0.3
        d.arc((x - rx + inset, y - ry + inset, x + rx - inset, y + ry - inset), 110 if mirror > 0 else -70,
              200 if mirror > 0 else 20, fill=_tone(metal, 1.5), width=_w(p["thick"] * s * 0.35))
        if p["stones"]:
            for a in np.linspace(0.2 * math.pi, 0.8 * math.pi, 5):
                _bead(d, x + (rx - inset) * math.cos(a), y + (ry - inset) * math.sin(a), p["thick"] * s * 0.4,
                      p["gem"])
    else:
        top = y - 0.8 * s
        d.arc((x - 0.25 * s, top - 0.3 * s, x + 0.25 * s, top + 0.2 * s), 180, 360 + 60,
              fill=_tone(metal, 0.85), width=_w(0.06 * s))
        _bead(d, x, top + 0.25 * s, 0.14 * s, _tone(metal, 1.0)[:3])
        xs, ys = np.array([x, x]), np.array([top + 0.35 * s, y + 0.35 * s])
        _strand(d, _along(xs, ys, 0.16 * s), "cable", 0.07 * s, metal, metal)
        if p["pearl"]:
            _bead(d, x, y + 0.65 * s, 0.3 * s, p["pearl_colour"])
        else:
            _gem(d, x, y + 0.75 * s, 0.4 * s, p["gem"], "pear", metal)


def _earrings(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float,
              metal: Colour) -> None:
    """A pair of matching earrings (studs, hoops or drops) side by side."""
    style = str(rng.choice(["stud", "hoop", "drop"]))
    p = {"style": style, "metal": metal, "gem": GEMS[str(rng.choice(list(GEMS)))],
         "gem2": GEMS[str(rng.choice(list(GEMS)))], "cut": str(rng.choice(CUTS)), "ang": rng.uniform(0, math.pi),
         "flower": rng.random() < 0.35, "aspect": rng.uniform(0.35, 1.25), "thick": rng.uniform(0.07, 0.18),
         "stones": rng.random() < 0.4, "pearl": rng.random() < 0.4, "pearl_colour": PEARLS[rng.integers(len(PEARLS))],
         "size": ext * {"stud": rng.uniform(0.2, 0.3), "hoop": rng.uniform(0.35, 0.45),
                        "drop": rng.uniform(0.3, 0.4)}[style]}
    gap = max(p["size"] * 0.65, ext * rng.uniform(0.2, 0.3))
    dy = ext * rng.uniform(-0.06, 0.06)
    _earring(d, x - gap, y - dy, p, 1)
    _earring(d, x + gap, y + dy, p, -1)


def _necklace(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float,
              metal: Colour) -> None:
    """A chain hanging in a U or V from the top of the frame, often with a pendant at its lowest point."""
    umax, half = rng.uniform(0.9, 1.5), ext * rng.uniform(0.38, 0.5)
    depth, bottom = ext * rng.uniform(0.6, 0.95), y + ext * rng.uniform(0.15, 0.35)
    u = np.linspace(-umax, umax, 200)
    xs = x + half * np.sin(u) / math.sin(umax)
    ys = bottom - depth * (1 - np.cos(u)) / (1 - math.cos(umax))
    style = str(rng.choice(["cable", "cable", "box", "balls", "beads"]))
    r = ext * (rng.uniform(0.025, 0.045) if style == "beads" else rng.uniform(0.012, 0.024))
    bead = PEARLS[rng.integers(len(PEARLS))] if rng.random() < 0.6 else GEMS[str(rng.choice(list(GEMS)))]
    _strand(d, _along(xs, ys, r * (2.05 if style in ("beads", "balls") else 1.9)), style, r, metal, bead)
    if rng.random() < 0.75:
        kind, pr = str(rng.choice(["gem", "disc", "heart", "drop"])), ext * rng.uniform(0.06, 0.12)
        bx, by = x, bottom + 0.4 * pr
        d.ellipse((bx - 0.35 * pr, by - 0.5 * pr, bx + 0.35 * pr, by + 0.5 * pr), outline=_tone(metal, 0.7),
                  width=_w(0.15 * pr))
        gem, cy = GEMS[str(rng.choice(list(GEMS)))], by + 1.4 * pr
        if kind == "gem":
            _gem(d, bx, cy, pr, gem, str(rng.choice(CUTS)), metal)
        elif kind == "disc":
            d.ellipse((bx - pr, cy - pr, bx + pr, cy + pr), fill=_tone(metal, 0.7))
            d.ellipse((bx - 0.88 * pr, cy - 0.88 * pr, bx + 0.8 * pr, cy + 0.8 * pr), fill=_tone(metal, 1.05))
            d.arc((bx - 0.75 * pr, cy - 0.75 * pr, bx + 0.75 * pr, cy + 0.75 * pr), 150, 240,
                  fill=_tone(metal, 1.6), width=_w(0.12 * pr))
            _gem(d, bx, cy, 0.35 * pr, gem, "round", None)
        elif kind == "heart":
            t = np.linspace(0, 2 * math.pi, 40)
            hx, hy = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
            d.polygon(list(zip(bx + hx * pr / 16, cy + hy * pr / 16)), fill=_tone(metal, 0.75))
            d.polygon(list(zip(bx + hx * pr / 20 - 0.1 * pr, cy + hy * pr / 20 - 0.1 * pr)), fill=_tone(metal, 1.1))
        else:
            _gem(d, bx, cy + 0.3 * pr, 1.2 * pr, gem, "pear", metal)


def _bracelet(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float,
              metal: Colour) -> None:
    """A closed loop seen in perspective: a chain, a string of beads, a tennis line of stones or a bangle.

    Bangles (a third of bracelets) are thin against their diameter, and 70% of them carry a line of stones, so a
    plain band is not what makes a bracelet (real rings are often plain bands)."""
    rx = ext * rng.uniform(0.36, 0.48)
    aspect = rng.uniform(0.3, 0.95)
    style = str(rng.choice(["cable", "box", "beads", "tennis", "bangle"], p=[0.2, 0.15, 0.15, 0.15, 0.35]))
    if style == "bangle":
        t, h = rx * rng.uniform(0.035, 0.09), rx * rng.uniform(0.04, 0.3)
        _band(d, x, y, rx, aspect, t, h, metal)
        if rng.random() < 0.7:
            gem, ry = GEMS[str(rng.choice(list(GEMS)))], rx * aspect
            for a in np.linspace(0.25 * math.pi, 0.75 * math.pi, 7):
                _bead(d, x + (rx - t / 2) * math.cos(a), y - h / 2 + (ry - t * aspect / 2) * math.sin(a),
                      max(t * 0.55, 1.5), gem)
        return
    t = np.linspace(-math.pi, math.pi, 240)
    xs, ys = x + rx * np.cos(t), y + rx * aspect * np.sin(t)
    r = ext * (rng.uniform(0.035, 0.055) if style in ("beads", "tennis") else rng.uniform(0.022, 0.04))
    pts = _along(xs, ys, r * (2.05 if style in ("beads", "tennis") else 1.9))
    back = [p for p in pts if p[1] < y]
    front = [p for p in pts if p[1] >= y]
    if style == "tennis":
        gem = GEMS[str(rng.choice(list(GEMS)))]
        for part, shade in ((back, 0.7), (front, 1.0)):
            for px, py, a in part:
                d.ellipse((px - 1.05 * r, py - 1.05 * r, px + 1.05 * r, py + 1.05 * r), fill=_tone(metal, 0.8 * shade))
                _gem(d, px, py, 0.8 * r, _tone(gem, shade)[:3], "round", None, a)
        return
    bead = PEARLS[rng.integers(len(PEARLS))] if rng.random() < 0.4 else GEMS[str(rng.choice(list(GEMS)))]
    _strand(d, back, style, r, metal, bead, 0.75)
    _strand(d, front, style, r, metal, bead)


def _watch(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float, metal: Colour) -> None:
    """A wristwatch from the front: two straps, lugs, a round or square case, a dial with marks and hands."""
    rc = ext * rng.uniform(0.2, 0.28)
    sw, length = rc * rng.uniform(1.0, 1.35), ext * rng.uniform(0.4, 0.6)
    kind = str(rng.choice(["leather", "leather", "metal", "rubber"]))
    strap = metal if kind == "metal" else _jitter(LEATHERS[rng.integers(len(LEATHERS))], rng)
    for sgn in (-1, 1):
        y0, y1 = y + sgn * rc * 0.8, y + sgn * (rc + length)
        poly = [(x - sw / 2, y0), (x + sw / 2, y0), (x + sw * 0.42, y1), (x - sw * 0.42, y1)]
        d.polygon(poly, fill=_tone(strap, 0.95), outline=_tone(strap, 0.6))
        d.line([(x - sw * 0.3, y0), (x - sw * 0.25, y1)], fill=_tone(strap, 1.15), width=_w(sw * 0.06))
        if kind == "metal":
            for yy in np.arange(y0, y1, sgn * sw * 0.28):
                d.line([(x - sw / 2, yy), (x + sw / 2, yy)], fill=_tone(strap, 0.6), width=_w(sw * 0.04))
        elif kind == "leather":
            for xx in (x - sw * 0.38, x + sw * 0.38):
                for yy in np.arange(y0, y1, sgn * sw * 0.12)[::2]:
                    d.line([(xx, yy), (xx, yy + sgn * sw * 0.07)], fill=_tone(strap, 1.5), width=_w(sw * 0.025))
        else:
            d.line([(x, y0), (x, y1)], fill=_tone(strap, 0.7), width=_w(sw * 0.08))
        if sgn > 0 and kind != "metal":
            for k in range(1, 5):
                hy, hr = y0 + rc * 0.6 * k + rc * 0.4, sw * 0.05
                d.ellipse((x - hr, hy - hr, x + hr, hy + hr), fill=_tone(strap, 0.35))
        for lx in (x - sw * 0.45, x + sw * 0.45):
            ly = sorted((y0 - sgn * rc * 0.2, y0 + sgn * rc * 0.25))
            d.rectangle((lx - sw * 0.07, ly[0], lx + sw * 0.07, ly[1]), fill=_tone(metal, 0.8))
    d.rounded_rectangle((x + rc * 0.9, y - rc * 0.14, x + rc * 1.18, y + rc * 0.14), radius=rc * 0.05,
                        fill=_tone(metal, 0.85))
    dial = DIALS[rng.integers(len(DIALS))]
    ink = (20, 20, 24) if sum(dial) > 450 else (236, 236, 230)
    square = rng.random() < 0.35
    for f, colour in ((1.0, _tone(metal, 0.6)), (0.93, _tone(metal, 1.05)), (0.8, _tone(dial, 1.0))):
        box = (x - rc * f, y - rc * f, x + rc * f, y + rc * f)
        if square:
            d.rounded_rectangle(box, radius=rc * f * 0.25, fill=colour)
        else:
            d.ellipse(box, fill=colour)
    d.arc((x - rc * 0.87, y - rc * 0.87, x + rc * 0.87, y + rc * 0.87), 150, 240, fill=_tone(metal, 1.6),
          width=_w(rc * 0.05))
    rd = rc * 0.8
    for k in range(12):
        a, major = 2 * math.pi * k / 12, k % 3 == 0
        r0 = rd * (0.68 if major else 0.78)
        d.line([(x + r0 * math.sin(a), y - r0 * math.cos(a)), (x + rd * 0.9 * math.sin(a), y - rd * 0.9 * math.cos(a))],
               fill=ink + (255,), width=_w(rd * (0.07 if major else 0.035)))
    for length_f, width_f in ((0.5, 0.07), (0.78, 0.045)):
        a = rng.uniform(0, 2 * math.pi)
        d.line([(x, y), (x + rd * length_f * math.sin(a), y - rd * length_f * math.cos(a))], fill=ink + (255,),
               width=_w(rd * width_f))
    if rng.random() < 0.6:
        a = rng.uniform(0, 2 * math.pi)
        d.line([(x - rd * 0.15 * math.sin(a), y + rd * 0.15 * math.cos(a)),
                (x + rd * 0.85 * math.sin(a), y - rd * 0.85 * math.cos(a))], fill=(200, 30, 30, 255),
               width=_w(rd * 0.02))
    cap = rd * 0.06
    d.ellipse((x - cap, y - cap, x + cap, y + cap), fill=_tone(metal, 0.9))


def _limb(d: ImageDraw.ImageDraw, a: Point, b: Point, width: float, skin: Colour) -> None:
    """A rounded, shaded cylinder of skin from `a` to `b` (a finger, wrist or neck)."""
    for f in np.linspace(1.0, 0.15, 8):
        w, shade = width * f, 1.08 - 0.28 * f ** 2
        d.line([a, b], fill=_tone(skin, shade), width=_w(w))
        for cx, cy in (a, b):
            d.ellipse((cx - w / 2, cy - w / 2, cx + w / 2, cy + w / 2), fill=_tone(skin, shade))


def _body(d: ImageDraw.ImageDraw, rng: np.random.Generator, label: str, x: float, y: float, ext: float) -> None:
    """The body part a `label` is worn on, drawn under it: fingers, a wrist, a neck and chest, or a face's side."""
    skin = _jitter(SKINS[rng.integers(len(SKINS))], rng, 10)
    s = 4 * ext  # reaches past the frame
    if label == "ring":
        w = ext * rng.uniform(0.4, 0.52)
        for k in range(int(rng.integers(1, 4))):  # the ring's finger first, then neighbours
            dx = (-1) ** k * ((k + 1) // 2) * w * 1.08
            _limb(d, (x + dx, y + 0.1 * ext - rng.uniform(0.4, 0.9) * ext), (x + dx, y + s), w, skin)
    elif label in ("bracelet", "watch"):
        w = ext * (rng.uniform(0.6, 0.8) if label == "bracelet" else rng.uniform(0.55, 0.75))
        a, b = ((x, y - s), (x, y + s)) if label == "bracelet" else ((x - s, y), (x + s, y))
        _limb(d, a, b, w, skin)
    elif label == "necklace":
        _limb(d, (x, y - s), (x, y - 0.3 * ext), ext * rng.uniform(0.45, 0.6), skin)
        d.ellipse((x - 1.3 * ext, y - 0.55 * ext, x + 1.3 * ext, y + 2.5 * ext), fill=_tone(skin, 0.95))
    else:  # earrings beside a face's side: cheek and neck, hair behind
        d.rectangle((x - s, y - s, x + s, y + s), fill=_tone(HAIRS[rng.integers(len(HAIRS))], rng.uniform(0.7, 1.1)))
        d.ellipse((x - 1.1 * ext, y - 1.6 * ext, x + 1.1 * ext, y + 0.5 * ext), fill=_tone(skin, 1.0))
        _limb(d, (x, y), (x, y + s), ext * 0.9, skin)


DRAWERS: dict[str, Callable[..., None]] = {
    "bracelet": _bracelet, "earring": _earrings, "necklace": _necklace, "ring": _ring, "watch": _watch}


# ---- near misses: small objects that are none of the five classes (for measuring unknown photos) ----------

def _key(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float, metal: Colour) -> None:
    """A door key: a round or square bow with a hole, a shaft, and a toothed bit."""
    r, length, w = ext * rng.uniform(0.14, 0.2), ext * rng.uniform(0.5, 0.7), ext * rng.uniform(0.05, 0.08)
    bx = x - length / 2
    box = (bx - r, y - r, bx + r, y + r)
    if rng.random() < 0.5:
        d.ellipse(box, fill=_tone(metal, 0.9), outline=_tone(metal, 0.6), width=_w(r * 0.08))
    else:
        d.rounded_rectangle(box, radius=r * 0.3, fill=_tone(metal, 0.9), outline=_tone(metal, 0.6), width=_w(r * 0.08))
    hole = r * rng.uniform(0.25, 0.4)
    d.ellipse((bx - hole, y - hole, bx + hole, y + hole), fill=(0, 0, 0, 0))
    d.rectangle((bx + r * 0.8, y - w / 2, bx + r + length, y + w / 2), fill=_tone(metal, 1.0), outline=_tone(metal, 0.6))
    tip = bx + r + length
    teeth = rng.uniform(0.3, 1.0, int(rng.integers(3, 7)))
    tw = length * 0.45 / len(teeth)
    for k, depth in enumerate(teeth):
        x0 = tip - (k + 1) * tw
        d.rectangle((x0, y + w / 2, x0 + tw * 0.9, y + w / 2 + depth * 2.2 * w), fill=_tone(metal, 0.95))


def _coin(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float, metal: Colour) -> None:
    """One to three coins: a metal disc with a raised rim and an embossed pattern."""
    for _ in range(int(rng.integers(1, 4))):
        r = ext * rng.uniform(0.14, 0.28)
        cx, cy = x + rng.uniform(-0.25, 0.25) * ext, y + rng.uniform(-0.25, 0.25) * ext
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_tone(metal, 0.75))
        d.ellipse((cx - 0.9 * r, cy - 0.9 * r, cx + 0.9 * r, cy + 0.9 * r), fill=_tone(metal, 1.0))
        for k in range(int(rng.integers(3, 8))):
            a = rng.uniform(0, 2 * math.pi)
            d.line([(cx + 0.2 * r * math.cos(a), cy + 0.2 * r * math.sin(a)),
                    (cx + 0.6 * r * math.cos(a + 1), cy + 0.6 * r * math.sin(a + 1))], fill=_tone(metal, 0.7),
                   width=_w(0.06 * r))
        d.arc((cx - 0.85 * r, cy - 0.85 * r, cx + 0.85 * r, cy + 0.85 * r), 140, 230, fill=_tone(metal, 1.5),
              width=_w(0.06 * r))


def _hair_clip(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float,
               metal: Colour) -> None:
    """A hair clip: a snap clip (a long teardrop frame), a bobby pin, or a plastic claw clip."""
    kind, length = str(rng.choice(["snap", "pin", "claw"])), ext * rng.uniform(0.6, 0.85)
    colour = metal if rng.random() < 0.5 else _jitter(LEATHERS[rng.integers(len(LEATHERS))], rng, 30)
    if kind == "snap":
        h = ext * rng.uniform(0.1, 0.16)
        pts = [(x - length / 2 + length * t, y + h * math.sin(math.pi * t) ** 0.7 * (1 - 0.5 * t)) for t in
               np.linspace(0, 1, 30)]
        pts += [(px, 2 * y - py) for px, py in reversed(pts)]
        d.polygon(pts, outline=_tone(colour, 0.7), width=_w(h * 0.35))
    elif kind == "pin":
        w = _w(ext * 0.02)
        d.line([(x - length / 2, y), (x + length / 2, y)], fill=_tone(colour, 0.6), width=w)
        zig = [(x - length / 2 + length * t, y + ext * 0.05 + ext * 0.015 * math.sin(t * 30)) for t in
               np.linspace(0, 1, 40)]
        d.line(zig, fill=_tone(colour, 0.6), width=w)
        d.arc((x + length / 2 - ext * 0.03, y - ext * 0.005, x + length / 2 + ext * 0.03, y + ext * 0.055), 270, 90,
              fill=_tone(colour, 0.6), width=w)
    else:
        w = length * 0.5
        d.rounded_rectangle((x - w / 2, y - ext * 0.08, x + w / 2, y + ext * 0.02), radius=ext * 0.03,
                            fill=_tone(colour, 0.9))
        for k in range(int(rng.integers(4, 8))):
            tx = x - w / 2 + (k + 0.5) * w / 7
            d.polygon([(tx - w * 0.05, y), (tx + w * 0.05, y), (tx, y + ext * rng.uniform(0.15, 0.25))],
                      fill=_tone(colour, 0.8))


def _button(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float, metal: Colour) -> None:
    """Sewing buttons: plastic or wooden discs with two or four holes."""
    colour = _jitter(tuple(int(v) for v in rng.integers(30, 240, 3)), rng)
    for _ in range(int(rng.integers(1, 5))):
        r = ext * rng.uniform(0.08, 0.18)
        cx, cy = x + rng.uniform(-0.3, 0.3) * ext, y + rng.uniform(-0.3, 0.3) * ext
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_tone(colour, 0.85))
        d.ellipse((cx - 0.8 * r, cy - 0.8 * r, cx + 0.8 * r, cy + 0.8 * r), fill=_tone(colour, 1.0))
        holes = 2 if rng.random() < 0.5 else 4
        for k in range(holes):
            a = 2 * math.pi * k / holes + 0.3
            hx, hy, hr = cx + 0.3 * r * math.cos(a), cy + 0.3 * r * math.sin(a), 0.1 * r
            d.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=(0, 0, 0, 0))


def _bottle_cap(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float,
                metal: Colour) -> None:
    """Crown bottle caps: a crimped disc (21 teeth) in a printed colour, with a ring and a logo blob."""
    for _ in range(int(rng.integers(1, 3))):
        colour = tuple(int(v) for v in rng.integers(20, 240, 3))
        r = ext * rng.uniform(0.15, 0.25)
        cx, cy = x + rng.uniform(-0.25, 0.25) * ext, y + rng.uniform(-0.25, 0.25) * ext
        teeth = [(cx + r * (1 if k % 2 else 0.9) * math.cos(math.pi * k / 21),
                  cy + r * (1 if k % 2 else 0.9) * math.sin(math.pi * k / 21)) for k in range(42)]
        d.polygon(teeth, fill=_tone(metal, 0.8))
        d.ellipse((cx - 0.82 * r, cy - 0.82 * r, cx + 0.82 * r, cy + 0.82 * r), fill=_tone(colour, 1.0))
        d.ellipse((cx - 0.6 * r, cy - 0.6 * r, cx + 0.6 * r, cy + 0.6 * r), outline=_tone(colour, 1.6),
                  width=_w(0.06 * r))
        d.ellipse((cx - 0.3 * r, cy - 0.2 * r, cx + 0.3 * r, cy + 0.2 * r), fill=_tone(colour, 0.4))


def _cufflinks(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ext: float,
               metal: Colour) -> None:
    """A pair of cufflinks seen from the side: a face (round or square, plain or with an enamel inlay) on a T-bar."""
    r, square = ext * rng.uniform(0.1, 0.15), rng.random() < 0.5
    inlay = GEMS[str(rng.choice(list(GEMS)))] if rng.random() < 0.6 else None
    for sgn in (-1, 1):
        cx = x + sgn * ext * 0.25
        d.rectangle((cx - r * 0.12, y, cx + r * 0.12, y + 1.6 * r), fill=_tone(metal, 0.7))
        d.rounded_rectangle((cx - 0.8 * r, y + 1.5 * r, cx + 0.8 * r, y + 1.75 * r), radius=r * 0.1,
                            fill=_tone(metal, 0.85))
        box = (cx - r, y - r, cx + r, y + r)
        if square:
            d.rounded_rectangle(box, radius=r * 0.15, fill=_tone(metal, 0.9))
        else:
            d.ellipse(box, fill=_tone(metal, 0.9))
        if inlay is not None:
            inner = (cx - 0.7 * r, y - 0.7 * r, cx + 0.7 * r, y + 0.7 * r)
            (d.rectangle if square else d.ellipse)(inner, fill=_tone(inlay, 0.9))


NEAR_MISS_DRAWERS: dict[str, Callable[..., None]] = dict(zip(
    NEAR_MISSES, (_key, _coin, _hair_clip, _button, _bottle_cap, _cufflinks), strict=True))


def backdrop(rng: np.random.Generator, s: int) -> np.ndarray:
    """An s x s float RGB backdrop: white, light gradient, textured (noise, stripes, weave) or dark velvet."""
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:s, 0:s] / s
    if kind == 0:
        base = np.array(_jitter((246, 246, 246), rng, 8), float)
        img = np.broadcast_to(base, (s, s, 3)) * (1 - 0.04 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2))[..., None]
    elif kind == 1:
        c0, c1 = rng.uniform(185, 255, 3), rng.uniform(185, 255, 3)
        a = rng.uniform(0, 2 * math.pi)
        g = np.clip((xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a) + 0.5, 0, 1)[..., None]
        img = c0 * (1 - g) + c1 * g
    elif kind == 2:
        base = rng.uniform(110, 235, 3)
        a, freq = rng.uniform(0, math.pi), rng.uniform(20, 70)
        u = xx * math.cos(a) + yy * math.sin(a)
        pattern = rng.integers(3)
        if pattern == 0:
            tex = np.sin(u * freq * 2 * math.pi)
        elif pattern == 1:
            v = -xx * math.sin(a) + yy * math.cos(a)
            tex = np.sin(u * freq * 2 * math.pi) * np.sin(v * freq * 2 * math.pi)
        else:
            tex = np.zeros((s, s))
        img = base + (tex * rng.uniform(6, 16))[..., None] + rng.normal(0, rng.uniform(4, 12), (s, s, 1))
    else:
        base = rng.uniform(5, 60, 3)
        sheen = np.asarray(Image.fromarray(rng.uniform(0, 255, (4, 4)).astype(np.uint8)).resize((s, s), Image.BICUBIC),
                           float) / 255
        img = base * (0.6 + 0.8 * sheen)[..., None] + rng.normal(0, 3, (s, s, 1))
    return np.asarray(img, float)


SCENES = ("skin", "fabric", "wood", "marble", "clutter")  # what `scene` draws products onto


def _smooth(rng: np.random.Generator, s: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a `cells` x `cells` random grid resized bicubically to s x s."""
    grid = Image.fromarray(rng.uniform(0, 255, (cells, cells)).astype(np.uint8))
    return np.asarray(grid.resize((s, s), Image.BICUBIC), float) / 255


def scene(rng: np.random.Generator, s: int, kind: str | None = None) -> np.ndarray:
    """An s x s float RGB scene for compositing a cut-out product: skin (a finger, wrist or neck across a backdrop),
    fabric (a coloured weave with folds), wood (grain), marble (veins) or clutter (objects on a table)."""
    kind = kind or SCENES[rng.integers(len(SCENES))]
    yy, xx = np.mgrid[0:s, 0:s] / s
    a = rng.uniform(0, math.pi)
    u, v = xx * math.cos(a) + yy * math.sin(a), -xx * math.sin(a) + yy * math.cos(a)
    if kind == "skin":
        im = Image.fromarray(np.clip(backdrop(rng, s), 0, 255).astype(np.uint8))
        skin = _jitter(SKINS[rng.integers(len(SKINS))], rng, 10)
        ends = [(s * rng.uniform(0.2, 0.8), -0.2 * s), (s * rng.uniform(0.2, 0.8), 1.2 * s)]
        _limb(ImageDraw.Draw(im), *(ends if rng.random() < 0.5 else [e[::-1] for e in ends]),
              s * rng.uniform(0.35, 0.7), skin)
        return np.asarray(im, float)
    if kind == "fabric":
        freq = rng.uniform(40, 90)
        weave = np.sin(u * freq * 2 * math.pi) * np.sin(v * freq * 2 * math.pi)
        folds = 0.75 + 0.35 * np.sin(u * rng.uniform(2, 6) * 2 * math.pi + 3 * _smooth(rng, s, 3))
        img = rng.uniform(30, 230, 3) * folds[..., None] + (8 * weave)[..., None]
    elif kind == "wood":
        grain = np.sin((v * rng.uniform(15, 40) + 4 * _smooth(rng, s, 4)) * 2 * math.pi)
        base = np.array(_jitter((150, 100, 60), rng, 35), float)
        img = base * (0.8 + 0.12 * grain + 0.1 * _smooth(rng, s, 24))[..., None]
    elif kind == "marble":
        veins = np.abs(np.sin((u * rng.uniform(3, 8) + 5 * _smooth(rng, s, 5)) * math.pi)) ** 0.25
        base = np.array(_jitter((232, 230, 226), rng, 14), float)
        img = base * (0.55 + 0.45 * veins)[..., None]
    else:  # clutter: a table with objects (boxes, cups, papers) of random colours
        im = Image.fromarray(np.clip(backdrop(rng, s), 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(4, 9))):
            x, y, w, h = rng.uniform(-0.1, 1, 2).tolist() + rng.uniform(0.1, 0.45, 2).tolist()
            box = (x * s, y * s, (x + w) * s, (y + h) * s)
            colour = tuple(int(c) for c in rng.integers(20, 250, 3))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=colour)
        img = np.asarray(im.filter(ImageFilter.GaussianBlur(s / 200)), float)
    return np.clip(img + rng.normal(0, 3, (s, s, 1)), 0, 255)


def draw_item(label: str, rng: np.random.Generator, size: int = 128,
              design: np.random.Generator | None = None) -> Image.Image:
    """One size x size RGB product photo of a `label` (one of CLASSES, or of NEAR_MISSES), choices drawn from `rng`.

    With probability `P_WORN` a jewelry piece is worn: the body part (`_body`) is drawn under it, with the same pose.
    With `design`, the piece itself (metal, style, stones) is drawn from `design` and only the view (scale, pose,
    worn or not, background, light) from `rng`: the same `design` seed gives the same product in other views.
    """
    drawers = DRAWERS | NEAR_MISS_DRAWERS
    if label not in drawers:
        raise JewelError(f"unknown jewelry class {label!r}: choose one of {', '.join(drawers)}")
    piece = rng if design is None else design
    s = 2 * size
    scale = rng.uniform(0.5, 1.0)
    ext = scale * s
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    metal = _jitter(METALS[str(piece.choice(list(METALS)))], piece, 10)
    drawers[label](ImageDraw.Draw(layer), piece, s / 2, s / 2, ext, metal)
    body = None
    if label in DRAWERS and P_WORN > 0 and rng.random() < P_WORN:  # P_WORN 0: the images before worn scenes
        body = Image.new("RGBA", (s, s), (0, 0, 0, 0))
        _body(ImageDraw.Draw(body), rng, label, s / 2, s / 2, ext)

    theta = rng.uniform(-math.pi, math.pi) if rng.random() < 0.5 else rng.uniform(-0.35, 0.35)
    tilt, shear = rng.uniform(0.72, 1.0), rng.uniform(-0.15, 0.15)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    a = rot @ np.array([[1.0, shear], [0.0, tilt]])
    centre = np.array([s / 2, s / 2]) + rng.uniform(-1, 1, 2) * (1 - scale) * s * 0.4
    inv = np.linalg.inv(a)
    off = np.array([s / 2, s / 2]) - inv @ centre
    affine = (inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1])
    layer = layer.transform((s, s), Image.AFFINE, affine, resample=Image.BICUBIC)

    bg = backdrop(rng, s)
    if body is not None:
        body = body.transform((s, s), Image.AFFINE, affine, resample=Image.BICUBIC).filter(
            ImageFilter.GaussianBlur(s * 0.006))
        cover = np.asarray(body.getchannel("A"), float)[..., None] / 255
        bg = bg * (1 - cover) + np.asarray(body.convert("RGB"), float) * cover
    alpha = layer.getchannel("A")
    blur = alpha.filter(ImageFilter.GaussianBlur(s * rng.uniform(0.012, 0.035)))
    shadow = Image.new("L", (s, s), 0)
    shadow.paste(blur, tuple(int(v) for v in rng.uniform(0.01, 0.04, 2) * s * rng.choice([-1, 1], 2)))
    strength = rng.uniform(0.3, 0.65)
    bg *= 1 - strength * (np.asarray(shadow, float) / 255)[..., None]
    photo = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    photo.paste(layer, (0, 0), layer)

    arr = np.asarray(photo.resize((size, size), Image.LANCZOS), float)
    mean = arr.mean()
    arr = (arr - mean) * rng.uniform(0.8, 1.2) + mean * rng.uniform(0.85, 1.15)
    arr *= 1 + rng.uniform(-0.04, 0.04, 3) * np.array([1, 0, -1])
    return Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8), "RGB")


def _check_out(out: Path, params: dict) -> None:
    """Refuse to write into `out` unless it is missing, empty, or an earlier make_synth run with the same params."""
    if out.exists() and not out.is_dir():
        raise JewelError(f"{out} is a file: give a folder to write the synthetic dataset into")
    if not out.exists() or not any(out.iterdir()):
        return
    marker = out / MARKER
    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise JewelError(f"{out} already holds files that were not drawn here (jewel synth, make_synth): "
                         "choose a new or empty folder for the synthetic dataset") from None
    if {k: previous.get(k) for k in params} != params:
        old = ", ".join(f"{k}={previous.get(k)}" for k in ("per_class", "size", "seed"))
        raise JewelError(f"{out} holds a synthetic dataset made with {old}: delete it, "
                         "choose another folder, or pass the same settings to regenerate it")


def make_synth(out: str | Path, per_class: int = 100, size: int = 128, seed: int = 0,
               progress: bool = True, near_misses: bool = False, views: int = 1) -> Path:
    """Write `per_class` drawn images of each class to the ImageFolder `out/<class>/<class>_0000.png`; return `out`.

    Same seed, same bytes: image i of class ci is drawn from `np.random.default_rng([seed, ci, i])`.
    A marker file `out/.jewel-synth.json` records the settings; a non-empty folder without it, or with other
    settings, is refused with JewelError, so a user's own data is never overwritten.
    `near_misses` draws the NEAR_MISSES objects (keys, coins, ...) instead of jewelry: photos of no known class.
    `views` > 1 draws `per_class` designs per class, each in `views` views (`<class>_0000_v1.png`), and lists
    them in `out/designs.csv` (path, label, design): the retrieval benchmark's ground truth.
    """
    out = Path(out).expanduser()
    if per_class < 1 or size < 16 or seed < 0 or views < 1:
        raise JewelError(f"the drawn dataset needs per_class (--per-class) >= 1, size >= 16, seed >= 0 and views >= 1 "
                         f"(got per_class={per_class}, size={size}, seed={seed}, views={views})")
    classes = NEAR_MISSES if near_misses else CLASSES
    params = {"classes": list(classes), "per_class": per_class, "size": size, "seed": seed}
    params |= {"views": views} if views > 1 else {}
    _check_out(out, params)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(json.dumps({"generator": "jewel synth", **params}, indent=1) + "\n",
                              encoding="utf-8")
    offset = len(CLASSES) if near_misses else 0  # near misses draw from other seeds than the jewelry
    jobs = [(ci, i, v) for ci in range(len(classes)) for i in range(per_class) for v in range(views)]
    designs = []
    for ci, i, v in progress_steps(jobs, "drawing", "images", enabled=progress):
        label = classes[ci]
        (out / label).mkdir(exist_ok=True)
        if views == 1:
            name, im = f"{label}_{i:04d}.png", draw_item(label, np.random.default_rng([seed, ci + offset, i]), size)
        else:
            name = f"{label}_{i:04d}_v{v}.png"
            im = draw_item(label, np.random.default_rng([seed, ci + offset, i, v + 1]), size,
                           design=np.random.default_rng([seed, ci + offset, i]))
            designs.append({"path": f"{label}/{name}", "label": label, "design": f"{label}_{i:04d}"})
        im.save(out / label / name)
    if designs:
        pd.DataFrame(designs).to_csv(out / "designs.csv", index=False)
    return out


def synth_items(out: str | Path, classes: Sequence[str], per_class: int, size: int, seed: int = 0) -> pd.DataFrame:
    """Drawn images (path, label) of the `classes` the drawer knows, `per_class` each, written under `out`.

    Empty when `per_class` is 0 or no class is shared. Used to mix drawn images into real training photos.
    """
    shared = [c for c in classes if c in CLASSES]
    if per_class < 1 or not shared:
        return pd.DataFrame(columns=["path", "label"])
    items = read_items(make_synth(out, per_class=per_class, size=size, seed=seed, progress=False))
    return items[items["label"].isin(shared)].reset_index(drop=True)


_DRAWN: dict[tuple, tuple[TemporaryDirectory, pd.DataFrame]] = {}


def drawn_once(classes: Sequence[str], per_class: int, size: int, seed: int) -> pd.DataFrame:
    """`synth_items` drawn once per process for the same arguments, into a temporary folder removed at exit.

    The same seed draws the same images, so a leave-one-source-out (one training per source) draws them once.
    """
    key = (tuple(classes), per_class, size, seed)
    if key not in _DRAWN:
        tmp = TemporaryDirectory(prefix="jewel-drawn-")
        _DRAWN[key] = (tmp, synth_items(tmp.name, classes, per_class, size, seed))
    return _DRAWN[key][1].copy()
