"""What a change to the desired state does to the spec: added, removed, modified.

`reconcile spec-diff --base REF` loads the spec as it was at a git ref (the spec
file and every file it includes or references, DDL and view SQL, extracted with
`git archive` into a temporary folder, so it is validated by the same models)
and the spec in the working tree, and compares them object by object, the way
migra's `differences()` compares two inspections: datasets, tables (with their
columns), views, loads, migrations, the archive, expectations, transforms,
targets, settings and lint waivers. Field-level detail comes from deepdiff.

A change is *destructive* when it can lose data or weaken a gate: a dataset or
table dropped from the spec, a location changed, a column dropped or its type
changed, a merge key changed, a migration's backup turned off, the archive told
to delete more, an expectation loosened (a lower floor, a wider range, fewer
placeholder values, a shorter coverage, a gate removed).

Reading the two specs does I/O (git, local files); `diff()` itself is pure and
needs no credentials and no BigQuery. What a destructive change puts at stake in
rows is resolved later against a snapshot (`Change.stakes`, see prcomment.py).

The package, in the order the data flows:

    model      Change, Stake, SpecDiff: what a diff is made of
    read       Side (one version of the spec), read_base (the spec at a git ref), GitError
    fields     differences, field_changes, how a value reads
    gates      when a gate loosens (expectations, load file gates, placeholders)
    differ     diff(): section by section; columns judged by plan.schema's rule table
    render     text, Markdown, JSON

This module reads both sides and runs the command (`spec_diff`, `run`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from reconcile.review.specdiff.differ import diff
from reconcile.review.specdiff.model import SECTIONS, Change, SpecDiff, Stake
from reconcile.review.specdiff.read import GitError, Side, read_base
from reconcile.review.specdiff.render import (
    CHANGE_HEAD, change_row, render, render_json, render_markdown, render_text,
)
from reconcile.spec.load import load_spec

__all__ = ["CHANGE_HEAD", "SECTIONS", "Change", "GitError", "Side", "SpecDiff", "Stake", "change_row",
           "diff", "read_base", "render", "render_json", "render_markdown", "render_text", "run",
           "spec_diff"]


def spec_diff(spec_path: str | Path, base_ref: str) -> SpecDiff:
    """Read the spec at `base_ref` and in the working tree, and diff them."""
    head = Side.read(load_spec(spec_path))
    base = read_base(spec_path, base_ref)
    return diff(base, head, base_ref=base_ref)


def run(args) -> int:
    """`reconcile spec-diff`: print the report, return 0 / 2 / 3."""
    d = spec_diff(args.spec, args.base)
    out = render(d, args.format)
    sys.stdout.write(out)
    if getattr(args, "out", None):
        Path(args.out).write_text(out, encoding="utf-8")
    return d.exit_code()
