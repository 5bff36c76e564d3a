"""Growth chart: viable cells on a log scale, the target line and the projection, in braille.

Each character cell holds a 2 x 4 braille dot grid, so a 60 x 10 chart has 120 x 40 dots. The
counts are joined by a solid line, the projection (the domain's log-linear fit) continues dotted
to the projected day, the viable cells needed for the target dose are a dashed horizontal line,
and the harvest window is marked on the day axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

BRAILLE_BASE = 0x2800
# dot bit for (x in 0..1, y in 0..3) inside one braille character
DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
AXIS_WIDTH = 6


@dataclass(frozen=True)
class ChartData:
    points: tuple[tuple[int, int], ...]  # (day, viable cells)
    target_viable: float | None = None
    projection: tuple[float, float] | None = None  # (intercept, slope) of ln(viable) per day
    projected_day: int | None = None
    window: tuple[int, int] = (10, 14)
    today_day: int | None = None


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width * 2, height * 4
        self.cells = [[0] * width for _ in range(height)]
        self.styles: list[list[str]] = [[""] * width for _ in range(height)]

    def dot(self, x: float, y: float, style: str) -> None:
        xi, yi = round(x), round(y)
        if not (0 <= xi < self.w and 0 <= yi < self.h):
            return
        cx, cy = xi // 2, yi // 4
        self.cells[cy][cx] |= DOT_BITS[yi % 4][xi % 2]
        cur = self.styles[cy][cx]
        # the data line wins over the projection, which wins over the target line
        rank = {"": 0, "target": 1, "projection": 2, "data": 3}
        if rank.get(style, 0) >= rank.get(cur, 0):
            self.styles[cy][cx] = style

    def line(self, x0: float, y0: float, x1: float, y1: float, style: str, every: int = 1) -> None:
        n = max(1, int(max(abs(x1 - x0), abs(y1 - y0))))
        for i in range(n + 1):
            if i % every == 0:
                t = i / n
                self.dot(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, style)


class GrowthChart(Widget):
    """A braille line chart of viable cells (log10) against expansion day."""

    DEFAULT_CSS = """
    GrowthChart { height: 10; min-width: 30; }
    """
    STYLES = {"data": "bold green", "projection": "cyan", "target": "yellow"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: ChartData | None = None

    def show(self, data: ChartData | None) -> None:
        self.data = data
        self.refresh()

    def render(self) -> Text:
        d = self.data
        width = max(10, self.size.width - AXIS_WIDTH)
        height = max(3, self.size.height - 1)
        if d is None:  # not read (yet, or refused: the header says why)
            return Text("")
        if not d.points:
            return Text("no counts yet", style="dim")
        last_day = max(p[0] for p in d.points)
        max_day = max(d.window[1], last_day, d.projected_day or 0, d.today_day or 0) + 1
        values: list[float] = [float(v) for _, v in d.points if v > 0]
        if d.target_viable:
            values.append(d.target_viable)
        lo = math.floor(math.log10(min(values)))
        hi = math.ceil(math.log10(max(values)))
        if hi <= lo:
            hi = lo + 1
        c = _Canvas(width, height)

        def xy(day: float, v: float) -> tuple[float, float]:
            x = day / max_day * (c.w - 1)
            y = (hi - math.log10(max(v, 1))) / (hi - lo) * (c.h - 1)
            return x, y

        if d.target_viable:
            _, ty = xy(0, d.target_viable)
            c.line(0, ty, c.w - 1, ty, "target", every=3)
        if d.projection and d.projected_day is not None:
            a, b = d.projection
            start = last_day
            end = min(max_day, max(d.projected_day, last_day))
            pts = [xy(day, math.exp(a + b * day)) for day in (start, end)]
            c.line(*pts[0], *pts[1], "projection", every=2)
        prev = None
        for day, v in sorted(d.points):
            x, y = xy(day, v)
            if prev is not None:
                c.line(*prev, x, y, "data")
            for dx in (-0.5, 0.5):
                c.dot(x + dx, y, "data")
            prev = (x, y)

        text = Text()
        for row in range(height):
            # y-axis label on the rows holding a power of ten
            label = ""
            for e in range(lo, hi + 1):
                ly = (hi - e) / (hi - lo) * (c.h - 1)
                if int(ly // 4) == row:
                    label = f"1e{e}"
            text.append(f"{label:>{AXIS_WIDTH - 1}}┤", style="dim")
            for col in range(width):
                bits = c.cells[row][col]
                ch = chr(BRAILLE_BASE + bits) if bits else " "
                text.append(ch, style=self.STYLES.get(c.styles[row][col], ""))
            text.append("\n")
        axis = [" "] * width
        for day in range(0, max_day + 1, 2):
            col = int(day / max_day * (c.w - 1)) // 2
            s = str(day)
            for i, ch in enumerate(s):
                if col + i < width:
                    axis[col + i] = ch
        wl = int(d.window[0] / max_day * (c.w - 1)) // 2
        wr = int(d.window[1] / max_day * (c.w - 1)) // 2
        text.append(" " * (AXIS_WIDTH - 1) + "└", style="dim")
        for i, ch in enumerate(axis):
            text.append(ch, style="reverse" if wl <= i <= wr else "dim")
        return text
