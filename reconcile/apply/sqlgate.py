"""The executor's SQL gate: a transform's script is re-checked as it is about to be sent.

The plan was made from the text the spec loaded (`DesiredState.transform_sql`, checked by
`reconcile.plan.compare.transforms.sql_refusals`). Before the script runs, the file is read
again and refused on any difference from that text (it changed since the plan: the
reviewed plan is not what would run), and the text is judged again, on live row counts:
a CREATE OR REPLACE TABLE over a table that gained rows since the plan is refused too.
What is sent is the planned text, never a second read of the file.

On a real BigQuery target, BigQuery itself then reads the text (a dry run: free, changes
nothing) and the statement type and referenced tables it reports must be the ones the
parser found (`dry_run_refusal`): a statement sqlglot read one way and BigQuery another
is not run.
"""

from __future__ import annotations

from reconcile.apply.context import Context
from reconcile.apply.results import ActionFailed
from reconcile.plan.compare.transforms import sql_refusals
from reconcile.spec import sqlparse
from reconcile.spec.load import sql_info_of


# BigQuery's statementType (https://cloud.google.com/bigquery/docs/reference/rest/v2/Job
# #JobStatistics2, statementType) for the statement kinds reconcile.spec.sqlparse names.
def _bq_types(kind: str) -> set[str]:
    k = kind.replace("OR REPLACE ", "").replace("TEMP ", "").replace("IF NOT EXISTS ", "")
    base = k.replace(" ", "_")
    if base == "CREATE_TABLE":
        return {"CREATE_TABLE", "CREATE_TABLE_AS_SELECT"}
    if base == "TRUNCATE":
        return {"TRUNCATE_TABLE"}
    return {base}


def dry_run_refusal(script: sqlparse.Script, statement_type: str | None,
                    referenced: tuple[str, ...]) -> str | None:
    """Why BigQuery's reading of a script (its dry run) disagrees with the parser's, or
    None. Pure. A script of several statements is a SCRIPT for BigQuery (its dry run
    reports no tables then); one statement must have the type the parser named and
    reference only tables the parser found it reading or writing."""
    stmts = script.statements
    want = {"SCRIPT"} if len(stmts) != 1 else _bq_types(stmts[0].kind)
    if statement_type not in want:
        return (f"BigQuery reads it as {statement_type or 'an unknown statement'}, the plan parsed "
                f"{' + '.join(s.kind for s in stmts) or 'nothing'}: not run")
    known = {r.lower() for r in (*script.reads, *script.writes, *script.creates)}
    odd = [r for r in referenced if r.lower() not in known]
    if odd:
        return f"BigQuery says it references {', '.join(sorted(odd))}, which the plan's parse does not: not run"
    return None


def confirm_by_dry_run(ctx: Context, name: str, script_text: str, location: str | None,
                       params: list | tuple = ()) -> None:
    """On a real BigQuery target: dry-run the text about to be sent; ActionFailed on any
    disagreement with the parser (`dry_run_refusal`). The emulator is skipped (it
    answers a dry run with the type only; tests run this against it with a bigquery-type
    adapter)."""
    d = ctx.d
    tr = d.transforms[name]
    statement_type, referenced = ctx.adapter.dry_run(script_text, location=location, params=params,
                                                     what=f"dry run of transform {name}")
    why = dry_run_refusal(sqlparse.analyze(d.transform_sql[name], d.project), statement_type, referenced)
    if why is not None:
        raise ActionFailed(f"{tr.sql}: {why}", {"statement_type": statement_type, "referenced": list(referenced)})


def checked_transform_sql(ctx: Context, name: str) -> str:
    """The text to send for transform `name`, or ActionFailed naming why not."""
    d = ctx.d
    tr = d.transforms[name]
    planned = d.transform_sql.get(name)
    if planned is None:
        raise ActionFailed(f"{tr.sql}: no checked SQL for transform {name} (the spec did not load it)")
    path = d.path(tr.sql)
    try:
        now = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ActionFailed(f"{tr.sql}: cannot read it again before running: {type(e).__name__}") from None
    if sqlparse.text_hash(now) != sqlparse.text_hash(planned):
        raise ActionFailed(f"{tr.sql} changed since the plan was made: not run (plan again to review it)")
    try:
        info = sql_info_of(tr.sql, planned, d.project)
    except sqlparse.SqlError as e:
        raise ActionFailed(f"{tr.sql}: {e}") from None
    written = [w for _, w in info.write_lines]
    outside = [w for w in written if w not in tr.outputs]
    if outside:
        raise ActionFailed(f"{tr.sql} writes {', '.join(sorted(set(outside)))}: not a declared output of {name}")

    def rows_of(ref: str) -> int | None:
        ds = ref.split(".", 1)[0]
        if ctx.location(ds) is None or not ctx.adapter.table_exists(ref):
            return None
        return ctx.counts([ref]).get(ref, -1)

    refused = sql_refusals(d, name, info, rows_of, managed=tr.outputs)
    if refused:
        raise ActionFailed("; ".join(refused))
    return planned
