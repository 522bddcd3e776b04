"""Agent skills: an agent's command line (any argv, never a shell) run in its own git worktree per task, its
work checked by a validation command and kept as evidence (the diff, the validation's output, named files).

    agent_skill("fix_issue", ["my-agent", "--task", "{prompt}"], repo="/srv/repos/app",
                validate=["make", "test"], evidence=["NOTES.md"])

The worktree starts at ``ref`` (default HEAD), is the command's working directory, and is removed when the
validation passed; a failed task's worktree is kept (``keep_failed``) and its path is in the error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Unpack

from .options import OptionArgs
from .registry import SkillDef, command_skill, register
from .workspace_spec import Workspace


def agent_skill(name: str, argv: Sequence[str], *, repo: str, ref: str = "HEAD",
                validate: Sequence[str] | None = None, evidence: Sequence[str] = (), keep_failed: bool = True,
                params: Mapping[str, Any] | None = None, description: str = "",
                **task_options: Unpack[OptionArgs]) -> SkillDef:
    """Register an agent skill: ``command_skill``'s argv rules, plus its workspace (see the module)."""
    ws = Workspace.parse(repo, ref, validate, evidence, keep_failed, f"skills.{name}")
    base = command_skill(name, argv, params=params, description=description, **task_options)
    return register(replace(base, workspace=ws))
