"""Replace a generated block of README.md between its markers.

    <!-- NAME:start -->
    ... generated text ...
    <!-- NAME:end -->

The benchmark (`bench`) and the reliability suite (`reliability`) each regenerate
their own block from the figures of a real run, so the README never carries a
hand-typed number. The markers must already be in README.md (under "## Proof");
nothing outside them is touched.
"""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def update_block(name: str, text: str, readme: Path = README) -> bool:
    """Put `text` between the NAME markers of `readme`. False if the markers are missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    doc = readme.read_text(encoding="utf-8")
    i, j = doc.find(start), doc.find(end)
    if i < 0 or j < i:
        return False
    new = doc[: i + len(start)] + "\n" + text.strip("\n") + "\n" + doc[j:]
    if new != doc:
        readme.write_text(new, encoding="utf-8")
    return True
