"""One writer of the audit trail, one guarded writer of status, read from the source.

Decision rows (and policy decision records, and audit entries) are written and attempts closed only in
lifecycle/ledger.py (the fast success's SQL takes its fragments from there); a task's or a job's status
is set only in transitions.py (and the fast versions' statements beside their events, which the parity
tests hold to the same rows).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "weft_django"

AUDIT = re.compile(r"(Decision|AuditEntry)\.objects\.(create|bulk_create|update)|Attempt\.objects\.[^\n]*\.update\("
                   r"|INSERT INTO weft_decision|UPDATE weft_attempt")
STATUS = re.compile(r"(Task|Job)\.objects\.[^\n]*\.update\([^)]*\bstatus=|UPDATE weft_(task|job)\b[^;]*SET[^;]*status")
# The fast versions of submit, claim and a success (and of a chunk's claim and successes) set status in their
# single statements.
FAST = {"weft_django/lifecycle/submit.py", "weft_django/lifecycle/claim.py", "weft_django/lifecycle/report.py",
        "weft_django/lifecycle/batch.py"}


def writers(pattern: re.Pattern[str]) -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        if pattern.search(path.read_text(encoding="utf-8")):
            found.add(path.relative_to(ROOT).as_posix())
    return found


def test_only_the_ledger_writes_decisions_and_closes_attempts() -> None:
    assert writers(AUDIT) == {"weft_django/lifecycle/ledger.py"}


def test_only_transitions_writes_status_besides_the_fast_statements() -> None:
    assert {w.rsplit("/", 1)[0] for w in writers(STATUS) - FAST} == {"weft_django/transitions"}


def test_the_patterns_see_a_writer() -> None:
    assert AUDIT.search('Decision.objects.create(job_id=1, action="x")')
    assert AUDIT.search("PolicyDecision.objects.bulk_create(rows)")
    assert AUDIT.search("AuditEntry.objects.create(action='approve')")
    assert AUDIT.search("Attempt.objects.filter(pk=1).update(outcome='lost')")
    assert STATUS.search("Task.objects.filter(pk=1).update(status=TaskStatus.QUEUED)")
    assert STATUS.search("UPDATE weft_job SET tasks_open = 0, status = 'failed'")
