"""Headings follow the interface language: bold CJK glyphs read far heavier than Latin bold."""

import pytest
from PySide6.QtGui import QFont

from llamadesk.core import i18n
from llamadesk.ui import headings


@pytest.fixture
def language():
    def use(name: str) -> None:
        i18n.set_language(name)

    yield use
    i18n.set_language(i18n.ENGLISH)


def test_latin_headings_are_semi_bold_at_their_size(language):
    language("en")
    assert headings.weight() == QFont.Weight.DemiBold
    assert "font-size: medium; font-weight: 600" in headings.heading_html("Runs")
    font = headings.heading_font(QFont("Sans", 10), 1.4)
    assert (font.pointSizeF(), font.weight()) == (pytest.approx(14.0), QFont.Weight.DemiBold)


def test_chinese_headings_are_medium_and_a_step_larger(language):
    language("zh_CN")
    assert headings.weight() == QFont.Weight.Medium
    assert "font-size: large; font-weight: 500" in headings.heading_html("运行")
    assert "font-size: xx-large" in headings.heading_html("模型", headings.PAGE)
    assert headings.heading_font(QFont("Sans", 10)).pointSizeF() > 10


def test_heading_text_and_fact_names_are_escaped_where_the_caller_says(language, qapp):
    language("en")
    assert "&lt;b&gt;" in headings.heading_html("<b>")
    table = headings.facts_table([("Rank", "8 &amp; more")])
    assert "<td style='font-weight: 600'>Rank&nbsp;&nbsp;</td><td>8 &amp; more</td>" in table
    title = headings.SectionTitle("Runs", "(select one)")
    assert title.text().endswith("</span> (select one)")
    language("zh_CN")
    title.set_title("运行", "（选择一个）")
    assert title.text().endswith("</span>（选择一个）")


def test_a_label_has_the_weight_without_the_size(language):
    language("zh_CN")
    assert headings.label_html("问题：") == "<span style='font-weight: 500'>问题：</span>"
