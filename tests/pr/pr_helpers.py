"""Helpers for the pull-request report tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixture"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SPEC = "desired_state/spec.yaml"


def check_golden(name: str, actual: str) -> None:
    """Compare with golden/<name>; UPDATE_GOLDEN=1 rewrites it (read the diff before committing)."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


class Repo:
    def __init__(self, root: Path):
        self.root = root

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
        r = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, env=env,
                           check=True)
        return r.stdout

    @property
    def spec(self) -> Path:
        return self.root / SPEC

    def edit(self, rel: str, change: Callable[[str], str]) -> None:
        p = self.root / rel
        before = p.read_text(encoding="utf-8")
        after = change(before)
        assert after != before, f"edit of {rel} changed nothing: the test's replace missed"
        p.write_text(after, encoding="utf-8")

    def replace(self, old: str, new: str, rel: str = SPEC) -> None:
        self.edit(rel, lambda s: s.replace(old, new))

    def commit(self, message: str = "change") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
