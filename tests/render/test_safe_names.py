"""Names holding control characters or ANSI escapes are printed escaped (issue 18): a
table named with an escape sequence must not repaint the terminal (a spoofed green
"In sync" line) nor split a report line, in the text and Markdown renderers."""

from __future__ import annotations

from reconcile.plan.actions import CreateTable, Plan, RunTransform, Unmanaged
from reconcile.render.markdown import render_markdown
from reconcile.render.text import render_text

SPOOF = "evil\x1b[2K\r\x1b[32mIn sync: nothing to do.\x1b[0m"


def _plan() -> Plan:
    return Plan(project="cbi-v14", actions=(
        Unmanaged(object=f"raw.{SPOOF}", object_type="TABLE", rows=3),
        CreateTable(table="raw.t\u202eabc", columns=(("col\x07", "STRING", "NULLABLE"),)),
        RunTransform(name="x", sql_file="sql/x.sql", outputs=("raw.x",), reason="r",
                     blocked_by=("sql/x.sql line 2: DROP TABLE raw.\x1b[31mx",)),
    ))


def test_text_report_has_no_raw_control_characters() -> None:
    out = render_text(_plan(), color=False)
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out and "\u202e" not in out, repr(out)
    assert "\\x1b[32mIn sync" in out  # shown, escaped: the reader sees what the name holds


def test_coloured_report_keeps_only_its_own_escapes() -> None:
    out = render_text(_plan(), color=True)
    assert "\x1b[32mIn sync" not in out and "\r" not in out
    assert "\\x1b[2K" in out


def test_markdown_report_escapes_them_too() -> None:
    out = render_markdown(_plan())
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out


def test_printable_leaves_ordinary_names_alone() -> None:
    from reconcile.render.safe import printable

    for name in ("market_data.vix_daily", "données.été", "表.列"):
        assert printable(name) == name
    assert printable("a\nb") == "a\\nb"
