"""What the checks ask of a setting's value, shared by the settings and broker checks."""

from __future__ import annotations

from ..conf import settings


def positive(name: str) -> bool:
    """Whether the setting WEFT_<name> is a number above 0 (a bool is not a number here)."""
    value = getattr(settings, name)
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
