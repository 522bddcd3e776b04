"""An agent skill's workspace (pure): the git repository each of its tasks gets a worktree of, what checks the
agent's work, and what evidence is kept (agents.py declares it, execution/workspace.py runs it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .exceptions import InvalidInput


@dataclass(frozen=True)
class Workspace:
    repo: str  # the repository's path on the worker's host
    ref: str = "HEAD"  # what each worktree starts from
    validate: tuple[str, ...] = ()  # an argv run in the worktree after the agent: exit 0 passes
    evidence: tuple[str, ...] = ()  # files (relative to the worktree) kept as artifacts
    keep_failed: bool = True  # a failed task's worktree stays for inspection

    @classmethod
    def parse(cls, repo: Any, ref: Any, validate: Any, evidence: Any, keep_failed: Any, path: str) -> Workspace:
        if not isinstance(repo, str) or not repo.startswith("/"):
            raise InvalidInput(f"{path}.repo", f"must be an absolute path to a git repository, got {repo!r}")
        if not isinstance(ref, str) or not ref or ref.startswith("-") or any(c.isspace() for c in ref):
            raise InvalidInput(f"{path}.ref", f"must be a git ref (a branch, tag or commit), got {ref!r}")
        checks = _argv(validate, f"{path}.validate")
        if isinstance(evidence, str) or not isinstance(evidence, Sequence):
            raise InvalidInput(f"{path}.evidence", "must be a list of file paths inside the worktree")
        for i, name in enumerate(evidence):
            if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
                raise InvalidInput(f"{path}.evidence[{i}]",
                                   f"must be a relative path inside the worktree, got {name!r}")
        return cls(repo, ref, checks, tuple(evidence), bool(keep_failed))


def _argv(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InvalidInput(path, "must be a non-empty list of strings (an argv, never a shell line)")
    if not all(isinstance(v, str) for v in value):
        raise InvalidInput(path, "must be a list of strings")
    return tuple(value)
