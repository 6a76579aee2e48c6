"""`reconcile plan` reads the warehouse while the spec's SQL files are still being read and
checked (reconcile.cli.main._EarlyRead): the same plan as a read after the load, used only
when the loaded spec reads the same snapshot; a spec refused by its SQL is refused with the
same message, and nothing in the warehouse changes. Through the real CLI, in process,
against the session's local BigQuery.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apply"))
from apply_helpers import copy_staging, write_spec  # noqa: E402
from test_apply_loads import load_spec_text, view_files  # noqa: E402
from test_apply_cli import run  # noqa: E402

from reconcile.bq.adapter import Adapter  # noqa: E402
from reconcile.cli import main as cli  # noqa: E402
from reconcile.snapshot.rounds import spec_inputs  # noqa: E402
from reconcile.spec.load import load_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_the_preview_reads_what_the_loaded_spec_reads() -> None:
    """On the cbi-v14 spec (transforms, views, DDL files, loads, expectations, archive): the
    state before the SQL files are read has the loaded state's snapshot inputs."""
    early = []
    desired = load_spec(ROOT / "desired_state" / "cbi-v14.yaml", preview=early.append)
    assert len(early) == 1 and early[0] is not desired
    assert spec_inputs(early[0]) == spec_inputs(desired)
    assert early[0].sql_info == {} and desired.sql_info  # the preview came before the SQL


@pytest.fixture
def project(emulator, ds_prefix: str, project_root: Path, staging_src: Path, monkeypatch):
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", emulator.endpoint)
    monkeypatch.setenv("NO_COLOR", "1")
    copy_staging(staging_src, project_root, ["weather_granular.parquet", "vix_daily.parquet"])
    write_spec(project_root, load_spec_text(ds_prefix), view_files(ds_prefix))
    return project_root / "desired_state" / "spec.yaml"


def test_early_read_gives_the_plan_of_a_read_after_the_load(project: Path, capsys, monkeypatch) -> None:
    used = []
    take = cli._EarlyRead.take

    def spy(self, desired):
        got = take(self, desired)
        used.append(got is not None)
        return got

    monkeypatch.setattr(cli._EarlyRead, "take", spy)
    code, early_out, _ = run(capsys, "plan", "--spec", str(project))
    assert code == 2 and used == [True]
    # The same plan with the early read switched off (no preview): a read after the load.
    monkeypatch.setattr(cli._EarlyRead, "start", lambda self, early: None)
    code2, late_out, _ = run(capsys, "plan", "--spec", str(project))
    assert code2 == 2 and used == [True, False]
    stamp = re.compile(r"\(snapshot [^)]*\)")  # when each read began
    assert stamp.sub("", early_out) == stamp.sub("", late_out) and stamp.search(early_out)


def test_a_spec_refused_by_its_sql_is_refused_the_same(project: Path, capsys, adapter: Adapter,
                                                       ds_prefix: str, monkeypatch) -> None:
    view = project.parent.parent / "sql" / next(iter(view_files(ds_prefix)))[len("sql/"):]
    view.write_text("SELECT FROM WHERE (\n")  # not GoogleSQL: the loader refuses it, naming the file
    before = sorted(d for d, _ in adapter.list_datasets())
    code, out, err = run(capsys, "plan", "--spec", str(project))
    monkeypatch.setattr(cli._EarlyRead, "start", lambda self, early: None)
    code2, out2, err2 = run(capsys, "plan", "--spec", str(project))
    assert code == code2 != 0 and err == err2 and view.name in err
    assert sorted(d for d, _ in adapter.list_datasets()) == before
