"""Charts for the console's analytics pages, drawn on the server as SVG strings with matplotlib.

The object-oriented `Figure` API is used, never pyplot: no GUI backend and no global "current
figure", so charts may be drawn from several request threads at once. Two SVG settings are
read at save time from matplotlib's global rcParams; they are set once, here, to constants
(never toggled per call, which would race between threads):

- `svg.hashsalt`: the ids in the SVG are derived from it and the drawing, so the same data
  gives the same SVG, byte for byte (and the console's pages are cacheable and diffable);
- `svg.fonttype = none`: text stays text (`<text>` elements, in a generic sans-serif stack the
  browser resolves locally), so labels are selectable, read by screen readers, and no font is
  embedded or fetched.

Each chart starts with a `<title>` and a `<desc>` (the figures in words) and is marked
`role="img"`; the XML declaration and DOCTYPE (an external DTD URL) are left out, so the SVG
can be put inline in a page and refers to nothing outside itself.
"""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

matplotlib.rcParams["svg.hashsalt"] = "ordermesh-charts"
matplotlib.rcParams["svg.fonttype"] = "none"

Value = int | float | Decimal | None  # Decimal: amounts and hours, drawn as floats
# Okabe-Ito: told apart by colour-blind readers too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")
FONT = {"family": "sans-serif", "size": 12}
SIZE = (8.0, 4.0)  # inches; 576 x 288 pt
MAX_DAY_TICKS = 10


def bar_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[Value]], unit: str) -> str:
    """Grouped bars: one group per label, one bar per series (None: no bar)."""
    _check(len(labels), series)
    figure, axes = _canvas(title, unit)
    count = max(len(series), 1)
    width = 0.8 / count
    for n, (name, values) in enumerate(series.items()):
        offsets = [i - 0.4 + width * (n + 0.5) for i in range(len(labels))]
        axes.bar(offsets, [_number(v) for v in values], width, label=_plain(name),
                 color=PALETTE[n % len(PALETTE)])
    # long labels wrap onto lines of their own rather than run into each other
    axes.set_xticks(range(len(labels)), ["\n".join(textwrap.wrap(_plain(str(label)), 14))
                                         for label in labels])
    return _finish(figure, axes, title, [str(label) for label in labels], series, unit)


def line_chart(title: str, days: Sequence[date], series: Mapping[str, Sequence[Value]], unit: str) -> str:
    """One line per series over the days (None: a gap in the line), with markers so a single
    day still shows."""
    _check(len(days), series)
    figure, axes = _canvas(title, unit)
    positions = range(len(days))
    for n, (name, values) in enumerate(series.items()):
        axes.plot(positions, [_number(v) for v in values], label=_plain(name), marker="o",
                  markersize=4, linewidth=2, color=PALETTE[n % len(PALETTE)])
    step = max(1, math.ceil(len(days) / MAX_DAY_TICKS))
    ticks = list(positions)[::step]
    axes.set_xticks(ticks, [days[i].isoformat() for i in ticks], rotation=30, ha="right")
    return _finish(figure, axes, title, [d.isoformat() for d in days], series, unit)


def _check(points: int, series: Mapping[str, Sequence[Value]]) -> None:
    wrong = sorted(name for name, values in series.items() if len(values) != points)
    if wrong:
        raise ValueError(f"series {', '.join(wrong)} should have {points} values each")


def _canvas(title: str, unit: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(_plain(title), fontdict={**FONT, "size": 14, "weight": "bold"})
    axes.set_ylabel(_plain(unit), fontdict=FONT)
    axes.tick_params(labelsize=FONT["size"])
    axes.grid(axis="y", color="#dddddd")
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _plain(text: str) -> str:
    """Text drawn as it is: matplotlib reads $...$ as mathematics (a price in $ would be)."""
    return text.replace("$", r"\$")


def _number(value: Value) -> float:
    return math.nan if value is None else float(value)


def _finish(figure: Figure, axes: Axes, title: str, labels: list[str],
            series: Mapping[str, Sequence[Value]], unit: str) -> str:
    if not labels or not series:
        axes.text(0.5, 0.5, "No data", transform=axes.transAxes, ha="center", va="center",
                  fontdict=FONT, color="#555555")
    elif len(series) > 1:
        axes.legend(fontsize=FONT["size"], frameon=False)
    axes.set_ylim(bottom=0)
    out = io.StringIO()
    figure.savefig(out, format="svg",
                   metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _accessible(out.getvalue(), title, _describe(labels, series, unit))


def _describe(labels: list[str], series: Mapping[str, Sequence[Value]], unit: str) -> str:
    """The chart's figures in words, for those who cannot see it."""
    parts = []
    for name, values in series.items():
        shown = ", ".join(f"{label}: {'no data' if v is None else f'{v:g}'}"
                          for label, v in zip(labels, values, strict=False))
        parts.append(f"{name} ({unit}): {shown}" if shown else f"{name}: no data")
    return "; ".join(parts) or "No data"


def _accessible(svg: str, title: str, description: str) -> str:
    """The SVG from its root element on, marked as an image with a title and a description."""
    start = svg.index("<svg")
    head_end = svg.index(">", start)
    key = hashlib.sha256(f"{title}\n{description}".encode()).hexdigest()[:12]
    title_id, desc_id = f"chart-title-{key}", f"chart-desc-{key}"
    labelled = (f' role="img" aria-labelledby={quoteattr(title_id)}'
                f" aria-describedby={quoteattr(desc_id)}")
    heading = (f"\n <title id={quoteattr(title_id)}>{escape(title)}</title>"
               f"\n <desc id={quoteattr(desc_id)}>{escape(description)}</desc>")
    return svg[start:head_end] + labelled + ">" + heading + svg[head_end + 1:]
