"""Names from the warehouse and the spec, made safe to print (issue 18).

A table or column name read from BigQuery is data: one holding an ANSI escape or a
control character could rewrite the terminal (a spoofed green "In sync" line) or split a
report line. `printable(s)` escapes every character that is not printable (Unicode
categories Cc, Cf, Cs, Co, Cn and the line and paragraph separators) as `\\xNN`,
`\\uNNNN`; printable text is unchanged. Every renderer passes names through it. Pure.
"""

from __future__ import annotations


def printable(s: object) -> str:
    text = str(s)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
