"""The machine-readable documents as pydantic models, and their JSON Schemas.

Three documents, each with a `schema_version`:

- the plan (`reconcile plan --format json`, `reconcile.render.json.render_json`): its
  action entries are generated from the action dataclasses themselves
  (`reconcile.plan.actions.ACTIONS`), so a field added to an action is in the schema
  without anyone writing it twice; each entry adds what `Action.to_dict()` and the
  renderer add (kind, key, destructive, blocked, stakes, text);
- the run result (`reconcile.render.run_result`), built by the very model below;
- the status (`reconcile status --format json`, `reconcile.monitor.status`), built by
  the model below too.

`python -m reconcile.render.schemas` writes `docs/schemas/{plan,result,status}.schema.json`;
`--check` writes nothing and exits 1 naming each file that is stale (a test runs it).
The models and `schemas()` are pure; only `main` touches files.

A field with a default is optional in a schema: a consumer reading an older document
of the same `schema_version` (a saved plan written before a field was added) still
validates. A field the models do not know is refused (`additionalProperties: false`):
adding one means adding it here, where the schema comes from. Removing or renaming a
field, or changing its meaning, means a new `schema_version`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, create_model

from reconcile.plan.actions import ACTIONS, Action
from reconcile.render.describe import VERBS

PLAN_SCHEMA_VERSION = 1
RUN_RESULT_SCHEMA_VERSION = 1
STATUS_SCHEMA_VERSION = 1

# Where the generated schemas live, relative to the repository root.
SCHEMA_DIR = Path("docs") / "schemas"

_STRICT = ConfigDict(extra="forbid", frozen=True)


class _Doc(BaseModel):
    model_config = _STRICT


def parse_iso_datetime(v: str) -> dt.datetime:
    """An ISO 8601 date-time with a timezone (ValueError otherwise)."""
    try:
        parsed = dt.datetime.fromisoformat(v)
    except (TypeError, ValueError) as e:
        raise ValueError(f"not an ISO 8601 date-time: {v!r}") from e
    if parsed.tzinfo is None:
        raise ValueError(f"a date-time without a timezone: {v!r}")
    return parsed


def _iso_datetime(v: str) -> str:
    parse_iso_datetime(v)
    return v  # kept as the caller wrote it


IsoDateTime = Annotated[str, AfterValidator(_iso_datetime), Field(json_schema_extra={"format": "date-time"})]

# ====================================================================== plan


class StakesDoc(_Doc):
    """What an action puts at stake (`Action.stakes`)."""

    tables: NonNegativeInt
    rows: NonNegativeInt


# What `Action.to_dict()` and `render_json` add to an action's own fields.
_DERIVED: dict[str, tuple[Any, Any]] = {
    "key": (str, Field(description="The action's identity in a plan (Kind:target...)")),
    "destructive": (bool, Field(description="It deletes or replaces data")),
    "blocked": (bool, Field(description="It will not run: blocked by another action or needs a human")),
    "stakes": (StakesDoc, ...),
    "text": (str, Field(description="The one-line description the text and Markdown plans show")),
}


def _field_spec(f: dataclasses.Field, hint: Any) -> tuple[Any, Any]:
    if f.default is not dataclasses.MISSING:
        return hint, f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return hint, Field(default_factory=f.default_factory)  # type: ignore[misc]
    return hint, ...


def action_document(cls: type[Action]) -> type[BaseModel]:
    """The plan JSON entry of one action class: its dataclass fields (types and
    defaults read from the class) plus the derived ones. Raises on a field that
    collides with a derived one (render_json would overwrite it)."""
    hints = typing.get_type_hints(cls)
    own = {f.name: _field_spec(f, hints[f.name]) for f in dataclasses.fields(cls)}
    clash = sorted(set(own) & (set(_DERIVED) | {"kind"}))
    if clash:
        raise TypeError(f"{cls.__name__} has field(s) {clash}, which the plan JSON derives itself")
    doc = cls.__doc__ if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "(") else None
    return create_model(  # type: ignore[call-overload]
        cls.__name__, __config__=_STRICT, __doc__=doc, __module__=__name__,
        kind=(Literal[cls.__name__], ...), **_DERIVED, **own)


ACTION_DOCUMENTS: tuple[type[BaseModel], ...] = tuple(action_document(c) for c in ACTIONS)
PlanAction = Annotated[Union[ACTION_DOCUMENTS], Field(discriminator="kind")]  # type: ignore[valid-type]

PlanCounts = create_model(  # type: ignore[call-overload]
    "PlanCounts", __config__=_STRICT, __module__=__name__,
    __doc__="Actions per kind: every kind of the closed union, 0 when absent.",
    **{cls.__name__: (NonNegativeInt, ...) for cls in ACTIONS})

PlanSummary = create_model(  # type: ignore[call-overload]
    "PlanSummary", __config__=_STRICT, __module__=__name__,
    __doc__="Tallies: changes (actions that would run) per verb, blocked, destructive, "
            "diagnostics, unmanaged.",
    counts=(PlanCounts, ...), changes=(NonNegativeInt, ...), blocked=(NonNegativeInt, ...),
    destructive=(NonNegativeInt, ...), diagnostics=(NonNegativeInt, ...),
    unmanaged=(NonNegativeInt, ...),
    **{"to_" + verb.replace(" ", "_"): (NonNegativeInt, ...) for verb in VERBS})


class PlanDocument(_Doc):
    """A plan as `reconcile plan --format json` prints it: actions in plan order."""

    schema_version: Literal[PLAN_SCHEMA_VERSION]  # type: ignore[valid-type]
    project: str
    snapshot_taken_at: str | None
    notes: list[str]
    exit_code: Literal[0, 2, 3] = Field(description="0 in sync, 2 changes pending, 3 blocked")
    summary: PlanSummary  # type: ignore[valid-type]
    actions: list[PlanAction]  # type: ignore[valid-type]


# ====================================================================== run result

# One per action handled; the same vocabulary as reconcile.apply.results.STATUSES
# (apply is a later stage: it is checked against this tuple by the tests).
RunStatus = Literal["done", "noop", "skipped", "blocked", "failed", "dry-run"]
RUN_STATUSES: tuple[str, ...] = typing.get_args(RunStatus)
ActionKind = Literal[tuple(cls.__name__ for cls in ACTIONS)]  # type: ignore[valid-type]


class RunResultEntry(_Doc):
    """One action handled by the run, with what it observed."""

    key: str
    kind: ActionKind  # type: ignore[valid-type]
    target: str
    status: RunStatus
    detail: str
    seconds: NonNegativeFloat
    observed: dict[str, Any] = Field(description="Values the action measured (rows, counts, locations)")
    job_ids: list[str] = Field(description="BigQuery job ids the action ran, when known")


class NotRunEntry(_Doc):
    """An action of the plan the run did not carry out, and why."""

    key: str
    kind: ActionKind  # type: ignore[valid-type]
    target: str
    reason: str


class AfterRun(_Doc):
    """The warehouse read again after the run (`reconcile.render.result.Assessment`)."""

    in_sync: bool
    drift: NonNegativeInt
    known_gaps: NonNegativeInt
    unmanaged: NonNegativeInt


class RunResult(_Doc):
    """One apply run, like dbt's run_results.json: per action key, outcome, duration,
    observed values and job ids; what was not run; the warehouse after."""

    schema_version: Literal[RUN_RESULT_SCHEMA_VERSION]  # type: ignore[valid-type]
    kind: Literal["run-result"]
    project: str
    target: str
    run_id: str
    dry_run: bool
    started_at: IsoDateTime
    finished_at: IsoDateTime
    seconds: NonNegativeFloat = Field(description="finished_at - started_at")
    plan_fingerprint: str | None = Field(description="The fingerprint of the saved plan applied, if any")
    exit_code: Literal[0, 1, 2, 3] = Field(
        description="0 converged, 1 failure, 2 changes remain, 3 blocked items remain")
    converged: bool
    reason: str
    counts: dict[RunStatus, NonNegativeInt] = Field(description="results per status")
    results: list[RunResultEntry]
    not_run: list[NotRunEntry]
    after: AfterRun | None


# ====================================================================== status

GateState = Literal["passed", "failed", "known gap", "not checked", "no checks", "never checked"]
Scalar = Union[str, int, float, bool, None]


class StatusTable(_Doc):
    """A table the spec names: its row count and date range, and its latest gate.

    gate: `passed`; `failed`; `known gap` (fails only on gates this target declares it
    cannot meet); `not checked` (the latest gate was blocked); `no checks` (the latest
    gate checked nothing); `never checked` (the spec gates it, no run has checked it);
    null (the spec declares no gate for it)."""

    table: str
    rows: int | None
    date_column: str | None
    min_date: str | None
    max_date: str | None
    distinct_dates: int | None
    gate: GateState | None


class StatusView(_Doc):
    """One monitoring view's rows (columns: docs/monitoring.md), or why there are none."""

    view: str | None = Field(description="dataset.view; null when the spec declares none")
    problem: str | None
    rows: list[dict[str, Scalar]]


class StatusViews(_Doc):
    row_counts: StatusView
    coverage: StatusView
    regimes: StatusView
    ingestion: StatusView
    expectations: StatusView


class StatusKnownGap(_Doc):
    """A gate or source the target declared it cannot meet, failing now, with the reason."""

    object: str
    check: str
    reason: str


class StatusUnchecked(_Doc):
    """A table whose gate vouches for nothing: blocked, with no checks, or never run."""

    table: str
    gate: Literal["not checked", "no checks", "never checked"]
    detail: str


class StatusDocument(_Doc):
    """`reconcile status --format json`. healthy: nothing missing, failing or unchecked,
    and no known gap. needs_attention (exit 3): a view unreadable, a gate failing or
    blocked, a source failed, refused, missing or never loaded (known gaps excepted)."""

    schema_version: Literal[STATUS_SCHEMA_VERSION]  # type: ignore[valid-type]
    project: str
    target: str
    read_at: IsoDateTime
    healthy: bool
    needs_attention: bool
    exit_code: Literal[0, 3]
    summary: str
    problems: list[str] = Field(description="Views that could not be read")
    known_gaps: list[StatusKnownGap]
    unchecked: list[StatusUnchecked]
    unloaded: list[str] = Field(description="Declared sources (table <- source) with no load and no problem recorded")
    tables: list[StatusTable]
    views: StatusViews


# ====================================================================== schemas

DOCUMENTS: dict[str, type[BaseModel]] = {
    "plan.schema.json": PlanDocument,
    "result.schema.json": RunResult,
    "status.schema.json": StatusDocument,
}
_TITLES = {
    "plan.schema.json": "bq-reconcile plan",
    "result.schema.json": "bq-reconcile run result",
    "status.schema.json": "bq-reconcile status",
}


def schema_of(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one document, from its model."""
    model = DOCUMENTS[name]
    body = model.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **body, "title": _TITLES[name]}


def schemas() -> dict[str, str]:
    """File name -> the file's text (sorted keys, indent 2, one trailing newline)."""
    return {name: json.dumps(schema_of(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            for name in DOCUMENTS}


def main(argv: list[str] | None = None) -> int:
    """Write docs/schemas/*.schema.json (under the current directory or --root), or with
    --check report each stale or missing file and exit 1."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m reconcile.render.schemas", description=main.__doc__)
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    ap.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: .)")
    args = ap.parse_args(argv)
    folder = args.root / SCHEMA_DIR
    stale = []
    for name, text in schemas().items():
        path = folder / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    for path in stale:
        print(f"{path} is stale: run python -m reconcile.render.schemas", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
