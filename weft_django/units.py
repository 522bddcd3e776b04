"""Numbers as people read and write them: memory, durations, CPU time, costs and exit codes, and a whole number
typed in a query string. Pure: no Django.

A page shows ``203 MB`` and ``1.4 s``, never ``203.4765625`` or ``0.07200000000000001``.
"""

from __future__ import annotations

import signal


def megabytes(mb: float | None) -> str:
    """``mb`` megabytes (MiB, as the monitor measures RSS) as ``812 KB``, ``203 MB`` or ``1.5 GB``."""
    if mb is None:
        return ""
    if mb < 1:
        return f"{round(mb * 1024)} KB"
    if mb < 1024:
        return f"{mb:.1f} MB" if mb < 10 else f"{round(mb)} MB"
    return f"{mb / 1024:.1f} GB"


def seconds(s: float | None) -> str:
    """A duration: ``12 ms``, ``1.4 s``, ``42 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if s is None:
        return ""
    if s < 1:
        return f"{round(s * 1000)} ms"
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{round(s)} s"
    whole = round(s)
    if whole < 3600:
        m, rest = divmod(whole, 60)
        return f"{m} min" + (f" {rest} s" if rest else "")
    if whole < 86400:
        h, rest = divmod(whole, 3600)
        return f"{h} h" + (f" {rest // 60} min" if rest // 60 else "")
    d, rest = divmod(whole, 86400)
    return f"{d} d" + (f" {rest // 3600} h" if rest // 3600 else "")


def ago(s: float) -> str:
    """How long ago, coarsely: ``just now``, ``12 s ago``, ``3 min ago``, ``2 h ago``, ``5 d ago``."""
    if s < 1:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if s >= size:
            return f"{int(s // size)} {unit} ago"
    return f"{int(s)} s ago"


def cost(value: float | None) -> str:
    """A cost, to four significant digits without float noise: 0.07200000000000001 is ``0.072``."""
    if value is None:
        return ""
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"


def tokens(used: int, limit: int | None) -> str:
    """"41,200 of 100,000 tokens used", or "41,200 tokens used" without a budget."""
    return f"{used:,} of {limit:,} tokens used" if limit else f"{used:,} tokens used"


def exit_code(code: int | None) -> str:
    """An exit code as a person reads it: ``0``, ``exit 3``, ``killed by SIGKILL`` (a negative code is the
    signal that ended the process, as subprocess reports it)."""
    if code is None:
        return ""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return "0 (success)" if code == 0 else f"exit {code}"


def whole_number(text: str) -> int | None:
    """``text`` (a query parameter) as a whole number of 0 or more that fits a bigint, or None. ASCII digits
    only: ``"²".isdigit()`` is true and ``int("²")`` raises, which made a 500 of ``?after=²``."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
