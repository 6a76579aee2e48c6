"""Validation and quoting of BigQuery identifiers and locations.

Every name that reaches SQL passes through here first: it is checked against
BigQuery's own naming rules and then backtick-quoted. Nothing in this module
talks to BigQuery; it must stay free of I/O so the spec loader and the planner
can use it.
"""

from __future__ import annotations

import re
import unicodedata

# Checked with fullmatch, never match: `$` also matches before a trailing newline,
# so "raw\n" would pass a match() of ^...$.
# BigQuery: project ids are 6-30 chars of lowercase letters, digits and hyphens
# (we also accept the legacy "domain:project" form's characters minus the colon).
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Datasets: letters, digits, underscores, at most 1,024 characters.
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
# Tables: BigQuery's own rule (https://cloud.google.com/bigquery/docs/tables#table_naming):
# up to 1,024 UTF-8 bytes of Unicode letters (L), marks (M), numbers (N), connectors
# (Pc, the underscore among them), dashes (Pd) and spaces (Zs), e.g. "table 01",
# "ग्राहक", "00_お客様", "étudiant-01". None of these can end a backtick-quoted name
# (no backtick, backslash, quote or control character is in those categories), so
# every such name is safe inside backticks.
TABLE_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
                              "Pc", "Pd", "Zs"})
TABLE_MAX_BYTES = 1024
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")

# Locations BigQuery accepts (multi-regions and regions). Kept as data so that
# adding a new region is a one-line change.
LOCATIONS = frozenset(
    {
        "US", "EU",
        "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1",
        "us-west2", "us-west3", "us-west4", "northamerica-northeast1",
        "northamerica-northeast2", "northamerica-south1", "southamerica-east1",
        "southamerica-west1", "europe-central2", "europe-north1", "europe-north2",
        "europe-southwest1", "europe-west1", "europe-west2", "europe-west3",
        "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10",
        "europe-west12", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2",
        "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1",
        "asia-southeast2", "australia-southeast1", "australia-southeast2",
        "me-central1", "me-central2", "me-west1", "africa-south1",
    }
)


class IdentifierError(ValueError):
    """A name that BigQuery would reject, or that could escape its quoting."""


def normalize_location(value: str) -> str:
    """Return BigQuery's canonical spelling of a location ("us" -> "US")."""
    if value.upper() in ("US", "EU"):
        return value.upper()
    return value.lower()


def check_location(value: str) -> str:
    loc = normalize_location(value)
    if loc not in LOCATIONS:
        raise IdentifierError(f"unknown BigQuery location {value!a}")
    return loc


def same_location(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return normalize_location(a) == normalize_location(b)


# Names already found valid, per pattern: a spec of 10,000 tables checks the same column
# names 80,000 times (bounded; a pure cache of a pure check).
_VALID: set[tuple[str, str]] = set()


def _checked(value: str, pattern: re.Pattern[str], what: str, rule: str) -> str:
    if isinstance(value, str) and (pattern.pattern, value) in _VALID:
        return value
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise IdentifierError(f"invalid {what} {value!a}: {rule}")
    if len(_VALID) < 200_000:
        _VALID.add((pattern.pattern, value))
    return value


def check_project(value: str) -> str:
    return _checked(value, _PROJECT, "project id", "6-30 lowercase letters, digits or hyphens")


def check_dataset(value: str) -> str:
    return _checked(value, _DATASET, "dataset name", "only letters, digits and underscores")


# The ASCII characters of those categories: for an ASCII name the same rule, checked in C
# (issue 16: 10,000 table names one character at a time took 40 ms).
_ASCII_TABLE = re.compile(r"[A-Za-z0-9_\- ]{1,1024}")


def is_table_name(value: object) -> bool:
    """Whether BigQuery accepts `value` as a table (or view) name."""
    if isinstance(value, str) and value.isascii():
        return _ASCII_TABLE.fullmatch(value) is not None
    return (isinstance(value, str) and bool(value) and len(value.encode("utf-8")) <= TABLE_MAX_BYTES
            and all(unicodedata.category(c) in TABLE_CATEGORIES for c in value))


def check_table(value: str) -> str:
    if not is_table_name(value):
        raise IdentifierError(f"invalid table name {value!a}: up to 1,024 bytes of letters, marks, "
                              "numbers, underscores, dashes and spaces")
    return value


def check_column(value: str) -> str:
    return _checked(value, _COLUMN, "column name",
                    "a letter or underscore, then letters, digits, underscores")


def check_label(key: str, value: str) -> tuple[str, str]:
    if not _LABEL.fullmatch(key):
        raise IdentifierError(f"invalid label key {key!r}")
    if not _LABEL_VALUE.fullmatch(value):
        raise IdentifierError(f"invalid label value {value!a} for {key!r}")
    return key, value


def split_table_ref(ref: str) -> tuple[str, str]:
    """Split "dataset.table" into its two checked parts."""
    if not isinstance(ref, str) or ref.count(".") != 1:
        raise IdentifierError(f"expected 'dataset.table', got {ref!r}")
    ds, tbl = ref.split(".")
    return check_dataset(ds), check_table(tbl)


def quote(*parts: str) -> str:
    """Backtick-quote a checked path: quote('p', 'ds', 't') -> `p`.`ds`.`t`.

    Each part is validated again here, so a caller can never quote a string
    that slipped past the spec loader.
    """
    out = []
    for i, part in enumerate(parts):
        if not isinstance(part, str) or not part or "`" in part or "\\" in part:
            raise IdentifierError(f"refusing to quote {part!r}")
        if i == 0 and len(parts) == 3:
            check_project(part)
        elif len(parts) - i == 1 and len(parts) >= 2:
            check_table(part)
        else:
            check_dataset(part) if len(parts) >= 2 else _check_any(part)
        out.append(f"`{part}`")
    return ".".join(out)


def quote_column(name: str) -> str:
    return f"`{check_column(name)}`"


def _check_any(part: str) -> None:
    if not (is_table_name(part) or _PROJECT.fullmatch(part)):
        raise IdentifierError(f"refusing to quote {part!r}")
