"""Small Solara components the pages share: labelled sliders, number tables, figures.

Every control carries the CSS class ``abm-control-<key>`` and every table or figure a class
of its own, so a browser (the test, the screenshots) finds them without relying on layout.
No component here loads anything from the network: Solara's ``Markdown`` would fetch KaTeX
from a CDN, so text is plain.
"""

from __future__ import annotations

import html
import io

import solara

__all__ = ["ControlSlider", "NumbersTable", "HtmlTable", "FigureImage", "figure_image", "Help", "PageTitle",
           "APP_TITLE"]

APP_TITLE = "AI training-data market"


def _shown(value, integer: bool) -> str:
    if value is None:
        return "n/a"
    return f"{int(value)}" if integer else f"{float(value):g}"


@solara.component
def ControlSlider(key: str, label: str, value, low: float, high: float, step: float, integer: bool = False,
                  on_value=None, disabled: bool = False):
    """A slider with its label and current value above it; ``value`` may be a reactive variable."""
    current = value.value if isinstance(value, solara.Reactive) else value
    with solara.Column(gap="0px", classes=["abm-control", f"abm-control-{key}"]):
        solara.Text(f"{label}: {_shown(current, integer)}", style={"font-size": "0.85em"})
        slider = solara.SliderInt if integer else solara.SliderFloat
        if current is None:
            slider("", value=low, min=low, max=high, step=step, disabled=True)
        else:
            slider("", value=value, min=low, max=high, step=step, on_value=on_value, disabled=disabled)


def _cell(cell, code: bool) -> str:
    text = html.escape(str(cell))
    return f"<td><code>{text}</code></td>" if code else f"<td>{text}</td>"


def _table_html(header, rows, css_class: str, code_column: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(_cell(cell, i == code_column) for i, cell in enumerate(row)) + "</tr>"
                   for row in rows)
    return f'<table class="abm-table {css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


TABLE_STYLE = """
<style>
.abm-table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
.abm-table th, .abm-table td { border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.abm-table td { font-variant-numeric: tabular-nums; }
.abm-numbers td:last-child, .abm-numbers th:last-child { text-align: right; }
.v-application .abm-table code { font-size: 0.75em; color: #666; background: none; padding: 0; box-shadow: none; }
</style>
"""


@solara.component
def HtmlTable(header, rows, css_class: str, title: str | None = None, code_column: int | None = None):
    """A plain HTML table (class ``abm-table`` and ``css_class``); ``code_column`` is set in monospace."""
    with solara.Card(title, margin=0, classes=[f"{css_class}-card"]):
        solara.HTML(tag="div", unsafe_innerHTML=TABLE_STYLE + _table_html(header, rows, css_class, code_column))


def _numbers_html(rows, css_class: str) -> str:
    body = "".join(f"<tr><td>{html.escape(words)}<br><code>{html.escape(key)}</code></td>"
                   f"<td>{html.escape(value)}</td></tr>" for words, key, value in rows)
    return (f'<table class="abm-table {css_class}"><thead><tr><th>quantity (column name)</th><th>value</th></tr>'
            f"</thead><tbody>{body}</tbody></table>")


@solara.component
def NumbersTable(rows, title: str, css_class: str):
    """Rows of ``(words, key, value)``, the key (the column name the CLI's files use) under the words."""
    with solara.Card(title, margin=0, classes=[f"{css_class}-card"]):
        solara.HTML(tag="div", unsafe_innerHTML=TABLE_STYLE + _numbers_html(rows, css_class))


@solara.component
def FigureImage(make, dependencies, css_class: str):
    """A matplotlib figure made by ``make()``, redrawn only when ``dependencies`` change, as PNG."""

    def render() -> bytes:
        figure = make()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()

    image = solara.use_memo(render, dependencies)
    with solara.Div(classes=["abm-figure", css_class]):
        solara.Image(image, format="png", width="100%")


def figure_image(make, dependencies, css_class: str):
    """Shorthand for :func:`FigureImage`."""
    return FigureImage(make, list(dependencies), css_class)


@solara.component
def Help(text: str):
    """A line of explanation under a page's title."""
    solara.Text(text, style={"color": "#555", "font-size": "0.9em", "display": "block", "margin-bottom": "6px"})


@solara.component
def PageTitle(name: str):
    """The page's title, in the browser tab and the app bar."""
    solara.Title(f"{name} | {APP_TITLE}")
