"""Policy over the desired state: the migration plan's success rules, as named rules.

`reconcile lint` checks a spec, before anything is planned or applied, against the
rules the cbi-v14 migration plan calls critical success factors. Each rule has a
name, checks the spec only (no BigQuery, no credentials) and reports each
violation with the file and field to change. A violation can be waived for one
object with a reason, in the spec itself:

    waivers:
      - {rule: dataset-location, object: market_data, reason: "EU copy for the Paris desk"}

A waiver that names an unknown rule is an error; one that waives nothing is a
warning (it has gone stale). Exit 0 clean, 3 on violations.

Rules (RULES below): dataset-location, merge-not-truncate, migration-backup,
load-placeholder-gate, training-expectations, archive-keep.

`lint()` is pure (the SQL texts it parses, with reconcile.spec.sqlparse, are read
beforehand by `read_sql`); `lint_spec()` does the reading.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reconcile import identifiers as ids
from reconcile.render.md import cell, code
from reconcile.spec import sqlparse
from reconcile.spec.origins import Origins
from reconcile.spec.load import load_spec
from reconcile.spec.model import DesiredState

# Tables the training-expectations rule applies to, and the columns it looks for.
TRAINING_TABLES = "training.*"
REGIME_COLUMN = "regime"  # min_distinct on a column whose name contains this
WEIGHT_COLUMN = "weight"  # ranges on a column whose name contains this



@dataclass(frozen=True)
class Finding:
    rule: str
    object: str  # what a waiver names
    file: str
    field: str
    message: str
    waived_because: str | None = None

    @property
    def waived(self) -> bool:
        return self.waived_because is not None

    def to_dict(self) -> dict:
        return {"rule": self.rule, "object": self.object, "file": self.file, "field": self.field,
                "message": self.message, "waived": self.waived, "waiver_reason": self.waived_because}


@dataclass(frozen=True)
class LintReport:
    spec: str
    findings: tuple[Finding, ...]  # violations and waived ones
    errors: tuple[Finding, ...] = ()  # bad waivers: cannot be waived
    warnings: tuple[str, ...] = ()  # stale waivers

    @property
    def violations(self) -> tuple[Finding, ...]:
        return self.errors + tuple(f for f in self.findings if not f.waived)

    @property
    def waived(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.waived)

    def exit_code(self) -> int:
        return 3 if self.violations else 0

    def summary(self) -> str:
        n = len(self.violations)
        text = "clean" if not n else f"{n} violation{'s' if n != 1 else ''}"
        if self.waived:
            text += f", {len(self.waived)} waived"
        return text


@dataclass(frozen=True)
class Context:
    desired: DesiredState
    origins: Origins
    sql: dict[str, str]  # spec-relative path -> text, every SQL file the spec references


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str
    check: Callable[[Context], Iterable[Finding]]


# =========================================================================== rules


def _dataset_location(c: Context) -> Iterable[Finding]:
    d = c.desired
    for name in sorted(d.datasets):
        loc = d.datasets[name].location
        if loc and not ids.same_location(loc, d.default_location):
            f, fld = c.origins.of("datasets", name, "location")
            yield Finding("dataset-location", name, f, fld,
                          f"dataset {name} is declared in {loc}; every dataset must be in the project's "
                          f"location {d.default_location} (default_location). Remove the override, or waive "
                          f"it with a reason")


def _merge_not_truncate(c: Context) -> Iterable[Finding]:
    d = c.desired
    for i, ld in enumerate(d.loads):
        file, fld = c.origins.at("loads", i, "keys")
        if not ld.keys:
            yield Finding("merge-not-truncate", ld.table, file, fld,
                          f"load of {ld.source} into {ld.table} has no merge keys: loads MERGE on keys")
            continue
        declared = {n for n, _, _ in d.columns_of(ld.table) or []}
        missing = [k for k in ld.keys if declared and k not in declared]
        if missing:
            yield Finding("merge-not-truncate", ld.table, file, fld,
                          f"merge key {', '.join(missing)} is not a column of {ld.table}: "
                          f"the MERGE could not match rows")
    refs: list[tuple[str, str, str, str]] = []  # (object, section, field, path)
    for ref, t in sorted(d.tables.items()):
        if t.ddl:
            refs.append((ref, "tables", "ddl", t.ddl))
    for ref, v in sorted(d.views.items()):
        refs.append((ref, "views", "sql", v.sql))
    for name, tr in sorted(d.transforms.items()):
        refs.append((name, "transforms", "sql", tr.sql))
    for obj, section, sub, path in refs:
        text = c.sql.get(path)
        if text is None:
            continue
        file, fld = c.origins.of(section, obj, sub)
        # Read from the syntax tree (reconcile.spec.sqlparse): a statement written across
        # lines, with comments inside, is the same statement; a comment is not one.
        try:
            script = sqlparse.analyze(text, d.project)
        except sqlparse.SqlError as e:
            yield Finding("merge-not-truncate", obj, file, fld, f"{path}: cannot be checked: {e}")
            continue
        for s in script.statements:
            if s.destroys:
                yield Finding("merge-not-truncate", obj, file, fld,
                              f"{path} line {s.line}: {s.kind}: {s.destroys}; write a MERGE on keys "
                              f"(or CREATE TABLE IF NOT EXISTS, a DELETE with a WHERE) instead")


def _migration_backup(c: Context) -> Iterable[Finding]:
    for i, mg in enumerate(c.desired.migrations):
        if not mg.backup:
            file, fld = c.origins.at("migrations", i, "backup")
            yield Finding("migration-backup", mg.source, file, fld,
                          f"migration of {mg.source} -> {mg.to} has backup: false; legacy tables are "
                          f"backed up before they are copied (row counts are verified after every copy)")


def _load_placeholder_gate(c: Context) -> Iterable[Finding]:
    d = c.desired
    if d.placeholder_values:
        return
    for i, ld in enumerate(d.loads):
        if not any(ld.placeholders.values()):
            file, fld = c.origins.at("loads", i, "placeholders")
            yield Finding("load-placeholder-gate", ld.table, file, fld,
                          f"load of {ld.source} into {ld.table} checks no placeholder values: "
                          f"placeholder_values is empty and the load sets no placeholders of its own")


def training_tables(d: DesiredState) -> list[tuple[str, str, str, str]]:
    """(table or pattern, how it is declared, section, name-or-index) of every training table."""
    out: list[tuple[str, str, str, str]] = []
    for ref in sorted(d.tables):
        if fnmatch.fnmatchcase(ref, TRAINING_TABLES):
            out.append((ref, "declared table", "tables", ref))
    for i, mg in enumerate(d.migrations):
        dest = f"{mg.to}.{mg.rename.apply(mg.pattern)}"
        if fnmatch.fnmatchcase(dest, TRAINING_TABLES):
            out.append((dest, f"migrated from {mg.source}", "migrations", str(i)))
    for name, tr in sorted(d.transforms.items()):
        for o in tr.outputs:
            if fnmatch.fnmatchcase(o, TRAINING_TABLES) and o not in d.tables:
                out.append((o, f"output of transform {name}", "transforms", name))
    return out


def _training_expectations(c: Context) -> Iterable[Finding]:
    d = c.desired
    for ref, how, section, key in training_tables(d):
        exp = d.expectations_for(ref)
        missing = []
        if exp is None or not any(REGIME_COLUMN in col for col in exp.min_distinct):
            missing.append(f"regime (min_distinct on a {REGIME_COLUMN} column)")
        if exp is None or not any(WEIGHT_COLUMN in col for col in exp.ranges):
            missing.append(f"weight (ranges on a *{WEIGHT_COLUMN}* column)")
        if exp is None or exp.coverage is None:
            missing.append("coverage (a date range)")
        if not missing:
            continue
        if section == "migrations":
            file, _ = c.origins.at("migrations", int(key))
        else:
            file, _ = c.origins.of(section, key)
        fld = f"tables.{ref}.expect" if section == "tables" else f"expectations.{ref}"
        yield Finding("training-expectations", ref, file, fld,
                      f"training table {ref} ({how}) carries no {', no '.join(missing)} expectation")


def _archive_keep(c: Context) -> Iterable[Finding]:
    d = c.desired
    arc = d.archive
    if arc is None:
        return
    file, _ = c.origins.setting("archive")
    for i, k in enumerate(arc.keep):
        if not any(k == s or fnmatch.fnmatchcase(k, s) for s in arc.sources):
            yield Finding("archive-keep", k, file, f"archive.keep[{i}]",
                          f"keep {k} matches none of archive.sources {arc.sources}: it is never archived, "
                          f"so 'keep' protects nothing (a typo?)")
    if not arc.delete_sources:
        return
    for i, mg in enumerate(d.migrations):
        ds = mg.source_dataset
        if arc.matches(ds) and not arc.keeps(ds):
            yield Finding("archive-keep", ds, file, "archive.keep",
                          f"archive deletes its sources (delete_sources: true) and {ds} matches them, "
                          f"but migrations[{i}] reads from {ds}: add it to archive.keep")


RULES: tuple[Rule, ...] = (
    Rule("dataset-location", "every dataset in the declared location", _dataset_location),
    Rule("merge-not-truncate", "loads MERGE on keys; no SQL statement drops, truncates, replaces or "
                               "empties a table",
         _merge_not_truncate),
    Rule("migration-backup", "every migration backs up first (row counts are always verified)",
         _migration_backup),
    Rule("load-placeholder-gate", "every staging load has a placeholder gate", _load_placeholder_gate),
    Rule("training-expectations", f"tables matching {TRAINING_TABLES} carry regime, weight and "
                                  f"coverage expectations", _training_expectations),
    Rule("archive-keep", "the archive never deletes a dataset marked keep or still migrated from",
         _archive_keep),
)
RULE_NAMES = tuple(r.name for r in RULES)


# =========================================================================== running


def referenced_sql(d: DesiredState) -> list[str]:
    paths = [t.ddl for t in d.tables.values() if t.ddl]
    paths += [v.sql for v in d.views.values()]
    paths += [t.sql for t in d.transforms.values()]
    return sorted(set(paths))


def read_sql(d: DesiredState) -> dict[str, str]:
    out = {}
    for rel in referenced_sql(d):
        try:
            out[rel] = (Path(d.root) / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # load_spec already checked these files exist
    return out


def lint(desired: DesiredState, origins: Origins, sql: dict[str, str]) -> LintReport:
    """Run every rule, then apply the spec's waivers. Pure."""
    ctx = Context(desired, origins, sql)
    raw = [f for rule in RULES for f in rule.check(ctx)]
    waivers = {(w.rule, w.object): (i, w) for i, w in enumerate(desired.waivers)}
    used: set[tuple[str, str]] = set()
    findings = []
    for f in raw:
        hit = waivers.get((f.rule, f.object))
        if hit is not None:
            used.add((f.rule, f.object))
            f = Finding(f.rule, f.object, f.file, f.field, f.message, hit[1].reason)
        findings.append(f)
    errors, warnings = [], []
    for (rule, obj), (i, w) in waivers.items():
        file, fld = origins.at("waivers", i)
        if rule not in RULE_NAMES:
            errors.append(Finding("waiver", obj, file, fld + ".rule",
                                  f"waiver names unknown rule {rule!r}; rules: {', '.join(RULE_NAMES)}"))
        elif (rule, obj) not in used:
            warnings.append(f"{file}: {fld}: waiver of {rule} for {obj} waives nothing: remove it")
    return LintReport(desired.files[0] if desired.files else "", tuple(findings), tuple(errors),
                      tuple(warnings))


def lint_spec(path: str | Path) -> LintReport:
    desired = load_spec(path)
    return lint(desired, Origins.read(desired), read_sql(desired))


# =========================================================================== rendering


# A Markdown cell longer than this is cut.
_CELL = 400


def render_text(r: LintReport) -> str:
    lines = [f"Lint {r.spec}: {len(RULES)} rules ({', '.join(RULE_NAMES)})"]
    for f in r.violations:
        lines.append(f"  ✗ [{f.rule}] {f.file}: {f.field}: {f.message}")
    for f in r.waived:
        lines.append(f"  ~ [{f.rule}] {f.object}: waived ({f.waived_because})")
    lines += [f"  ! {w}" for w in r.warnings]
    if r.violations:
        lines.append("To waive one, add to the spec: waivers: [{rule: RULE, object: OBJECT, reason: WHY}]")
    lines.append(f"Lint: {r.summary()}.")
    return "\n".join(lines) + "\n"


LINT_HEAD = ["| rule | object | where | message |", "|---|---|---|---|"]


def violation_rows(r: LintReport, cap: int) -> list[str]:
    """The violations as a Markdown table (the first `cap`), for the lint report and the PR comment."""
    v = r.violations
    if not v:
        return []
    out = ["", *LINT_HEAD, *[lint_row(f) for f in v[:cap]]]
    return out + (["", f"… and {len(v) - cap:,} more"] if len(v) > cap else [])


def waived_and_warnings(r: LintReport, cap: int, *, name, count, text) -> list[str]:
    """The waived findings (folded) and the warnings; `name`, `count` and `text` format an
    object, a number and free text (the two reports spell them as they always have)."""
    out: list[str] = []
    if r.waived:
        out += ["", f"<details><summary>Waived ({count(len(r.waived))})</summary>", ""]
        out += [f"- {f.rule} for {name(f.object)}: {text(f.waived_because)}" for f in r.waived[:cap]]
        out += ["", "</details>"]
    return out + [f"- warning: {text(w)}" for w in r.warnings[:cap]]


def lint_row(f: Finding) -> str:
    where = f"{cell(f.file, _CELL, emphasis=True)}: {cell(f.field, _CELL, emphasis=True)}"
    return f"| {f.rule} | {code(f.object, None)} | {where} | {cell(f.message, _CELL, emphasis=True)} |"


def render_markdown(r: LintReport, *, max_rows: int = 50, heading: str = "###") -> str:
    lines = [f"{heading} Lint", "", f"**{r.summary()}** ({len(RULES)} rules: {', '.join(RULE_NAMES)})."]
    lines += violation_rows(r, max_rows)
    lines += waived_and_warnings(r, max_rows, name=lambda o: f"`{o}`", count=str,
                                 text=lambda s: cell(s, _CELL, emphasis=True))
    return "\n".join(lines) + "\n"


def render_json(r: LintReport) -> str:
    doc = {"schema_version": 1, "spec": r.spec, "rules": list(RULE_NAMES), "exit_code": r.exit_code(),
           "violations": [f.to_dict() for f in r.violations], "waived": [f.to_dict() for f in r.waived],
           "warnings": list(r.warnings)}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def run(args) -> int:
    """`reconcile lint`: print the report, return 0 clean or 3 on violations."""
    r = lint_spec(args.spec)
    fmt = getattr(args, "format", "text")
    out = render_json(r) if fmt == "json" else render_markdown(r) if fmt == "markdown" else render_text(r)
    sys.stdout.write(out)
    return r.exit_code()
