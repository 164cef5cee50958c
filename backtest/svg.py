"""Small inline-SVG charts for the HTML report: no script, no CDN, works offline.

x is a position (bar number), so nights, weekends and holidays take no room; tick labels are
the times of those positions. Long series are thinned to at most `max_points` vertices.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PALETTE = {"ink": "#1f2933", "grid": "#e4e7eb", "axis": "#9aa5b1", "strategy": "#2563eb",
           "bench": "#f59e0b", "buy": "#16a34a", "sell": "#dc2626", "band": "#93c5fd",
           "sma_fast": "#7c3aed", "sma_slow": "#db2777", "muted": "#9aa5b1", "dd": "#ef4444"}


@dataclass
class Series:
    name: str
    y: Sequence[float]
    color: str
    width: float = 1.6
    dash: str | None = None


@dataclass
class Band:
    name: str
    lo: Sequence[float]
    hi: Sequence[float]
    color: str
    opacity: float = 0.18


@dataclass
class Markers:
    name: str
    x: Sequence[float]
    y: Sequence[float]
    color: str
    shape: str = "up"  # up | down | dot
    size: float = 6.0
    labels: Sequence[str] = field(default_factory=list)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _fmt(v: float, pct: bool) -> str:
    if pct:
        return f"{v * 100:.0f}%" if abs(v) >= 0.1 or v == 0 else f"{v * 100:.1f}%"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if a >= 1 else f"{v:.3g}"


def _thin(n: int, max_points: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def chart(times: Sequence[pd.Timestamp] | None, series: Sequence[Series] = (),
          bands: Sequence[Band] = (), markers: Sequence[Markers] = (), *, width: int = 1280,
          height: int = 300, title: str = "", pct: bool = False, x_labels: Sequence[str] | None = None,
          y_floor: float | None = None, fill_to_zero: bool = False, max_points: int = 900,
          time_format: str = "%Y-%m-%d") -> str:
    """One line chart as an <svg> element."""
    left, right, top, bottom = 64, 16, 30 if title else 12, 28
    pw, ph = width - left - right, height - top - bottom
    n = max([len(s.y) for s in series] + [len(b.lo) for b in bands] + [len(x_labels or [])] +
            [len(times) if times is not None else 0] + [1])
    values = [np.asarray(s.y, float) for s in series] + \
             [np.asarray(b.lo, float) for b in bands] + [np.asarray(b.hi, float) for b in bands] + \
             [np.asarray(m.y, float) for m in markers]
    flat = np.concatenate([v[np.isfinite(v)] for v in values] + [np.array([])])
    lo, hi = (float(flat.min()), float(flat.max())) if flat.size else (0.0, 1.0)
    if y_floor is not None:
        lo = min(lo, y_floor)
    if fill_to_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad

    def sx(i: float) -> float:
        return left + (i / max(n - 1, 1)) * pw

    def sy(v: float) -> float:
        return top + (1 - (v - lo) / (hi - lo)) * ph

    out = [f'<svg viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
           f'class="chart" role="img" aria-label="{html.escape(title)}">']
    if title:
        out.append(f'<text x="{left}" y="18" class="ct">{html.escape(title)}</text>')
    for v in nice_ticks(lo, hi):
        y = sy(v)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{PALETTE["grid"]}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tk">'
                   f'{_fmt(v, pct)}</text>')
    labels = list(x_labels) if x_labels is not None else (
        [pd.Timestamp(t).strftime(time_format) for t in times] if times is not None else [])
    if labels:
        for i in np.unique(np.linspace(0, len(labels) - 1, min(7, len(labels))).round().astype(int)):
            x = sx(float(i))
            anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}" '
                       f'stroke="{PALETTE["axis"]}"/>')
            out.append(f'<text x="{x:.1f}" y="{top + ph + 17}" text-anchor="{anchor}" class="tk">'
                       f'{html.escape(labels[i])}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
               f'stroke="{PALETTE["axis"]}" stroke-width="0.6"/>')
    for b in bands:
        lo_v, hi_v = np.asarray(b.lo, float), np.asarray(b.hi, float)
        idx = [i for i in _thin(len(lo_v), max_points) if np.isfinite(lo_v[i]) and np.isfinite(hi_v[i])]
        if idx:
            pts = [f"{sx(i):.1f},{sy(hi_v[i]):.1f}" for i in idx] + \
                  [f"{sx(i):.1f},{sy(lo_v[i]):.1f}" for i in reversed(idx)]
            out.append(f'<polygon points="{" ".join(pts)}" fill="{b.color}" '
                       f'fill-opacity="{b.opacity}" stroke="none"/>')
    for s in series:
        y = np.asarray(s.y, float)
        runs, cur = [], []
        for i in _thin(len(y), max_points):
            if np.isfinite(y[i]):
                cur.append(f"{sx(i):.1f},{sy(y[i]):.1f}")
            elif cur:
                runs.append(cur)
                cur = []
        if cur:
            runs.append(cur)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        for run in runs:
            if fill_to_zero and s is series[0]:  # one filled area; the others stay lines
                z = sy(0.0)
                poly = [run[0].split(",")[0] + f",{z:.1f}"] + run + [run[-1].split(",")[0] + f",{z:.1f}"]
                out.append(f'<polygon points="{" ".join(poly)}" fill="{s.color}" '
                           f'fill-opacity="0.25" stroke="none"/>')
            out.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{s.color}" '
                       f'stroke-width="{s.width}" stroke-linejoin="round"{dash}/>')
    for m in markers:
        for k, (xi, yi) in enumerate(zip(m.x, m.y)):
            if not (np.isfinite(xi) and np.isfinite(yi)):
                continue
            x, y, r = sx(xi), sy(yi), m.size
            tip = f"<title>{html.escape(m.labels[k])}</title>" if k < len(m.labels) else ""
            if m.shape == "up":
                out.append(f'<path d="M{x:.1f},{y - r:.1f} L{x - r:.1f},{y + r * 0.8:.1f} '
                           f'L{x + r:.1f},{y + r * 0.8:.1f} Z" fill="{m.color}" stroke="#fff" '
                           f'stroke-width="0.8">{tip}</path>')
            elif m.shape == "down":
                out.append(f'<path d="M{x:.1f},{y + r:.1f} L{x - r:.1f},{y - r * 0.8:.1f} '
                           f'L{x + r:.1f},{y - r * 0.8:.1f} Z" fill="{m.color}" stroke="#fff" '
                           f'stroke-width="0.8">{tip}</path>')
            else:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r / 2:.1f}" fill="none" '
                           f'stroke="{m.color}" stroke-width="1">{tip}</circle>')
    legend = [(s.name, s.color, "line") for s in series if s.name] + \
             [(b.name, b.color, "band") for b in bands if b.name] + \
             [(m.name, m.color, m.shape) for m in markers if m.name]
    x = left + pw
    total = sum(7 * len(name) + 26 for name, _, _ in legend)
    # on the title row when there is room for both, else inside the plot's top edge
    y = top - 10 if title and left + pw - total > left + 7.5 * len(title) + 16 else top + 14
    for name, color, kind in reversed(legend):
        w = 7 * len(name) + 26
        x -= w
        if kind == "line":
            out.append(f'<line x1="{x}" x2="{x + 14}" y1="{y - 4}" y2="{y - 4}" stroke="{color}" '
                       f'stroke-width="2.5"/>')
        elif kind == "band":
            out.append(f'<rect x="{x}" y="{y - 9}" width="14" height="10" fill="{color}" '
                       f'fill-opacity="0.35"/>')
        else:
            out.append(f'<circle cx="{x + 7}" cy="{y - 4}" r="4" fill="{color}"/>')
        out.append(f'<text x="{x + 18}" y="{y}" class="lg">{html.escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
