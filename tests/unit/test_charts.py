"""Console charts: SVG that parses, says what it shows (title, description, labels as text),
refers to nothing outside itself, and is the same for the same data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from ordermesh.entrypoints.console.charts import bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 3, 1) + timedelta(days=n) for n in range(3)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 -- our own chart, not input from outside


def texts(svg: str) -> list[str]:
    """Every piece of text drawn in the chart."""
    root = parse(svg)
    return ["".join(node.itertext()).strip() for node in root.iter(f"{SVG}text")]


def test_a_bar_chart_has_a_title_a_description_and_its_labels_as_text() -> None:
    # Given stage times per channel
    svg = bar_chart("Stage times & p90", ["web", "pos"], {"p50": [12, 3.5], "p90": [40, None]},
                    "minutes")
    # Then it parses, is an image named by its first child, the <title>
    root = parse(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root[0], root[1]
    assert title.tag == f"{SVG}title" and title.text == "Stage times & p90"
    assert root.get("aria-labelledby") == title.get("id")
    assert desc.tag == f"{SVG}desc"
    assert desc.text == "p50 (minutes): web: 12, pos: 3.5; p90 (minutes): web: 40, pos: no data"
    # And the title, labels, unit and legend are drawn as text, not as glyph outlines
    assert {"Stage times & p90", "web", "pos", "minutes", "p50", "p90"} <= set(texts(svg))


def test_a_line_chart_labels_its_days() -> None:
    svg = line_chart("Allocation p50 per day", DAYS, {"web": [5, None, 7]}, "minutes")
    assert parse(svg)[0].text == "Allocation p50 per day"
    assert {"2026-03-01", "2026-03-02", "2026-03-03", "minutes"} <= set(texts(svg))


def test_the_same_data_gives_the_same_svg() -> None:
    def draw() -> tuple[str, str]:
        return (bar_chart("Sales", ["A", "B"], {"EUR": [1999, 2500]}, "EUR cents"),
                line_chart("Trend", DAYS, {"p90": [1, 2, 3]}, "minutes"))

    assert draw() == draw()
    assert draw()[0] != bar_chart("Sales", ["A", "B"], {"EUR": [1999, 2501]}, "EUR cents")


def test_a_chart_refers_to_nothing_outside_itself() -> None:
    svg = bar_chart("Sales", ["A"], {"EUR": [1]}, "EUR cents")
    # Only the XML namespace names remain: no DTD, font, image or style is fetched
    assert set(re.findall(r"https?://[^\"'\s]+", svg)) == {
        "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "<!DOCTYPE" not in svg and "@font-face" not in svg and "<image" not in svg


def test_text_is_drawn_as_it_is_written() -> None:
    # A dollar sign would start matplotlib's mathematics; markup is escaped, not injected
    svg = bar_chart("Revenue in $ per <b>SKU</b>", ["$A$", "B&C"], {"USD": [3, 4]}, "$")
    assert {"Revenue in $ per <b>SKU</b>", "$A$", "B&C", "$"} <= set(texts(svg))


def test_no_data_is_said_and_mismatched_series_are_refused() -> None:
    empty = line_chart("Trend", [], {}, "minutes")
    assert "No data" in texts(empty)
    assert parse(empty)[1].text == "No data"
    with pytest.raises(ValueError):
        bar_chart("Sales", ["A", "B"], {"EUR": [1]}, "EUR cents")
