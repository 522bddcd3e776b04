"""Loops and skills calling a model, on real workers, against the fake model server (weft_django.fake_model on
127.0.0.1, never a real provider): a loop that passes on iteration 3, one stopped by the job's token budget
and one by its own, a 429 with Retry-After, the circuit breaker opening and closing, a streamed answer in the
attempt's live output, and a three-level Plan -> Spec -> Phase cascade of loops."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command

from tests.conftest import WorkerProcess, wait_for
from weft_django import reports, service
from weft_django.fake_model import FakeModel, start
from weft_django.models import Attempt, Breaker, Decision, Iteration, Job, LlmCall, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISH = 60.0
LLM_QUEUE = "weft-llm"
LOOP = {"key": "loop", "skill": "t.llm_loop", "queue": LLM_QUEUE}


@pytest.fixture(scope="module")
def served() -> Iterator[FakeModel]:
    """One fake server for the module (a fixed address, so one pooled worker serves every test)."""
    model, server = start([{"text": ""}])
    yield model
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake(served: FakeModel, worker_factory: Callable[..., WorkerProcess]) -> Callable[..., FakeModel]:
    """``fake(*answers)``: the server answers these from now on, and a worker that talks to it runs (on a queue
    of its own: a pooled worker of another test, which knows no model server, must not take these tasks)."""
    Breaker.objects.all().delete()
    worker_factory(queues=LLM_QUEUE, WEFT_TEST_LLM_URL=served.openai_url)

    def script(*answers: dict[str, Any]) -> FakeModel:
        served.script[:] = list(answers)
        served.requests.clear()
        return served

    return script


def answer(text: str, tokens: int = 100, **extra: Any) -> dict[str, Any]:
    return {"text": text, "input": tokens * 6 // 10, "output": tokens - tokens * 6 // 10, **extra}


def test_a_loop_calling_a_model_passes_on_its_third_iteration(fake: Callable[..., FakeModel]) -> None:
    model = fake(answer("not yet: 2 tests failing"), answer("not yet: 1 test failing"), answer("all good\nPASS"))
    job = service.submit_job({"tasks": [LOOP], "budget": {"max_tokens": 1000}})
    assert service.result(job.pk, timeout=FINISH) == "all good\nPASS"
    rows = list(Iteration.objects.filter(job_id=job.pk).order_by("number").values_list(
        "number", "passed", "validation", "tokens"))
    assert rows == [(1, False, "not yet: 2 tests failing", 100), (2, False, "not yet: 1 test failing", 100),
                    (3, True, "PASS", 100)]
    calls = list(LlmCall.objects.filter(job_id=job.pk).order_by("pk"))
    assert [(c.model, c.input_tokens, c.output_tokens, c.template) for c in calls] == [
        ("fake-1", 60, 40, "testapp/llm_step.txt")] * 3
    assert len({c.template_version for c in calls}) == 1 and len(calls[0].template_version) == 12
    # Each prompt carries the progress log of the iterations before it.
    assert "Iteration 2 said: not yet: 1 test failing" in model.requests[2]["body"]["messages"][-1]["content"]
    job.refresh_from_db()
    assert (job.tokens, job.cost) == (300, pytest.approx(3 * (60 * 1.0 + 40 * 2.0) / 1e6))
    assert reports.status(job.pk)["tokens_used"] == "300 of 1,000 tokens used"
    assert "Budget: 300 of 1,000 tokens used" in service.explain(job.pk)
    out = io.StringIO()
    call_command("weft_status", str(job.pk), stdout=out)
    assert "tokens: 300 of 1,000 tokens used" in out.getvalue()
    assert "loop loop: iteration 3 of 6: validation passed; 300 tokens used" in out.getvalue()


def test_the_jobs_token_budget_stops_a_loop_and_the_job_naming_it(fake: Callable[..., FakeModel]) -> None:
    fake(answer("no"))
    job = service.submit_job({"tasks": [LOOP], "budget": {"max_tokens": 250}})
    assert service.wait(job.pk, timeout=FINISH).status == "stopped"
    job.refresh_from_db()
    assert job.stop_reason == "token budget used up: 300 of 250 tokens"
    assert job.tokens == 300 and LlmCall.objects.filter(job_id=job.pk).count() == 3  # no fourth call
    [stop] = Decision.objects.filter(job_id=job.pk, action="stop_job")
    assert stop.reason == "token budget used up: 300 of 250 tokens"
    # The third iteration is recorded unless the stop (it asks the running task to stop) interrupts it first.
    assert Iteration.objects.filter(job_id=job.pk).count() in (2, 3)
    assert "Budget: 300 of 250 tokens used" in service.explain(job.pk)


def test_a_loops_own_token_budget_stops_it(fake: Callable[..., FakeModel]) -> None:
    fake(answer("no"))
    job = service.submit("t.llm_loop_budget", queue=LLM_QUEUE)
    done = service.wait(job.pk, timeout=FINISH)
    assert (done.status, done.stop_reason) == (
        "stopped", "loop stopped: token budget used up: 300 of 250 tokens; last validation: no")
    task = Task.objects.get(job=job)
    assert task.error == ("Failure: loop stopped: token budget used up: 300 of 250 tokens; last validation: no")
    assert Attempt.objects.filter(task=task).count() == 1
    assert reports.status(job.pk)["loops"] == {
        "t.llm_loop_budget": "iteration 3 of 6: validation failed: no; 300 of 250 tokens used"}


def test_a_rate_limit_is_waited_out_as_retry_after_says(fake: Callable[..., FakeModel]) -> None:
    model = fake({"status": 429, "retry_after": "1"}, answer("PASS"))
    job = service.submit("t.llm_loop", queue=LLM_QUEUE)
    assert service.result(job.pk, timeout=FINISH) == "PASS"
    first, second = model.requests
    assert second["at"] - first["at"] >= 1.0
    [call] = LlmCall.objects.filter(job_id=job.pk)
    assert (call.retries, call.error) == (1, "")
    assert Attempt.objects.filter(job_id=job.pk).count() == 1  # waited inside the attempt, none burnt


def test_the_circuit_breaker_opens_and_queued_work_waits_for_it_to_close(fake: Callable[..., FakeModel]) -> None:
    model = fake({"status": 500}, {"status": 500}, {"status": 500}, answer("back"))
    first = service.submit("t.llm_once", queue=LLM_QUEUE)
    breaker = wait_for(lambda: Breaker.objects.filter(open_until__isnull=False).first(), 30, 0.05, "the breaker")
    assert breaker.failures == 3
    second = service.submit("t.llm_once", queue=LLM_QUEUE)  # while it is open: waits, and burns no attempt
    assert service.result(second.pk, timeout=FINISH) == "back"
    assert service.result(first.pk, timeout=FINISH) == "back"
    assert Attempt.objects.filter(job_id=second.pk).count() == 1
    assert list(Attempt.objects.filter(job_id=first.pk).order_by("number").values_list("outcome", flat=True)) == [
        "failed", "succeeded"]
    assert LlmCall.objects.get(job_id=first.pk, error="").retries == 0
    assert LlmCall.objects.get(job_id=first.pk, error__gt="").retries == 2  # retries used up, then the breaker
    # No call reached the provider while the breaker was open; the first after it closed it again.
    assert min(r["at"] for r in model.requests[3:]) >= breaker.open_until.timestamp() - 0.05
    assert (Breaker.objects.get().failures, Breaker.objects.get().open_until) == (0, None)


def test_a_streamed_answer_shows_in_the_attempts_live_output_as_it_arrives(fake: Callable[..., FakeModel]) -> None:
    fake(answer("one two three four five six seven eight nine ten", delay=0.3))
    job = service.submit("t.llm_once", queue=LLM_QUEUE)
    seen = wait_for(lambda: Attempt.objects.filter(job_id=job.pk, outcome="running", stdout__contains="two").first(),
                    20, 0.1, "part of the answer in the running attempt's stdout")
    assert "ten" not in seen.stdout  # still streaming
    assert service.result(job.pk, timeout=FINISH).endswith("ten")


def test_a_three_level_cascade_of_loops_plan_spec_phase(worker: WorkerProcess) -> None:
    job = service.submit("t.plan", {"specs": 2, "phases": 2})
    started = time.monotonic()
    assert service.result(job.pk, timeout=FINISH) == {"done": ["t.plan/spec0", "t.plan/spec1"]}
    assert time.monotonic() - started < FINISH
    keys = dict(Task.objects.filter(job=job).values_list("key", "status"))
    phases = [f"t.plan/spec{s}/phase{p}" for s in range(2) for p in range(2)]
    assert all(keys[k] == "succeeded" for k in ("t.plan", "t.plan/spec0", "t.plan/spec1", *phases))
    for key in phases:  # each phase loop iterated until its validation passed
        assert list(Iteration.objects.filter(task__job=job, task__key=key).values_list("number", "passed")) == [
            (1, False), (2, True)]
    assert Job.objects.get(pk=job.pk).tokens == 4 * 2 * 10
    assert Decision.objects.filter(job_id=job.pk, action="decompose").count() == 3  # the plan and both specs
