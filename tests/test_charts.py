import math

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage

from llamadesk.ui.charts import PALETTE, BarChart, LineChart, nice_ticks


@pytest.mark.parametrize(
    ("low", "high"),
    [(0.0, 1.0), (0.13, 0.91), (3.2, 3.2), (-5.0, 17.0), (120.0, 8000.0), (1e-4, 3e-4), (0.0, 0.0)],
)
def test_nice_ticks_cover_the_range_with_round_steps(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    assert 2 <= len(ticks) <= 8
    steps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    mantissa = steps.pop() / 10 ** math.floor(math.log10(ticks[1] - ticks[0]))
    assert round(mantissa, 6) in (1, 2, 5)


def test_whole_number_axes_get_whole_number_ticks():
    assert nice_ticks(1, 7, max_ticks=12) == [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0]
    assert nice_ticks(1, 7, max_ticks=12, min_step=1) == [1, 2, 3, 4, 5, 6, 7]


def test_nice_ticks_of_non_finite_values_are_empty():
    assert nice_ticks(float("nan"), 1.0) == []


def _colours(widget) -> set[str]:
    image: QImage = widget.grab().toImage()
    return {
        QColor(image.pixel(x, y)).name()
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
    }


def test_line_chart_paints_series_and_legend(qtbot):
    chart = LineChart(title="Loss", x_label="step", y_label="loss")
    qtbot.addWidget(chart)
    chart.resize(480, 300)
    for step in range(100):
        chart.append_point("train", step, 3 * math.exp(-step / 30))
    chart.set_series("eval", [(0, 3.1), (50, 0.9), (99, 0.4)])
    chart.append_point("eval", 120, float("nan"))  # a diverged point neither crashes nor stretches the axes
    assert list(chart.series()) == ["train", "eval"]
    assert chart._bounds == [0.0, 99.0, pytest.approx(3 * math.exp(-99 / 30)), 3.1]
    colours = _colours(chart)
    assert PALETTE[0].lower() in colours and PALETTE[1].lower() in colours


def test_line_chart_hover_finds_the_nearest_point(qtbot):
    chart = LineChart()
    qtbot.addWidget(chart)
    chart.resize(400, 260)
    chart.set_series("a", [(0, 0), (10, 10)])
    chart.grab()  # lays out the plot area
    to_x, to_y = chart._to_screen
    assert chart._nearest(QPointF(to_x(10) + 3, to_y(10))) == ("a", 10.0, 10.0)
    assert chart._nearest(QPointF(to_x(5), to_y(0))) is None


def test_line_chart_single_point_and_empty(qtbot):
    chart = LineChart()
    qtbot.addWidget(chart)
    chart.resize(300, 200)
    chart.set_placeholder("Nothing yet")
    assert PALETTE[0].lower() not in _colours(chart)
    chart.set_series("one", [(5.0, 2.0)])
    assert PALETTE[0].lower() in _colours(chart)
    chart.clear()
    assert chart.series() == {}
    chart.grab()


def test_bar_chart_groups_and_marks(qtbot):
    chart = BarChart(title="Scores")
    qtbot.addWidget(chart)
    chart.resize(480, 300)
    chart.set_data(["ppl zh", "ppl en"], ["base", "zh-pt"], [[320.0, 300.0], [250.0, None]], marked=[(1, 0)])
    colours = _colours(chart)
    assert PALETTE[0].lower() in colours and PALETTE[1].lower() in colours
    assert len(chart._bars) == 3
    bar, s, g = next(b for b in chart._bars if b[1:] == (1, 0))
    base_bar = next(b for b in chart._bars if b[1:] == (0, 0))[0]
    assert bar.height() < base_bar.height()  # 250 is drawn shorter than 320, both from zero
    assert bar.bottom() == pytest.approx(base_bar.bottom())


def test_bar_chart_rejects_misshapen_data_and_draws_empty(qtbot):
    chart = BarChart()
    qtbot.addWidget(chart)
    with pytest.raises(ValueError, match="one row per series"):
        chart.set_data(["a", "b"], ["s"], [[1.0]])
    chart.set_data(["a"], ["s"], [[None]])
    chart.grab()
    assert chart._bars == []
    chart.clear()
    chart.grab()
