"""Agent skills on real workers: each task in its own git worktree, checked by a validation command, its
evidence kept (the diff, the validation's output, named files); the worktree removed when it passed and kept
for inspection when it did not."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import WorkerProcess
from tests.testapp.skills import AGENT_REPO
from weft_django import service
from weft_django.models import Artifact, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def git(*args: str) -> None:
    subprocess.run(["git", "-C", AGENT_REPO, *args], check=True, capture_output=True)


@pytest.fixture
def repo() -> Iterator[str]:
    shutil.rmtree(AGENT_REPO, ignore_errors=True)
    os.makedirs(AGENT_REPO)
    git("init", "-q")
    with open(os.path.join(AGENT_REPO, "README.md"), "w") as f:
        f.write("hello\n")
    git("add", "README.md")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "start")
    yield AGENT_REPO
    shutil.rmtree(AGENT_REPO, ignore_errors=True)


def worktrees() -> list[str]:
    out = subprocess.run(["git", "-C", AGENT_REPO, "worktree", "list", "--porcelain"], capture_output=True,
                         text=True, check=True).stdout
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")][1:]


def test_agents__the_work_is_checked_kept_as_evidence_and_its_worktree_removed(worker: WorkerProcess,
                                                                                repo: str) -> None:
    job = service.submit("t.agent", {"text": "made by the agent"})
    assert service.wait(job.pk, timeout=60).status == "succeeded"
    evidence: dict[str, Any] = dict(Artifact.objects.filter(task__job=job).values_list("name", "value"))
    assert "+made by the agent" in evidence["diff"] and "+more" in evidence["diff"]
    assert evidence["validation"]["exit_code"] == 0
    assert evidence["files"] == {"new.txt": "made by the agent\n"}
    assert worktrees() == []  # removed
    assert not os.path.exists(os.path.join(repo, "new.txt"))  # the repository itself is untouched


def test_agents__a_failed_validation_keeps_the_worktree_and_the_evidence(worker: WorkerProcess, repo: str) -> None:
    job = service.submit("t.agent_wrong")
    assert service.wait(job.pk, timeout=60).status == "failed"
    task = Task.objects.get(job=job)
    [kept] = worktrees()
    assert task.error == f"ValidationFailed: the validation failed; its worktree is kept at {kept}"
    assert os.path.isfile(os.path.join(kept, "other.txt"))
    evidence: dict[str, Any] = dict(Artifact.objects.filter(task=task).values_list("name", "value"))
    assert "+wrong" in evidence["diff"] and evidence["validation"]["exit_code"] == 1
