"""Skill versions (pure: no Django): the shape of a version, a pin (``"name@2"`` or the ``version`` option) and
which of several versions is the newest."""

from __future__ import annotations

import re
from typing import Any

from .exceptions import InvalidInput

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,49}\Z")  # the Skill row's column holds 50


def check_version(value: Any, path: str) -> None:
    """None (no pin) or a version: 1-50 letters, digits or ``._+-``; else InvalidInput naming ``path``."""
    if value is not None and (not isinstance(value, str) or not VERSION_RE.match(value)):
        raise InvalidInput(path, f"must be a version: 1-50 letters, digits or ._+- (e.g. '2', '1.4.0'), got {value!r}")


def split_pin(skill: str, version: str | None, path: str = "") -> tuple[str, str | None]:
    """(name, pinned version or None) of a submission's ``skill`` and ``version``. ``"x@2"`` pins as
    ``version="2"`` does; both given must agree (a submission that says two things is refused, not guessed)."""
    p = f"{path}." if path else ""
    name, at, pinned = skill.partition("@")
    if not at:
        check_version(version, f"{p}version")
        return skill, version
    if not name:
        raise InvalidInput(f"{p}skill", f"needs a name before '@', got {skill!r}")
    check_version(pinned, f"{p}skill")
    if version is not None and version != pinned:
        raise InvalidInput(f"{p}version", f"{version!r} contradicts the version pinned in skill {skill!r}")
    return name, pinned


def order_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Sorts versions as people read them: numbers as numbers ("10" after "9", "1.10" after "1.9")."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.+-]", version))


def newest_first(versions: list[str]) -> list[str]:
    return sorted(versions, key=order_key, reverse=True)
