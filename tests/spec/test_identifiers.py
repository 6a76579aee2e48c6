"""Table names follow BigQuery's own rule
(https://cloud.google.com/bigquery/docs/tables#table_naming): up to 1,024 UTF-8 bytes of
Unicode letters, marks, numbers, connectors, dashes and spaces; and every such name is
quoted safely. No BigQuery."""

from __future__ import annotations

import pytest

from reconcile import identifiers as ids


@pytest.mark.parametrize("name", [
    # The examples of Google's page, and the tool's own kind of names.
    "table 01", "ग्राहक", "00_お客様", "étudiant-01", "zl_training_prod_allhistory_1m", "a", "x" * 1024,
    "é" * 512,  # 1,024 bytes
])
def test_names_bigquery_accepts(name):
    assert ids.check_table(name) == name
    assert ids.quote("cbi-v14", "raw", name) == f"`cbi-v14`.`raw`.`{name}`"


@pytest.mark.parametrize("name", [
    "", "x" * 1025, "é" * 513, "weather; DROP SCHEMA raw", "a`b", "a\\b", "a.b", "a\nb", "a\tb",
    "quote'd", "dollar$", "star*", "emoji😀",
])
def test_names_bigquery_rejects(name):
    with pytest.raises(ids.IdentifierError, match="invalid table name"):
        ids.check_table(name)


def test_split_table_ref_accepts_spaces():
    assert ids.split_table_ref("training.zl_training_1m copy") == ("training", "zl_training_1m copy")


def by_categories(value: str) -> bool:
    """The rule itself, one character at a time (is_table_name checks ASCII names in C)."""
    import unicodedata

    return (bool(value) and len(value.encode("utf-8")) <= ids.TABLE_MAX_BYTES
            and all(unicodedata.category(c) in ids.TABLE_CATEGORIES for c in value))


@pytest.mark.parametrize("value", [chr(i) for i in range(128)] + ["ok " + chr(i) for i in range(128)]
                         + ["a" * 1024, "a" * 1025, "", "ab\n"])
def test_ascii_names_follow_the_categories(value):
    assert ids.is_table_name(value) == by_categories(value)
