"""weft_django.llm against a fake model server on 127.0.0.1 (weft_django/fake_model.py): both providers' streams,
tokens and cost recorded, 429 with Retry-After, the circuit breaker, and the key never stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from weft_django import llm
from weft_django.exceptions import InvalidInput
from weft_django.fake_model import FakeModel, start
from weft_django.loops import Step
from weft_django.models import Breaker, LlmCall
from weft_django.outcomes import NonRetryable

pytestmark = pytest.mark.django_db

KEY = "sk-test-never-stored"


@pytest.fixture
def fake() -> Iterator[Any]:
    servers = []

    def serve(*script: dict[str, Any]) -> FakeModel:
        model, server = start(list(script))
        servers.append(server)
        return model

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def configure(settings: Any, model: FakeModel, provider: str = "openai", **extra: Any) -> None:
    settings.WEFT_LLM = {"provider": provider, "model": "fake-1", "api_key": KEY,
                         "base_url": model.openai_url if provider == "openai" else model.anthropic_url,
                         "prices": {"fake-1": {"input": 1.0, "output": 2.0}}, "backoff": 0.01, **extra}


class Ctx:
    task_id, job_id, attempt_id, attempt, cost = 7, 3, 11, 1, 0.0

    def report_cost(self, amount: float) -> None:
        self.cost += amount


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_streamed_answer_is_recorded_with_its_tokens_and_cost(provider: str, fake: Any, settings: Any) -> None:
    model = fake({"text": "Hello from the fake", "input": 1000, "output": 500})
    configure(settings, model, provider)
    seen: list[str] = []
    it = Step(1, 3, [], Ctx())
    reply = llm.chat("Say hello", it=it, system="Be brief", on_text=seen.append)
    assert reply.text == "Hello from the fake" and len(seen) > 1  # streamed in pieces
    assert (reply.input_tokens, reply.output_tokens, reply.cost) == (1000, 500, 0.002)
    assert (it.tokens, it.cost) == (1500, 0.002)
    call = LlmCall.objects.get()
    assert (call.provider, call.model, call.input_tokens, call.output_tokens, call.cost) == (
        provider, "fake-1", 1000, 500, 0.002)
    assert (call.job_id, call.task_id, call.attempt_id) == (3, 7, 11)
    body = model.requests[0]["body"]
    assert body["model"] == "fake-1" and body["stream"] is True
    assert KEY in str(model.requests[0]["headers"])  # sent to the provider ...
    assert KEY not in str(LlmCall.objects.values().get())  # ... and never stored


def test_a_rate_limit_waits_as_long_as_retry_after_says(fake: Any, settings: Any) -> None:
    model = fake({"status": 429, "retry_after": "1"}, {"text": "ok", "input": 1, "output": 1})
    configure(settings, model)
    began = time.monotonic()
    reply = llm.chat("hi", ctx=Ctx())
    assert time.monotonic() - began >= 1.0
    assert (reply.text, reply.retries) == ("ok", 1)
    assert LlmCall.objects.get().retries == 1
    assert not Breaker.objects.filter(failures__gt=0).exists()  # a success closes it again


def test_repeated_server_errors_open_the_breaker_and_later_calls_wait_for_it(fake: Any, settings: Any) -> None:
    model = fake({"status": 500})
    configure(settings, model, max_retries=2, breaker_failures=3, breaker_reset=1.5)
    with pytest.raises(llm.ProviderUnavailable, match="answered 500"):
        llm.chat("hi", ctx=Ctx())
    breaker = Breaker.objects.get()
    assert breaker.failures == 3 and breaker.open_until is not None
    assert LlmCall.objects.get().error.startswith("openai answered 500")
    model.script[:] = [{"text": "back", "input": 2, "output": 3}]
    began = time.monotonic()
    assert llm.chat("hi", ctx=Ctx()).text == "back"  # waited for the breaker, then went through as the probe
    assert time.monotonic() - began >= 1.0
    assert len(model.requests) == 4  # no call reached the provider while it was open
    assert Breaker.objects.get().failures == 0


def test_a_refusal_is_not_retried(fake: Any, settings: Any) -> None:
    model = fake({"status": 400})
    configure(settings, model)
    with pytest.raises(NonRetryable, match="answered 400"):
        llm.chat("hi")
    assert len(model.requests) == 1


@pytest.mark.parametrize("raw,field", [
    ({"model": "m"}, "WEFT_LLM.provider"),
    ({"provider": "openai"}, "WEFT_LLM.model"),
    ({"provider": "openai", "model": "m", "prices": {"m": {"input": -1}}}, "WEFT_LLM.prices"),
    ({"provider": "openai", "model": "m", "max_retries": -1}, "WEFT_LLM.max_retries"),
    ({"provider": "openai", "model": "m", "temperature": 1}, "WEFT_LLM.temperature"),
    ("openai", "WEFT_LLM"),
])
def test_a_bad_configuration_is_refused_naming_the_key(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        llm.parse(raw)
    assert info.value.field == field


def test_the_system_check_names_a_bad_configuration(settings: Any) -> None:
    from weft_django.checks import check_llm

    settings.WEFT_LLM = {"provider": "openai", "model": "m", "max_retries": "many"}
    [error] = check_llm()
    assert error.id == "weft.E080" and "WEFT_LLM.max_retries" in error.msg
    settings.WEFT_LLM = {"provider": "openai", "model": "m"}
    assert check_llm() == []
