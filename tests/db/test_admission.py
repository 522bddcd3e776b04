"""Admission at claim: concurrency slots, locks and rate limits, decided in the database (lifecycle/admission.py).

Claims are made here directly (no worker): a task held back opens no attempt, says why, and records a
decision once; the end of a holder hands its slot or lock on (the Ready it sends is captured); two real
connections show that two claims cannot both take the last slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from weft_django import handoff, service, skill_limits
from weft_django.exceptions import InvalidInput
from weft_django.lifecycle import admission, recover, report, slots
from weft_django.lifecycle import claim as claiming
from weft_django.models import Attempt, Decision, Job, RateBucket, Skill, Task
from weft_django.outcomes import Observation, Outcome
from weft_django.states import DecisionAction, TaskStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The task ids handed to the broker after each commit (captured, not published)."""
    out: list[int] = []

    def capture(items: list[handoff.Ready], delivery: handoff.Delivery) -> None:
        out.extend(r.task_id for r in items)
        delivery.record(len(items), "")

    monkeypatch.setattr(handoff, "_send", capture)
    yield out


def task_of(skill: str, **params: Any) -> int:
    return Task.objects.get(job_id=service.submit(skill, params).pk).pk


def defer_decisions(task_id: int) -> list[Decision]:
    return list(Decision.objects.filter(task_id=task_id, action=DecisionAction.DEFER).order_by("pk"))


def test_a_skill_limit_holds_back_the_third_claim_and_a_finish_hands_the_slot_on(sent: list[int]) -> None:
    a, b, c = (task_of("t.limited") for _ in range(3))
    first, second = claiming.claim(a, 0), claiming.claim(b, 0)
    assert first is not None and second is not None
    assert claiming.claim(c, 0) is None
    held = Task.objects.get(pk=c)
    assert held.status == TaskStatus.QUEUED and held.attempts == 0
    assert held.waiting_for == f"waiting for a concurrency slot of skill:t.limited (2 of 2 in use by tasks {a}, {b})"
    assert not Attempt.objects.filter(task_id=c).exists()
    assert claiming.claim(c, 0) is None  # asked again while still full: one decision, not one per message
    [decision] = defer_decisions(c)
    assert decision.policy == "limit.concurrency" and decision.observation["in_use"] == 2
    assert f"task {c} 't.limited': {held.waiting_for}" in service.status(held.job_id)["waiting"]  # where people look
    assert f"Waiting: task {c} 't.limited': waiting for a concurrency slot" in service.explain(held.job_id)
    sent.clear()
    report.record(first, Observation(Outcome.success(1), "succeeded"))
    assert sent == [c]  # the finished task's slot went to the one waiting for it
    assert claiming.claim(c, 0) is not None
    assert Task.objects.get(pk=c).waiting_for == ""


def test_a_keyed_limit_counts_per_key() -> None:
    a1, a2, b1 = task_of("t.per_tenant", tenant="a"), task_of("t.per_tenant", tenant="a"), task_of(
        "t.per_tenant", tenant="b")
    assert Task.objects.get(pk=a1).gates == {"concurrency": {"key:tenant-a": 1}}
    assert claiming.claim(a1, 0) is not None
    assert claiming.claim(a2, 0) is None
    assert claiming.claim(b1, 0) is not None  # another tenant's slot


def test_a_key_that_needs_a_missing_param_is_refused_at_submission_and_nothing_is_written() -> None:
    before = Job.objects.count()
    with pytest.raises(InvalidInput) as info:
        service.submit("t.per_tenant", {})
    assert info.value.field == "params.tenant"
    with pytest.raises(InvalidInput) as info:
        service.submit_job({"tasks": [{"skill": "t.noop", "key": "n"},
                                      {"skill": "t.locked", "key": "l", "params": {}}]})
    assert info.value.field == "tasks[1].params.path"
    assert Job.objects.count() == before


def test_locks_conflicting_globs_wait_disjoint_ones_run(sent: list[int]) -> None:
    whole = service.submit("t.locked", {"path": "src/**"}, locks=["db:orders"])
    [holder] = Task.objects.filter(job_id=whole.pk)
    assert holder.locks == ["repo:src/**", "db:orders"]
    inside, other, orders = task_of("t.locked", path="src/app/x.py"), task_of("t.locked", path="docs/x"), \
        Task.objects.get(job_id=service.submit("t.noop", locks=["db:orders"]).pk).pk
    claimed = claiming.claim(holder.pk, 0)
    assert claimed is not None
    assert claiming.claim(inside, 0) is None
    assert Task.objects.get(pk=inside).waiting_for == (
        f"waiting for lock 'repo:src/app/x.py', held by task {holder.pk} (job {whole.pk}) as 'repo:src/**'")
    assert claiming.claim(orders, 0) is None
    assert "waiting for lock 'db:orders'" in Task.objects.get(pk=orders).waiting_for
    assert claiming.claim(other, 0) is not None  # disjoint: runs at the same time
    sent.clear()
    report.record(claimed, Observation(Outcome.failure("no", retryable=False), "failed", "Failure"))
    assert sorted(sent) == sorted([inside, orders])
    assert claiming.claim(inside, 0) is not None and claiming.claim(orders, 0) is not None


def test_a_lost_lease_frees_its_lock_only_through_recovery(sent: list[int]) -> None:
    holder, waiter = task_of("t.locked", path="a"), task_of("t.locked", path="a")
    assert claiming.claim(holder, 0) is not None
    Task.objects.filter(pk=holder).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert claiming.claim(waiter, 0) is None  # expired, but not recovered: still held
    sent.clear()
    assert recover.expired(holder) == "retried"
    assert waiter in sent
    assert claiming.claim(waiter, 0) is not None
    assert claiming.claim(holder, 1) is None  # the recovered holder now waits behind it
    assert "held by task" in Task.objects.get(pk=holder).waiting_for


def test_the_fast_claim_skips_governed_tasks() -> None:
    governed, free = task_of("t.limited"), task_of("t.noop")
    assert claiming.claim_fast(governed, 0, worker="w", pid=1, celery_id="") is None
    assert claiming.claim_fast(free, 0, worker="w", pid=1, celery_id="") is not None
    assert claiming.claim(governed, 0) is not None  # through admission


def test_rate_moments_are_taken_at_submission_and_an_early_copy_keeps_its_moment(sent: list[int],
                                                                                  settings: Any) -> None:
    RateBucket.objects.filter(key="skill:t.rated").delete()
    ids = [task_of("t.rated") for _ in range(3)]
    tasks = [Task.objects.get(pk=i) for i in ids]
    assert tasks[0].waiting_for == "" and tasks[0].rate_slot is not None  # its moment is now
    at = [t.rate_slot or timezone.now() for t in tasks]
    assert all(t.rate_slot is not None for t in tasks)
    assert [round((at[i + 1] - at[i]).total_seconds(), 3) for i in range(2)] == [0.2, 0.2]  # 5/s: one each 0.2 s
    assert tasks[1].waiting_for.startswith("rate limited until ") and tasks[1].not_before == at[1]
    [decision] = defer_decisions(ids[1])
    assert decision.policy == "limit.rate" and decision.reason.startswith("rate limited until ")
    assert not defer_decisions(ids[0])
    assert claiming.claim(ids[0], 0) is not None  # on its moment: no second token taken
    bucket = RateBucket.objects.get(key="skill:t.rated").next_at
    sent.clear()
    assert claiming.claim(ids[2], 0) is None  # an early copy of its message
    assert RateBucket.objects.get(key="skill:t.rated").next_at == bucket  # reserved nothing more
    assert len(defer_decisions(ids[2])) == 1 and sent == [ids[2]]  # sent again for its moment
    time.sleep(max(0.0, (at[2] - timezone.now()).total_seconds()) + 0.01)
    assert claiming.claim(ids[1], 0) is not None  # late for its moment: it starts
    # Idle for a while, then late tasks: a little credit (0.5 s; here a rate of 2/s, one interval) lets two
    # start at once, never more; the next waits for the bucket's next allowed start, keeping its place.
    settings.WEFT_SKILL_LIMITS = {"t.rated": {"rate": "2/s"}}
    late = [task_of("t.rated") for _ in range(3)]
    key = "skill:t.rated"
    Task.objects.filter(pk__in=late).update(rate_slot=timezone.now() - timedelta(seconds=1))
    RateBucket.objects.filter(key=key).update(free_at=timezone.now() - timedelta(seconds=10))
    before = timezone.now()
    assert [claiming.claim(t, 0) is not None for t in late] == [True, True, False]
    free = RateBucket.objects.get(key=key).free_at
    assert free is not None and Task.objects.get(pk=late[2]).rate_slot == free
    assert 0.49 <= (free - before).total_seconds() <= 0.8  # one interval after the first start
    assert len(defer_decisions(late[2])) == 1  # it kept its place: no new moment, no new decision
    time.sleep(max(0.0, (free - timezone.now()).total_seconds()) + 0.01)
    assert claiming.claim(late[2], 0) is not None
    assert Attempt.objects.filter(task_id__in=[*ids[:2], *late]).count() == 5


def test_rate_at_claim_promises_a_moment_to_a_task_without_one_and_keeps_a_late_ones(sent: list[int]) -> None:
    a, b = task_of("t.rated"), task_of("t.rated")
    # As a task readied later (after its dependencies) arrives: no moment yet. And one late for its own.
    Task.objects.filter(pk=a).update(rate_slot=None, waiting_for="")
    Task.objects.filter(pk=b).update(rate_slot=timezone.now() - timedelta(seconds=10))
    later, just = timezone.now() + timedelta(seconds=5), timezone.now()
    RateBucket.objects.filter(key="skill:t.rated").update(next_at=later, free_at=just + timedelta(seconds=0.2))
    decided = len(defer_decisions(b))
    sent.clear()
    assert claiming.claim(a, 0) is None and claiming.claim(b, 0) is None
    assert sorted(sent) == sorted([a, b])
    assert Task.objects.get(pk=a).rate_slot == later  # promised the next free moment
    assert defer_decisions(a)[-1].reason.endswith("sent again then")
    assert Task.objects.get(pk=b).rate_slot == just + timedelta(seconds=0.2)  # not sent to the back
    assert len(defer_decisions(b)) == decided
    assert RateBucket.objects.get(key="skill:t.rated").next_at == later + timedelta(seconds=0.2)


def test_an_operators_limit_on_the_skill_row_applies_to_tasks_submitted_after(settings: Any) -> None:
    from weft_django import registry

    registry.sync()
    Skill.objects.filter(name="t.limited").update(concurrency=1)
    skill_limits.forget()
    try:
        assert Task.objects.get(pk=task_of("t.limited")).gates == {"concurrency": {"skill:t.limited": 1}}
        settings.WEFT_SKILL_LIMITS = {"t.noop": {"rate": "1/m"}}
        assert Task.objects.get(pk=task_of("t.noop")).gates == {"rate": {"skill:t.noop": "1/m"}}
    finally:
        Skill.objects.filter(name="t.limited").update(concurrency=None)
        skill_limits.forget()


def in_thread(call: Callable[[], Any], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_claims_at_once_never_both_take_the_last_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Claim A counts a free slot and pauses before it commits; claim B, on another connection, must wait for
    A's advisory lock and then count A as running. Without the lock both would see the slot free."""
    a, b = task_of("t.per_tenant", tenant="x"), task_of("t.per_tenant", tenant="x")
    paused, resume = threading.Event(), threading.Event()
    real = slots.refusal

    def pause_for_a(task_id: int, *args: Any) -> Any:
        found = real(task_id, *args)
        if task_id == a:
            paused.set()
            assert resume.wait(20)
        return found

    monkeypatch.setattr(slots, "refusal", pause_for_a)
    errors: list[BaseException] = []
    results: dict[str, Any] = {}
    ta = in_thread(lambda: results.__setitem__("a", claiming.claim(a, 0)), errors)
    assert paused.wait(20)
    tb = in_thread(lambda: results.__setitem__("b", claiming.claim(b, 0)), errors)
    me = connection.cursor().connection.info.backend_pid
    deadline = time.monotonic() + 20
    while True:  # B waits on A's advisory lock
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid <> %s",
                           [me])
            if cursor.fetchone()[0]:
                break
        assert time.monotonic() < deadline, "the second claim never waited for the first"
        time.sleep(0.02)
    resume.set()
    ta.join(20)
    tb.join(20)
    assert not errors, errors
    assert results["a"] is not None and results["b"] is None
    assert Task.objects.filter(pk__in=[a, b], status=TaskStatus.RUNNING).count() == 1
    assert admission.HANDOFF_SCAN > 0


def test_an_operators_limit_on_the_skill_row_applies_at_claim_to_tasks_already_queued(sent: list[int]) -> None:
    from weft_django import registry

    registry.sync()
    a, b, c = (task_of("t.limited") for _ in range(3))  # submitted under the code's limit of 2
    assert claiming.claim(a, 0) is not None
    Skill.objects.filter(name="t.limited").update(concurrency=1)
    skill_limits.forget()
    try:
        assert claiming.claim(b, 0) is None  # the limit in force now is 1, not the 2 it was submitted with
        assert Task.objects.get(pk=b).waiting_for == (
            f"waiting for a concurrency slot of skill:t.limited (1 of 1 in use by tasks {a})")
        Skill.objects.filter(name="t.limited").update(concurrency=3)
        skill_limits.forget()
        assert claiming.claim(b, 0) is not None and claiming.claim(c, 0) is not None  # raised to 3: both start
    finally:
        Skill.objects.filter(name="t.limited").update(concurrency=None)
        skill_limits.forget()
