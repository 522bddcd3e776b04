"""Which version of a skill a submission runs: the one it pins (``"x@2"`` or ``version="2"``), else the newest
version registered in code that an operator has not disabled (its Skill row's ``enabled``). The task row keeps
the version chosen, so a newer version registered later, or this one disabled, changes nothing it already has."""

from __future__ import annotations

from collections.abc import Sequence

from . import registry, versions
from .exceptions import SkillDisabled, UnknownSkill
from .registry import SkillDef


def choose(wanted: Sequence[tuple[str, str, str | None]]) -> list[SkillDef]:
    """The SkillDef each ``(path, skill, version)`` runs, in order. At most one query, and none unless a skill
    named without a pin has several versions registered (a lone version's ``enabled`` is checked after
    resolving, by ``check_enabled`` or the fast submission's statement). Errors name ``path.skill`` (or
    ``path.version``): an unknown version lists the registered ones; every version disabled is SkillDisabled."""
    from .models import Skill

    split = []
    for path, skill, version in wanted:
        name, pinned = versions.split_pin(skill, version, path)
        split.append((f"{path}." if path else "", name, pinned, "@" in skill))
    ambiguous: dict[str, list[str]] = {}
    for _, name, pinned, _ in split:
        if pinned is None and name not in ambiguous:
            ambiguous[name] = registry.versions_of(name)
    ambiguous = {n: found for n, found in ambiguous.items() if len(found) > 1}
    off = set(Skill.objects.filter(name__in=list(ambiguous), enabled=False)
              .values_list("name", "version")) if ambiguous else set()
    out = []
    for p, name, pinned, in_skill in split:
        field = f"{p}version" if pinned is not None and not in_skill else f"{p}skill"
        if name in ambiguous and pinned is None:
            live = [v for v in ambiguous[name] if (name, v) not in off]
            if not live:
                raise SkillDisabled(f"{name} (every version)", f"{p}skill")
            pinned = live[0]
        try:
            out.append(registry.get(name, pinned))
        except UnknownSkill as exc:
            raise UnknownSkill(exc.name, field if exc.known else f"{p}skill", exc.known) from None
    return out


def check_enabled(specs: Sequence[tuple[str, SkillDef]]) -> None:
    """Raise SkillDisabled for the first (field path, skill) whose Skill row an operator switched off.

    One query for the whole batch. A skill without a row (never synced) is enabled: the rows mirror the
    code, and only ``enabled`` on them is the operator's to change.
    """
    from .models import Skill

    wanted = {(d.name, d.version) for _, d in specs}
    if not wanted:
        return
    names = {n for n, _ in wanted}
    off = set(Skill.objects.filter(name__in=names, enabled=False).values_list("name", "version")) & wanted
    for path, d in specs:
        if (d.name, d.version) in off:
            raise SkillDisabled(d.name, f"{path}.skill" if path else "skill")
