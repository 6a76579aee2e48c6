"""Fixtures for the pull-request reports: a throwaway git repository per test.

`repo` copies `fixture/` (a small spec with every kind of object, its SQL files
and a saved snapshot) into tmp_path, commits it as the base on branch `main`,
and lets a test edit the spec as a pull request would. No BigQuery, no network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pr_helpers import FIXTURE, Repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("snapshot.json"))
    shutil.copy(FIXTURE / "snapshot.json", tmp_path / "snapshot.json")
    r = Repo(root)
    r.git("init", "-q", "-b", "main")
    r.commit("base")
    r.git("checkout", "-q", "-b", "pr")
    return r
