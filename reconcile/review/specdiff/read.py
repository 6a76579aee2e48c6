"""Reading the two sides of a spec diff: the spec in the working tree, and the spec
as it was at a git ref (`git archive` into a temporary folder, no checkout, so
included YAML, DDL and view SQL come from the same commit and are validated by the
same models). This is the spec diff's only I/O."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconcile.spec.load import find_root, load_spec
from reconcile.spec.model import DesiredState, SpecError
from reconcile.spec.origins import Origins


class GitError(RuntimeError):
    """git could not give the spec at the base ref (no repository, unknown ref)."""


@dataclass(frozen=True)
class Side:
    """One version of the spec, with what the diff needs that lives in files."""

    desired: DesiredState
    origins: Origins
    transform_sql: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, desired: DesiredState) -> "Side":
        sql = {}
        for name, tr in desired.transforms.items():
            try:
                sql[name] = (Path(desired.root) / tr.sql).read_text(encoding="utf-8")
            except OSError:
                sql[name] = ""
        return cls(desired, Origins.read(desired), sql)


def _git(args: list[str], cwd: Path, *, binary: bool = False) -> Any:
    try:
        r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])}: {msg[-1] if msg else f'exit {r.returncode}'}")
    return r.stdout if binary else r.stdout.decode().strip()


def read_base(spec_path: str | Path, ref: str) -> Side | None:
    """The spec at `ref`, loaded and validated; None if the spec file did not exist there.

    Extracts the project folder at that ref (`git archive`, no checkout, the working
    tree is untouched) into a temporary folder, so included YAML, DDL and view SQL
    come from the same commit."""
    spec_abs = Path(spec_path).resolve()
    here = spec_abs.parent if spec_abs.parent.is_dir() else Path.cwd()
    top = Path(_git(["rev-parse", "--show-toplevel"], here))
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top)
    except GitError:
        raise GitError(f"--base: {ref!r} is not a commit in {top} (fetch it first, e.g. "
                       f"`git fetch origin {ref}`, or check out with fetch-depth: 0)") from None
    root = find_root(spec_abs)
    try:
        rel_spec = spec_abs.relative_to(top.resolve()).as_posix()
        rel_root = root.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise GitError(f"{spec_path} is not inside the git repository {top}") from None
    try:
        _git(["cat-file", "-e", f"{ref}:{rel_spec}"], top)
    except GitError:
        return None
    tree = _git(["archive", "--format=tar", ref] + ([] if rel_root == "." else ["--", rel_root]),
                top, binary=True)
    with tempfile.TemporaryDirectory(prefix="reconcile-base-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
            tar.extractall(tmp, filter="data")
        base_root = Path(tmp) / rel_root
        try:
            desired = load_spec(Path(tmp) / rel_spec, root=base_root)
        except SpecError as e:
            raise SpecError(f"{ref}:{e.file}", e.field, e.message) from None
        return Side.read(desired)
