"""The fast YAML path for large specs (reconcile.spec.load._fast_load) gives exactly what
PyYAML's safe loader gives, or steps aside: for texts full of the spellings on which YAML
1.1 and 1.2 differ (hypothesis), for the shipped spec, and for a generated spec large
enough to take the fast path. A duplicate key in a large file is still PyYAML's error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.spec import load as L
from reconcile.spec.model import SpecError

ROOT = Path(__file__).resolve().parents[2]

# Spellings PyYAML (1.1) and yaml-rs (1.2) read differently, and some they agree on.
TRICKY = ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "010", "0o10", "0x1F", "0b11", "1_000", "1:30",
          "1e3", "1.5e3", "1.", ".5", ".inf", "-.inf", ".nan", "~", "null", "Null", "true", "False", "2020-01-01",
          "2020-01-01 10:00:00", "2020-01-01T10:00:00Z", "-1", "+1", "0", "007", "1.25", "abc", "a b", "d0*.t1",
          "<<", "=", "'quoted'", '"dq"', "'on'", '"1e3"', "&a x", "*a", "!!str 1", "|", "x: y"]
scalar = st.sampled_from(TRICKY)


@st.composite
def documents(draw) -> str:
    keys = draw(st.lists(st.sampled_from(["a", "b", "c", "on", "1", "2020-01-01", "k_1"]), min_size=1,
                         max_size=5, unique=True))
    lines = []
    for k in keys:
        form = draw(st.integers(0, 2))
        if form == 0:
            lines.append(f"{k}: {draw(scalar)}")
        elif form == 1:
            lines.append(f"{k}: [{', '.join(draw(st.lists(scalar, max_size=4)))}]")
        else:
            inner = draw(st.lists(st.tuples(st.sampled_from(["x", "y", "name", "type"]), scalar), max_size=3,
                                  unique_by=lambda t: t[0]))
            lines.append(f"{k}: {{{', '.join(f'{a}: {b}' for a, b in inner)}}}")
    return "\n".join(lines) + "\n"


def pyyaml(text: str):
    return yaml.load(text, Loader=L._UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents())
def test_fast_path_equals_pyyaml_or_steps_aside(monkeypatch_text: None, text: str) -> None:
    fast = L._fast_load(text)
    if fast is L._NOT_FAST:
        return
    assert fast == pyyaml(text), text
    assert [type(v) for v in fast.values()] == [type(v) for v in pyyaml(text).values()], text


@pytest.fixture
def monkeypatch_text() -> None:
    """Every size takes the fast path in these tests (a module attribute, restored after)."""
    old = L.FAST_MIN_BYTES
    L.FAST_MIN_BYTES = 0
    yield
    L.FAST_MIN_BYTES = old


def test_shipped_spec_is_the_same_either_way(monkeypatch_text: None) -> None:
    text = (ROOT / "desired_state" / "cbi-v14.yaml").read_text(encoding="utf-8")
    fast = L._fast_load(text)
    if fast is not L._NOT_FAST:
        assert fast == pyyaml(text)


def big_spec(n: int, extra: str = "") -> str:
    cols = "[{name: date, type: DATE}, {name: symbol, type: STRING}, {name: close, type: FLOAT64}]"
    return (f"version: 1\nproject: cbi-v14\ndefault_location: us-central1\nops_dataset: d0\n"
            f"datasets: {{d0: {{}}, d1: {{location: EU}}}}\ntables:\n"
            + "".join(f"  d{i % 2}.t{i:05d}: {{columns: {cols}, expect: {{min_rows: {i}}}}}\n" for i in range(n))
            + extra)


def test_large_spec_takes_the_fast_path_and_loads_the_same(tmp_path: Path) -> None:
    text = big_spec(600)
    assert len(text) > L.FAST_MIN_BYTES
    fast = L._fast_load(text)
    assert fast is not L._NOT_FAST
    assert fast == pyyaml(text)
    (tmp_path / "desired_state").mkdir()
    (tmp_path / "desired_state" / "spec.yaml").write_text(text)
    d = L.load_spec(tmp_path / "desired_state" / "spec.yaml", root=tmp_path)
    assert len(d.tables) == 600 and d.tables["d1.t00599"].expect.min_rows == 599


def test_large_spec_with_a_duplicate_key_is_pyyamls_error(tmp_path: Path) -> None:
    text = big_spec(600, extra=textwrap.dedent("""\
        views: {}
        tables: {}
        """))
    (tmp_path / "desired_state").mkdir()
    (tmp_path / "desired_state" / "spec.yaml").write_text(text)
    with pytest.raises(SpecError) as e:
        L.load_spec(tmp_path / "desired_state" / "spec.yaml", root=tmp_path)
    assert "key 'tables' given twice (first on line 6)" in str(e.value)


# The fast spellings of the 1.1-only check (issue 16) answer exactly as the patterns they
# replace, on texts made of the characters those patterns look at.
CHARS = list("0123456789:<?-.%&*!|>\t\r\n\\ []{},#'\"ayY~_\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000")


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(CHARS), max_size=40))
def test_never_is_the_never_pattern(text: str) -> None:
    assert L._never(text) == bool(L._NEVER.search(text)), repr(text)
    assert L._words(text) == set(L._TOKENS.findall(text)), repr(text)


@pytest.mark.parametrize("text", ["x" + " a*b" * 1200 + "\n", " a*b" * 1200 + " *c", "*" * 1001,
                                  "a: 1" * 2000 + "b 1:2", "x\n---\n", "a: b\n...", "%YAML", "a ? b", "a  b"])
def test_never_on_many_indicators(text: str) -> None:
    assert L._never(text) == bool(L._NEVER.search(text)), text[-20:]


def test_large_spec_with_dates_reads_them_as_pyyaml_does() -> None:
    text = big_spec(600, extra="placeholder_values: [2020-01-01, x, 1999-12-31]\n")
    fast = L._fast_load(text)
    assert fast is not L._NOT_FAST
    assert fast == pyyaml(text)
    assert [type(v).__name__ for v in fast["placeholder_values"]] == ["date", "str", "date"]
