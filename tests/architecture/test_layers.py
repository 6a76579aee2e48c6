"""The layout is a contract, not a description.

* The import-linter contracts in pyproject.toml hold (stages layered, pure stages
  never reach BigQuery, the library never imports Prefect, no cycles), and a
  deliberate violation in a copy of the tree is caught by them.
* Per-action knowledge is complete: every action class declares its own, every
  registry keyed by action class covers exactly its kinds, and a kind left out
  fails at import (never a silent default).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import flows
import reconcile
from reconcile.plan import actions as A
from reconcile.plan.registry import ActionRegistry

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "--no-cache"]


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd), "NO_COLOR": "1"}
    return subprocess.run(LINT, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_layering_contracts_hold():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_lower_stage_importing_a_higher_one_is_caught(tmp_path: Path):
    for part in ("reconcile", "flows"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planner = tmp_path / "reconcile" / "plan" / "planner.py"
    planner.write_text(planner.read_text() + "\nfrom reconcile.apply import executor  # deliberate\n")
    r = _lint(tmp_path)
    assert r.returncode != 0
    assert "reconcile.plan.planner -> reconcile.apply.executor" in r.stdout


def _import_everything() -> list[str]:
    names = []
    for pkg in (reconcile, flows):
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if m.name.endswith("__main__"):
                continue
            importlib.import_module(m.name)
            names.append(m.name)
    return names


def test_every_registry_covers_every_kind():
    assert len(_import_everything()) > 20
    assert ActionRegistry.ALL, "no registry keyed by action class was found"
    for reg in ActionRegistry.ALL:
        assert reg.kinds, reg.concern
        assert reg.missing() == [], f"{reg.concern} lacks {reg.missing()}"


def test_a_new_action_kind_without_its_knowledge_fails_at_import():
    @dataclass(frozen=True, kw_only=True)
    class DropEverything(A.Action):  # declares nothing of its own
        name: str

    with pytest.raises(TypeError, match="DropEverything.target.*DropEverything.label"):
        A._check_knowledge((DropEverything,))

    @dataclass(frozen=True, kw_only=True)
    class FlagSomething(A.OnDataset, A.Action):
        name: str
        needs_attention = True

    with pytest.raises(TypeError, match="FlagSomething.skip_reason"):
        A._check_knowledge((FlagSomething,))


def test_a_registry_missing_a_kind_fails_loudly():
    reg: ActionRegistry = ActionRegistry("test registry", A.ACTIONS)
    try:
        reg.register(*A.ACTIONS[:-1])(lambda a: a)
        with pytest.raises(TypeError, match=A.ACTIONS[-1].__name__):
            reg.verify()
        with pytest.raises(A.UnknownAction):
            reg[A.Unmanaged(object="x", object_type="dataset")]
    finally:
        ActionRegistry.ALL.remove(reg)
