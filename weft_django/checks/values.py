"""What the checks ask of a setting's value, shared by the settings and broker checks."""

from __future__ import annotations

from ..conf import settings, usable_seconds


def positive(name: str) -> bool:
    """Whether the setting WEFT_<name> is a usable number of seconds (above 0, finite, one that time.sleep takes)."""
    return usable_seconds(getattr(settings, name))
