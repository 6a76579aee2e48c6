"""Field-level detail for a spec diff: which keys were added, removed or kept
(migra's `differences`), what changed inside an object (deepdiff), and how a value
reads to a reviewer. Pure."""

from __future__ import annotations

import difflib
from typing import Any

from deepdiff import DeepDiff


def value_text(x: Any) -> str:
    """A value as a reviewer reads it."""
    if x is None or type(x).__name__ == "NotPresent":
        return "(none)"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(value_text(i) for i in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in x.items()) + "}"
    return str(x)


def differences(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Keys added, removed and present in both (sorted), as migra's `differences`."""
    return sorted(set(b) - set(a)), sorted(set(a) - set(b)), sorted(set(a) & set(b))


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Field-level lines ("path: old -> new"), from deepdiff. A list changes as a whole."""
    dd = DeepDiff(old, new, view="tree", verbose_level=2)
    seen: dict[tuple, str] = {}
    for kind, levels in dd.items():
        for lv in levels:
            path = lv.path(output_format="list")
            cut = next((i for i, p in enumerate(path) if isinstance(p, int)), None)
            if cut is not None:  # an item inside a list: show the list before and after
                path = path[:cut]
                a, b = _get(old, path), _get(new, path)
            else:
                a, b = lv.t1, lv.t2
            key = tuple(path)
            if key in seen:
                continue
            dotted = ".".join(str(p) for p in path)
            if kind == "dictionary_item_added" and cut is None:
                seen[key] = f"{dotted}: added {value_text(b)}"
            elif kind == "dictionary_item_removed" and cut is None:
                seen[key] = f"{dotted}: removed (was {value_text(a)})"
            else:
                seen[key] = f"{dotted}: {value_text(a)} -> {value_text(b)}"
    return [seen[k] for k in sorted(seen, key=lambda k: [str(p) for p in k])]


def field_changes_with_text(old: dict[str, Any], new: dict[str, Any], key: str, label: str,
                            texts: tuple[str, str]) -> list[str]:
    """`field_changes` of everything but `key` (a SQL text, too long to show), then one
    "label: SQL changed (+a -b lines)" line if `key` differs; `texts` are the two SQL
    texts to count lines of."""
    lines = field_changes({k: v for k, v in old.items() if k != key},
                          {k: v for k, v in new.items() if k != key})
    if old[key] != new[key]:
        lines.append(f"{label}: " + text_delta(*texts))
    return lines


def _get(d: Any, path: list) -> Any:
    for p in path:
        if isinstance(d, dict):
            d = d.get(p)
        elif isinstance(d, (list, tuple)) and isinstance(p, int) and p < len(d):
            d = d[p]
        else:
            return None
    return d


def brief(d: dict[str, Any], limit: int = 120) -> str:
    """An object's non-empty fields on one line, cut at `limit` characters."""
    text = ", ".join(f"{k}: {value_text(v)}" for k, v in d.items() if v not in (None, {}, [], ""))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_delta(old: str, new: str) -> str:
    a, b = old.strip().splitlines(), new.strip().splitlines()
    plus = minus = 0
    for line in difflib.unified_diff(a, b, lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            plus += 1
        elif line.startswith("-") and not line.startswith("---"):
            minus += 1
    return f"SQL changed (+{plus} -{minus} lines)"
