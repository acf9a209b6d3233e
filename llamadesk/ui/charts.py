"""Small charts drawn with QPainter: a line chart of named series and a grouped bar chart.

Qt Charts is not part of PySide6-Essentials and a plotting library would add tens of megabytes
for two plots; these draw what LlamaDesk needs (axes with round-number ticks, a legend, a tooltip
on the nearest point) and nothing else. `LineChart.append_point` costs O(1) and asks for one
coalesced repaint, so a training curve can grow a point per step while the GUI stays responsive."""

import math
from collections.abc import Callable, Iterable, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from llamadesk.ui.theme import is_dark

# Okabe–Ito: told apart by colour-blind readers too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_HOVER_PIXELS = 12
_PAD = 8
_MAX_BAR_WIDTH = 72

Formatter = Callable[[float], str]


def _default_format(value: float) -> str:
    return f"{value:.6g}"


def nice_step(span: float, max_ticks: int) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most `max_ticks` intervals."""
    raw = span / max(max_ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def nice_ticks(low: float, high: float, max_ticks: int = 6, min_step: float = 0.0) -> list[float]:
    """Round-number ticks covering [low, high], the first at or below `low`, the last at or above
    `high`, so the data never touches a frame that has no label. `min_step` keeps whole-number axes
    (training steps) from getting ticks at 1.5 that a label would round to 2."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = max(nice_step(high - low, max_ticks), min_step)
    first = math.floor(low / step + 1e-9) * step
    count = math.ceil((high - first) / step - 1e-9)
    # Rounding keeps 0.30000000000000004 from showing up in a label.
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return [round(first + i * step, digits) for i in range(count + 1)]


class _Chart(QWidget):
    """What both charts share: title, legend, placeholder when empty, and the y axis."""

    def __init__(self, parent: QWidget | None, title: str, y_label: str) -> None:
        super().__init__(parent)
        self._title = title
        self._y_label = y_label
        self._y_format: Formatter = _default_format
        self._placeholder = self.tr("No data yet")
        self.setMinimumSize(240, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self._plot = QRectF()  # where the data was drawn last time, for hit tests

    def set_title(self, title: str) -> None:
        self._title = title
        self.update()

    def set_y_label(self, label: str) -> None:
        self._y_label = label
        self.update()

    def set_y_format(self, formatter: Formatter | None) -> None:
        self._y_format = formatter or _default_format
        self.update()

    def set_placeholder(self, text: str) -> None:
        """What an empty chart says instead of drawing axes with nothing on them."""
        self._placeholder = text
        self.update()

    def color(self, index: int) -> QColor:
        """Series `index`'s colour, made to stand out against this widget's background: on a dark
        palette the deep colours are lightened and the black one becomes the text colour."""
        colour = QColor(PALETTE[index % len(PALETTE)])
        if not is_dark(self.palette()):
            return colour
        if colour.value() == 0:
            return self.palette().color(self.foregroundRole())
        return colour.lighter(160) if colour.lightness() < 110 else colour

    def _draw_header(self, painter: QPainter, area: QRectF, names: Sequence[str]) -> float:
        """Title and a wrapping legend at the top of `area`; returns the height they took."""
        top = area.top()
        metrics = QFontMetrics(painter.font())
        if self._title:
            bold = QFont(painter.font())
            bold.setBold(True)
            painter.setFont(bold)
            title_rect = QRectF(area.left(), top, area.width(), QFontMetrics(bold).height())
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawText(title_rect, Qt.AlignmentFlag.AlignHCenter, self._title)
            painter.setFont(QFont(self.font()))
            top += title_rect.height() + 4
        x = area.left()
        row_height = metrics.height()
        for index, name in enumerate(names):
            text = metrics.elidedText(name, Qt.TextElideMode.ElideRight, int(area.width()) - 30)
            width = 18 + metrics.horizontalAdvance(text) + 14
            if x + width > area.right() and x > area.left():
                x = area.left()
                top += row_height + 2
            swatch = QRectF(x, top + row_height / 2 - 5, 12, 10)
            painter.fillRect(swatch, self.color(index))
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawText(QRectF(x + 18, top, width, row_height), Qt.AlignmentFlag.AlignLeft, text)
            x += width
        if names:
            top += row_height + 6
        return top - area.top()

    def _draw_placeholder(self, painter: QPainter) -> None:
        painter.setPen(self.palette().color(self.palette().ColorGroup.Disabled, self.foregroundRole()))
        painter.drawText(
            self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder
        )

    def _y_axis_width(self, painter: QPainter, ticks: Sequence[float]) -> float:
        metrics = QFontMetrics(painter.font())
        widest = max((metrics.horizontalAdvance(self._y_format(t)) for t in ticks), default=0)
        return widest + 8 + (metrics.height() + 4 if self._y_label else 0)

    def _draw_y_axis(self, painter: QPainter, plot: QRectF, ticks: Sequence[float], to_y: Callable) -> None:
        metrics = QFontMetrics(painter.font())
        text_color = self.palette().color(self.foregroundRole())
        grid = QColor(text_color)
        grid.setAlpha(40)
        for tick in ticks:
            y = to_y(tick)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text_color)
            label_rect = QRectF(plot.left() - 200 - 6, y - metrics.height() / 2, 200, metrics.height())
            painter.drawText(
                label_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self._y_format(tick)
            )
        if self._y_label:
            painter.save()
            painter.translate(_PAD, plot.center().y())
            painter.rotate(-90)
            painter.drawText(
                QRectF(-plot.height() / 2, 0, plot.height(), metrics.height()),
                Qt.AlignmentFlag.AlignHCenter,
                metrics.elidedText(self._y_label, Qt.TextElideMode.ElideRight, int(plot.height())),
            )
            painter.restore()
        painter.setPen(QPen(text_color, 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.drawLine(plot.bottomLeft(), plot.topLeft())


class LineChart(_Chart):
    """Named series of (x, y) points joined by lines, with a legend; hover shows the nearest point.

    Use `set_series` to replace a series, `append_point` to grow one (a live training curve)."""

    def __init__(
        self, parent: QWidget | None = None, *, title: str = "", x_label: str = "", y_label: str = ""
    ) -> None:
        super().__init__(parent, title, y_label)
        self._x_label = x_label
        self._x_format: Formatter = _default_format
        self._x_min_step = 0.0
        self._series: dict[str, list[tuple[float, float]]] = {}
        self._bounds: list[float] | None = None  # [x_min, x_max, y_min, y_max] over all finite points
        self._to_screen: tuple[Callable, Callable] = (float, float)  # data -> pixels, as last drawn

    # -- data -------------------------------------------------------------------------------------

    def set_x_label(self, label: str) -> None:
        self._x_label = label
        self.update()

    def set_x_format(self, formatter: Formatter | None, min_step: float = 0.0) -> None:
        """How x values read; `min_step` is the smallest tick interval (1 for whole numbers)."""
        self._x_format = formatter or _default_format
        self._x_min_step = min_step
        self.update()

    def series(self) -> dict[str, list[tuple[float, float]]]:
        return {name: list(points) for name, points in self._series.items()}

    def set_series(self, name: str, points: Iterable[tuple[float, float]]) -> None:
        self._series[name] = [(float(x), float(y)) for x, y in points]
        self._recompute_bounds()
        self.update()

    def append_point(self, name: str, x: float, y: float) -> None:
        """Add a point to a series (created on first use); non-finite values are kept out of the
        axes so one diverged step cannot flatten the rest of the curve."""
        x, y = float(x), float(y)
        self._series.setdefault(name, []).append((x, y))
        if math.isfinite(x) and math.isfinite(y):
            if self._bounds is None:
                self._bounds = [x, x, y, y]
            else:
                b = self._bounds
                b[0], b[1], b[2], b[3] = min(b[0], x), max(b[1], x), min(b[2], y), max(b[3], y)
        self.update()

    def clear(self) -> None:
        self._series.clear()
        self._bounds = None
        self.update()

    def _recompute_bounds(self) -> None:
        finite = [p for points in self._series.values() for p in points if all(map(math.isfinite, p))]
        if not finite:
            self._bounds = None
            return
        xs, ys = [p[0] for p in finite], [p[1] for p in finite]
        self._bounds = [min(xs), max(xs), min(ys), max(ys)]

    # -- drawing ----------------------------------------------------------------------------------

    def _x_range(self) -> tuple[float, float]:
        """The data's x span with a small margin, so a first or last point is not drawn on the frame."""
        low, high = self._bounds[0], self._bounds[1]
        margin = (high - low) * 0.03 if high > low else 1.0
        return low - margin, high + margin

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._bounds is None:
            self._plot = QRectF()
            self._draw_placeholder(painter)
            return
        metrics = QFontMetrics(painter.font())
        area = QRectF(self.rect()).adjusted(_PAD, _PAD, -_PAD, -_PAD)
        header = self._draw_header(painter, area, list(self._series))
        y_ticks = nice_ticks(self._bounds[2], self._bounds[3])
        x_low, x_high = self._x_range()
        bottom = metrics.height() * (2 if self._x_label else 1) + 8
        plot = QRectF(
            area.left() + self._y_axis_width(painter, y_ticks),
            area.top() + header + metrics.height() / 2,  # room for the top tick's label
            0,
            0,
        )
        plot.setRight(area.right() - metrics.horizontalAdvance(self._x_format(x_high)) / 2)
        plot.setBottom(area.bottom() - bottom)
        if plot.width() < 20 or plot.height() < 20:
            return
        self._plot = plot
        y_low, y_high = y_ticks[0], y_ticks[-1]
        max_x_ticks = max(2, int(plot.width() // (metrics.horizontalAdvance(self._x_format(x_high)) + 24)))
        x_ticks = nice_ticks(x_low, x_high, max_x_ticks, self._x_min_step)
        x_ticks = [t for t in x_ticks if x_low <= t <= x_high] or [x_low]

        def to_x(x: float) -> float:
            return plot.left() + (x - x_low) / (x_high - x_low) * plot.width()

        def to_y(y: float) -> float:
            return plot.bottom() - (y - y_low) / (y_high - y_low) * plot.height()

        self._to_screen = (to_x, to_y)
        self._draw_y_axis(painter, plot, y_ticks, to_y)
        text_color = self.palette().color(self.foregroundRole())
        previous = None
        for tick in x_ticks:
            label = self._x_format(tick)
            if label == previous:  # a coarse format (dates, rounded numbers) would repeat itself
                continue
            previous = label
            x = to_x(tick)
            painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 4))
            width = metrics.horizontalAdvance(label)
            painter.drawText(
                QRectF(x - width / 2 - 2, plot.bottom() + 5, width + 4, metrics.height()),
                Qt.AlignmentFlag.AlignHCenter,
                label,
            )
        if self._x_label:
            painter.setPen(text_color)
            painter.drawText(
                QRectF(plot.left(), plot.bottom() + 5 + metrics.height(), plot.width(), metrics.height()),
                Qt.AlignmentFlag.AlignHCenter,
                self._x_label,
            )
        painter.setClipRect(plot.adjusted(-4, -4, 4, 4))
        for index, points in enumerate(self._series.values()):
            self._draw_series(painter, points, self.color(index), to_x, to_y)

    @staticmethod
    def _draw_series(painter: QPainter, points, color: QColor, to_x: Callable, to_y: Callable) -> None:
        path = QPainterPath()
        pen_down = False
        finite = []
        for x, y in points:
            if not (math.isfinite(x) and math.isfinite(y)):
                pen_down = False  # a gap where the value is missing, not a line through it
                continue
            point = QPointF(to_x(x), to_y(y))
            finite.append(point)
            if pen_down:
                path.lineTo(point)
            else:
                path.moveTo(point)
                pen_down = True
        painter.setPen(QPen(color, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        if len(finite) <= 60:  # dots help read a few points; on a long curve they are noise
            painter.setBrush(color)
            for point in finite:
                painter.drawEllipse(point, 3, 3)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        nearest = self._nearest(event.position())
        if nearest is None:
            QToolTip.hideText()
        else:
            name, x, y = nearest
            QToolTip.showText(
                event.globalPosition().toPoint(), f"{name}\n{self._x_format(x)}: {self._y_format(y)}", self
            )
        super().mouseMoveEvent(event)

    def _nearest(self, pos: QPointF) -> tuple[str, float, float] | None:
        if self._plot.isEmpty() or not self._plot.adjusted(-8, -8, 8, 8).contains(pos):
            return None
        to_x, to_y = self._to_screen
        best, best_distance = None, float(_HOVER_PIXELS)
        for name, points in self._series.items():
            for x, y in points:
                if not (math.isfinite(x) and math.isfinite(y)):
                    continue
                distance = math.hypot(to_x(x) - pos.x(), to_y(y) - pos.y())
                if distance <= best_distance:
                    best, best_distance = (name, x, y), distance
        return best


class BarChart(_Chart):
    """Grouped bars: for each group (a metric) one bar per series (a variant), from zero, the value
    above each bar where it fits, and a star on the bars `set_data` marks (the best ones)."""

    def __init__(self, parent: QWidget | None = None, *, title: str = "", y_label: str = "") -> None:
        super().__init__(parent, title, y_label)
        self._groups: list[str] = []
        self._series: list[str] = []
        self._values: list[list[float | None]] = []
        self._marked: set[tuple[int, int]] = set()
        self._bars: list[tuple[QRectF, int, int]] = []  # drawn bars, for the tooltip

    def set_data(
        self,
        groups: Sequence[str],
        series: Sequence[str],
        values: Sequence[Sequence[float | None]],
        marked: Iterable[tuple[int, int]] = (),
    ) -> None:
        """`values[s][g]` is series s in group g (None: no bar); `marked` holds (s, g) pairs."""
        if len(values) != len(series) or any(len(row) != len(groups) for row in values):
            raise ValueError("values must have one row per series and one value per group")
        self._groups, self._series = list(groups), list(series)
        self._values = [[None if v is None else float(v) for v in row] for row in values]
        self._marked = set(marked)
        self.update()

    def clear(self) -> None:
        self.set_data([], [], [])

    def _finite_values(self) -> list[float]:
        return [v for row in self._values for v in row if v is not None and math.isfinite(v)]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        values = self._finite_values()
        self._bars = []
        if not values:
            self._plot = QRectF()
            self._draw_placeholder(painter)
            return
        metrics = QFontMetrics(painter.font())
        area = QRectF(self.rect()).adjusted(_PAD, _PAD, -_PAD, -_PAD)
        header = self._draw_header(painter, area, self._series)
        # Bars start at zero: a bar's length is its value, or the chart would mislead.
        y_ticks = nice_ticks(min(0.0, *values), max(0.0, *values), 5)
        plot = QRectF(
            area.left() + self._y_axis_width(painter, y_ticks), area.top() + header + metrics.height(), 0, 0
        )
        plot.setRight(area.right())
        plot.setBottom(area.bottom() - metrics.height() - 6)
        if plot.width() < 20 or plot.height() < 20:
            return
        self._plot = plot
        y_low, y_high = y_ticks[0], y_ticks[-1]

        def to_y(y: float) -> float:
            return plot.bottom() - (y - y_low) / (y_high - y_low) * plot.height()

        self._draw_y_axis(painter, plot, y_ticks, to_y)
        text_color = self.palette().color(self.foregroundRole())
        group_width = plot.width() / len(self._groups)
        # Capped: two bars across a whole panel read as blocks, not as bars.
        bar_width = min(group_width * 0.8 / max(len(self._series), 1), _MAX_BAR_WIDTH)
        zero = to_y(0.0)
        for g, group in enumerate(self._groups):
            left = plot.left() + g * group_width + (group_width - bar_width * len(self._series)) / 2
            for s in range(len(self._series)):
                value = self._values[s][g]
                if value is None or not math.isfinite(value):
                    continue
                top = to_y(value)
                bar = QRectF(left + s * bar_width + 1, min(top, zero), bar_width - 2, abs(zero - top))
                painter.fillRect(bar, self.color(s))
                self._bars.append((bar, s, g))
                label = self._y_format(value) + (" ★" if (s, g) in self._marked else "")
                if metrics.horizontalAdvance(label) <= bar_width + 6:
                    painter.setPen(text_color)
                    painter.drawText(
                        QRectF(
                            bar.center().x() - bar_width,
                            bar.top() - metrics.height() - 1,
                            2 * bar_width,
                            metrics.height(),
                        ),
                        Qt.AlignmentFlag.AlignHCenter,
                        label,
                    )
                elif (s, g) in self._marked:
                    painter.setPen(text_color)
                    painter.drawText(
                        QRectF(
                            bar.left() - 10,
                            bar.top() - metrics.height() - 1,
                            bar.width() + 20,
                            metrics.height(),
                        ),
                        Qt.AlignmentFlag.AlignHCenter,
                        "★",
                    )
            painter.setPen(text_color)
            name = metrics.elidedText(group, Qt.TextElideMode.ElideRight, int(group_width) - 4)
            painter.drawText(
                QRectF(plot.left() + g * group_width, plot.bottom() + 4, group_width, metrics.height()),
                Qt.AlignmentFlag.AlignHCenter,
                name,
            )

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        pos = event.position()
        hit = next(((s, g) for bar, s, g in self._bars if bar.adjusted(-2, -2, 2, 2).contains(pos)), None)
        if hit is None:
            QToolTip.hideText()
        else:
            s, g = hit
            text = f"{self._series[s]}\n{self._groups[g]}: {self._y_format(self._values[s][g])}"
            QToolTip.showText(event.globalPosition().toPoint(), text, self)
        super().mouseMoveEvent(event)
