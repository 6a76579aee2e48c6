"""Validation and quoting of BigQuery identifiers and locations.

Every name that reaches SQL passes through here first: it is checked against
BigQuery's own naming rules and then backtick-quoted. Nothing in this module
talks to BigQuery; it must stay free of I/O so the spec loader and the planner
can use it.
"""

from __future__ import annotations

import re

# Checked with fullmatch, never match: `$` also matches before a trailing newline,
# so "raw\n" would pass a match() of ^...$.
# BigQuery: project ids are 6-30 chars of lowercase letters, digits and hyphens
# (we also accept the legacy "domain:project" form's characters minus the colon).
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Datasets: letters, digits, underscores, at most 1,024 characters.
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
# Tables: BigQuery allows Unicode letters, marks, numbers, Pc, Pd and spaces;
# this tool deliberately accepts the portable subset so every name is safe
# inside backticks and in file names.
_TABLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,1023}$")
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


def check_project(value: str) -> str:
    if not isinstance(value, str) or not _PROJECT.fullmatch(value):
        raise IdentifierError(
            f"invalid project id {value!a}: 6-30 lowercase letters, digits or hyphens"
        )
    return value


def check_dataset(value: str) -> str:
    if not isinstance(value, str) or not _DATASET.fullmatch(value):
        raise IdentifierError(
            f"invalid dataset name {value!a}: only letters, digits and underscores"
        )
    return value


def check_table(value: str) -> str:
    if not isinstance(value, str) or not _TABLE.fullmatch(value):
        raise IdentifierError(
            f"invalid table name {value!a}: only letters, digits, underscores and hyphens"
        )
    return value


def check_column(value: str) -> str:
    if not isinstance(value, str) or not _COLUMN.fullmatch(value):
        raise IdentifierError(
            f"invalid column name {value!a}: a letter or underscore, then letters, digits, underscores"
        )
    return value


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
    if not (_TABLE.fullmatch(part) or _PROJECT.fullmatch(part)):
        raise IdentifierError(f"refusing to quote {part!r}")
