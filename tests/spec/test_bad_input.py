"""Bad input: each case gives one clear message naming the file and the field,
exit code 1, and sends nothing to BigQuery (the CLI is pointed at a loopback
listener that counts connections)."""

import socket
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reconcile.cli import main as cli
from reconcile.spec.load import load_spec
from reconcile.spec.model import SpecError

GOOD = """\
version: 1
project: demo-project
default_location: us-central1
datasets:
  raw: {}
  ops: {}
tables:
  raw.weather:
    columns:
      - {name: date, type: DATE, mode: REQUIRED}
      - {name: station, type: STRING}
loads:
  - {source: staging/weather.parquet, table: raw.weather, keys: [date, station]}
"""


class Listener:
    """A loopback TCP listener standing in for BigQuery: counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.connections += 1
                c.close()
            except OSError:
                pass

    @property
    def host(self):
        return "127.0.0.1:%d" % self.sock.getsockname()[1]

    def close(self):
        self._stop = True
        self.t.join(1)
        self.sock.close()


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "desired_state").mkdir()
    (tmp_path / "staging").mkdir()
    lst = Listener()
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", lst.host)
    yield tmp_path, lst
    lst.close()


def write(root: Path, text: str) -> Path:
    p = root / "desired_state" / "spec.yaml"
    p.write_text(text)
    return p


CASES = [
    # (name, spec text transform, expected substrings in the message)
    ("malformed_yaml", lambda s: s + "  - [unclosed\n", ["spec.yaml", "malformed YAML", "line"]),
    ("unknown_top_key", lambda s: s + "datsets: {}\n", ["spec.yaml", "datsets", "unknown key"]),
    ("unknown_nested_key", lambda s: s.replace("raw: {}", "raw: {locaton: US}"),
     ["datasets.raw.locaton", "unknown key"]),
    ("bad_location", lambda s: s.replace("raw: {}", "raw: {location: us-centrl1}"),
     ["datasets.raw.location", "unknown BigQuery location"]),
    ("bad_dataset_name", lambda s: s.replace("raw: {}", "raw: {}\n  my-data: {}"),
     ["datasets.my-data", "invalid dataset name"]),
    ("backtick_breakout", lambda s: s.replace("raw.weather:\n", "raw.`weather; DROP SCHEMA raw`:\n"),
     ["tables.raw.`weather; DROP SCHEMA raw`", "invalid table name"]),
    ("hostile_column", lambda s: s.replace("name: station", "name: 'station` STRING); DROP TABLE x; --'"),
     ["tables.raw.weather.columns[1].name", "invalid column name"]),
    ("missing_ddl", lambda s: s.replace("raw.weather:\n    columns:", "raw.news:\n    ddl: sql/nope.sql\n  raw.weather:\n    columns:"),
     ["tables.raw.news.ddl", "not found"]),
    ("path_escape_ddl", lambda s: s.replace("raw.weather:\n    columns:", "raw.news:\n    ddl: ../../etc/passwd\n  raw.weather:\n    columns:"),
     ["tables.raw.news.ddl", "escapes the project"]),
    ("absolute_path", lambda s: s.replace("staging/weather.parquet", "/etc/passwd.parquet"),
     ["loads[0].source", "absolute path"]),
    ("undeclared_dataset", lambda s: s.replace("table: raw.weather", "table: nowhere.weather"),
     ["loads[0].table", "nowhere"]),
    ("bad_type", lambda s: s.replace("type: STRING", "type: VARCHAR"),
     ["tables.raw.weather.columns[1].type", "unknown BigQuery type"]),
    ("wrong_value_type", lambda s: s.replace("keys: [date, station]", "keys: date"),
     ["loads[0].keys"]),
    ("missing_project", lambda s: s.replace("project: demo-project\n", ""), ["project", "required"]),
    ("bad_project", lambda s: s.replace("project: demo-project", "project: Demo_Project!"),
     ["project", "invalid project id"]),
    ("top_level_list", lambda s: "- a\n- b\n", ["expected a mapping"]),
]


@pytest.mark.parametrize("name,mutate,expect", CASES, ids=[c[0] for c in CASES])
def test_bad_spec_exits_1_with_file_and_field(project, capsys, name, mutate, expect):
    root, lst = project
    spec = write(root, mutate(GOOD))
    code = cli.main(["plan", "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for s in expect:
        assert s in err, (s, err)
    assert lst.connections == 0


def test_unreadable_parquet_exits_1(project, capsys):
    root, lst = project
    spec = write(root, GOOD)
    (root / "staging" / "weather.parquet").write_bytes(b"PAR1 this is not parquet")
    code = cli.main(["plan", "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 1
    assert "staging/weather.parquet" in err and "loads[0].source" in err and "unreadable Parquet" in err
    assert lst.connections == 0


def test_truncated_parquet_exits_1(project, capsys):
    root, lst = project
    spec = write(root, GOOD)
    t = pa.table({"date": pa.array([1], pa.int32()).cast(pa.date32()), "station": ["X"]})
    path = root / "staging" / "weather.parquet"
    pq.write_table(t, path)
    path.write_bytes(path.read_bytes()[:-20])
    assert cli.main(["plan", "--spec", str(spec)]) == 1
    assert "unreadable Parquet" in capsys.readouterr().err
    assert lst.connections == 0


def test_unknown_target_exits_1(project, capsys):
    root, lst = project
    spec = write(root, GOOD)
    assert cli.main(["plan", "--spec", str(spec), "--target", "prod"]) == 1
    assert "--target" in capsys.readouterr().err
    assert lst.connections == 0


def test_bad_approval_name_exits_1(project, capsys, tmp_path):
    root, lst = project
    spec = write(root, GOOD)
    snap = tmp_path / "snap.json"
    snap.write_text('{"version": 1, "project": "demo-project", "taken_at": "2025-11-19T00:00:00+00:00"}')
    assert cli.main(["plan", "--spec", str(spec), "--snapshot", str(snap),
                     "--approve-relocation", "x`; DROP"]) == 1
    assert "--approve-relocation" in capsys.readouterr().err


def test_good_spec_loads():
    d = load_spec(Path(__file__).resolve().parents[2] / "desired_state" / "cbi-v14.yaml")
    assert d.project == "cbi-v14"
    assert sum(1 for n in d.datasets if d.location_of(n) == "us-central1") == 13
    assert {"raw_intelligence", "market_data", "features", "training", "predictions", "monitoring",
            "api", "dim", "ops", "signals", "regimes", "neural"} <= set(d.datasets)
    assert len(d.ddl_statements) == 4


def test_include_composes_and_rejects_duplicates(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    ds = tmp_path / "desired_state"
    ds.mkdir()
    (ds / "main.yaml").write_text("version: 1\nproject: demo-project\ndefault_location: EU\n"
                                  "include: [more.yaml]\ndatasets: {ops: {}}\n")
    (ds / "more.yaml").write_text("datasets: {raw: {location: us}}\n")
    d = load_spec(ds / "main.yaml")
    assert d.location_of("raw") == "US" and d.location_of("ops") == "EU"
    (ds / "more.yaml").write_text("datasets: {ops: {}}\n")
    with pytest.raises(SpecError) as e:
        load_spec(ds / "main.yaml")
    assert "desired_state/more.yaml" in str(e.value) and "datasets.ops" in str(e.value)
