"""An agent skill's git worktree (agents.py): made before its command runs, checked and gathered as evidence
after, removed when it passed and kept for inspection when it did not."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING, Any

from ..outcomes import Observation, Outcome
from ..storable import clean_text
from ..workspace_spec import Workspace
from .processes import die_with_parent

if TYPE_CHECKING:
    from ..registry import SkillDef

EVIDENCE_LIMIT = 200_000  # characters of each kept file and of the diff
VALIDATE_TIMEOUT = 600.0


class WorkspaceError(Exception):
    """The worktree could not be made (a repository or ref that is not there)."""


def _git(*args: str, cwd: str | None = None, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, timeout=120,
                          preexec_fn=die_with_parent,
                          check=False)
    if check and done.returncode != 0:
        raise WorkspaceError(clean_text(done.stderr.decode("utf-8", "replace")).strip() or f"git {args[0]} failed")
    return done.stdout.decode("utf-8", "replace")


def prepare(ws: Workspace, task_id: int, token: int) -> str:
    """A fresh worktree of ``ws.repo`` at ``ws.ref`` for this attempt (detached: no branch to clean up)."""
    path = os.path.join(tempfile.gettempdir(), f"weft-task-{task_id}-attempt-{token}")
    if os.path.exists(path):  # a kept worktree of a lost attempt with this number: start clean
        remove(ws, path)
    _git("-C", ws.repo, "worktree", "add", "--detach", path, ws.ref)
    return path


def gather(ws: Workspace, path: str) -> tuple[bool, dict[str, Any]]:
    """Run the validation in the worktree; the evidence: the diff from ``ws.ref`` (new files too), the
    validation's output, the named files. Returns whether it passed and the artifacts."""
    artifacts: dict[str, Any] = {}
    passed = True
    if ws.validate:
        try:
            # Killed with the worker process if it dies first: it must not outlive its attempt.
            done = subprocess.run(list(ws.validate), cwd=path, capture_output=True, stdin=subprocess.DEVNULL,
                                  preexec_fn=die_with_parent,
                                  timeout=VALIDATE_TIMEOUT, check=False)
            passed = done.returncode == 0
            text = (done.stdout + done.stderr).decode("utf-8", "replace")
            artifacts["validation"] = {"exit_code": done.returncode, "output": _cut(text)}
        except (OSError, subprocess.TimeoutExpired) as exc:
            passed = False
            artifacts["validation"] = {"exit_code": None, "output": f"{type(exc).__name__}: {exc}"}
    _git("-C", path, "add", "-A", check=False)
    artifacts["diff"] = _cut(_git("-C", path, "diff", "--cached", "--no-color", "HEAD", check=False))
    files = {}
    for name in ws.evidence:
        full = os.path.join(path, name)
        if os.path.isfile(full):
            with open(full, "rb") as f:
                files[name] = _cut(f.read(EVIDENCE_LIMIT * 4).decode("utf-8", "replace"))
    if files:
        artifacts["files"] = files
    return passed, artifacts


def remove(ws: Workspace, path: str) -> None:
    _git("-C", ws.repo, "worktree", "remove", "--force", path, check=False)
    shutil.rmtree(path, ignore_errors=True)
    _git("-C", ws.repo, "worktree", "prune", check=False)


def _cut(text: str) -> str:
    text = clean_text(text)
    return text if len(text) <= EVIDENCE_LIMIT else text[-EVIDENCE_LIMIT:]


def agent_outcome(d: SkillDef, cwd: str, code: int, argv: list[str], stdout: str, stderr: str) -> Observation:
    """An agent's attempt ends: its validation decides, its evidence is kept either way, its worktree goes
    when it passed."""
    assert d.workspace is not None
    passed, evidence = gather(d.workspace, cwd)
    if code == 0 and passed:
        remove(d.workspace, cwd)
        return Observation(Outcome.success({"exit_code": 0, "stdout": stdout}, artifacts=evidence), "succeeded",
                           exit_code=0, stdout=stdout, stderr=stderr)
    why = f"{argv[0]} exited with status {code}" if code != 0 else "the validation failed"
    if d.workspace.keep_failed:
        why += f"; its worktree is kept at {cwd}"
    else:
        remove(d.workspace, cwd)
    return Observation(Outcome.failure(why, artifacts=evidence), "failed",
                       "CommandFailed" if code != 0 else "ValidationFailed", exit_code=code, stdout=stdout,
                       stderr=stderr)
