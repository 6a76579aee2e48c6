"""What `--allow-destructive` allows, in the plan's own words.

    --allow-destructive replace:DATASET.TABLE   replace that table (a migration destination
                                                holding other rows; backed up first)
    --allow-destructive delete:DATASET          delete that archive source (only if the spec
                                                also says `archive.delete_sources: true`)
    --allow-destructive replace                 every replacement the plan shows
    --allow-destructive delete                  every archive-source deletion the spec asks for
    --allow-destructive                         (bare) the same as `replace`: it never deletes

A value may be a glob (`replace:market.fwd_*`). The flag repeats. A deletion is never
allowed by the CLI alone: the spec's `delete_sources: false` (the default) always wins.
Bare `--allow-destructive` keeps its old meaning for replacements only, because one flag
that both replaced a table and deleted every archive source was how rows were lost.

Pure: parsing and matching strings.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable

VERBS = ("replace", "delete")
BARE = "replace"


class AllowError(ValueError):
    """An --allow-destructive value that is not one of the forms above."""


@dataclass(frozen=True)
class Allows:
    tokens: tuple[str, ...] = ()

    @classmethod
    def of(cls, value: "bool | str | Iterable[str] | Allows | None") -> "Allows":
        """From a bool (True: the bare flag), one token, or many; each token checked."""
        if isinstance(value, Allows):
            return value
        if value is None or value is False:
            return cls()
        if value is True:
            return cls((BARE,))
        tokens = (value,) if isinstance(value, str) else tuple(value)
        for t in tokens:
            check(t)
        return cls(tuple(dict.fromkeys(tokens)))

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def _allows(self, verb: str, obj: str) -> bool:
        for t in self.tokens:
            v, _, pattern = t.partition(":")
            if v == verb and (not pattern or pattern == obj or fnmatch.fnmatchcase(obj, pattern)):
                return True
        return False

    def replace(self, table: str) -> bool:
        return self._allows("replace", table)

    def delete(self, dataset: str) -> bool:
        return self._allows("delete", dataset)


def check(token: str) -> str:
    """The token if it is `replace`, `delete`, `replace:TABLE` or `delete:DATASET`."""
    if not isinstance(token, str):
        raise AllowError(f"--allow-destructive {token!r}: not a string")
    verb, sep, obj = token.partition(":")
    if verb not in VERBS or (sep and not obj) or any(c in obj for c in "`'\"; \t\n"):
        raise AllowError(f"--allow-destructive {token!a}: expected replace, delete, "
                         "replace:DATASET.TABLE or delete:DATASET")
    return token


def needs(verb: str, obj: str) -> str:
    """The blocker of a destructive step the run was not allowed to take, naming the allow."""
    return f"destructive: needs --allow-destructive {verb}:{obj}"
