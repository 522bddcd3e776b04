"""A call to a model: retried on rate limits and server errors (honouring ``Retry-After``), held back by the
provider's circuit breaker, recorded (model, tokens, cost, prompt template) and counted against budgets."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.template.loader import get_template
from django.utils import timezone

from ..exceptions import InvalidInput, WeftError
from ..lifecycle import ledger
from ..models import Breaker
from ..outcomes import NonRetryable
from .config import LlmConfig, current
from .providers import Refused, Transient, stream


class ProviderUnavailable(WeftError):
    """The provider kept failing: retries used up, or its circuit breaker stayed open. Worth retrying later."""


@dataclass(frozen=True)
class Prompt:
    """A prompt rendered from a Django template; ``version`` names the template's text it was made from."""

    text: str
    template: str
    version: str


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    cost: float
    retries: int


def render(template_name: str, context: dict[str, Any] | None = None) -> Prompt:
    """Render a prompt template (found like any Django template, e.g. in an app's ``templates/``)."""
    template = get_template(template_name)
    source = getattr(getattr(template, "template", None), "source", "")
    return Prompt(template.render(context or {}), template_name, hashlib.sha256(source.encode()).hexdigest()[:12])


def chat(messages: str | Prompt | Sequence[dict[str, str]], *, it: Any = None, ctx: Any = None,
         model: str | None = None, system: str | None = None, max_tokens: int = 1024,
         on_text: Callable[[str], None] | None = None) -> Reply:
    """Ask the model of WEFT_LLM (or ``model``). ``it`` (a loop's Step) or ``ctx`` (a skill's context): where
    the tokens and cost count and which task the call is recorded for. The answer streams to ``on_text``
    (default: this attempt's stdout, whose tail the attempt keeps)."""
    config = current()
    model = model or config.model
    template = version = ""
    if isinstance(messages, Prompt):
        template, version = messages.template, messages.version
    sent = _messages(messages)
    where = (it.ctx if it is not None else ctx) or None
    ids = {"job_id": getattr(where, "job_id", None), "task_id": getattr(where, "task_id", None),
           "attempt_id": getattr(where, "attempt_id", None)}
    key = f"{config.provider}:{config.base_url or 'default'}"
    started, retries = time.monotonic(), 0
    while True:
        _wait_while_open(key, config)
        try:
            out = stream(config, sent, model=model, system=system, max_tokens=max_tokens,
                         on_text=on_text or _to_stdout)
        except Transient as exc:
            _failed(key, config, str(exc))
            if retries >= config.max_retries:
                _record(config, model, ids, template, version, retries, str(exc), started)
                raise ProviderUnavailable(f"{exc} (after {retries} retries)") from None
            time.sleep(exc.retry_after if exc.retry_after is not None
                       else min(config.max_backoff, config.backoff * 2 ** retries))
            retries += 1
            continue
        except Refused as exc:
            _record(config, model, ids, template, version, retries, str(exc), started)
            raise NonRetryable(str(exc)) from None
        break
    Breaker.objects.filter(provider=key).exclude(failures=0, open_until=None).update(
        failures=0, open_until=None, last_error="")
    cost = config.cost(model, out.input_tokens, out.output_tokens)
    _record(config, model, ids, template, version, retries, "", started, out.input_tokens, out.output_tokens, cost)
    # Tokens count now, against the loop's budget and the job's max_tokens (which may stop the job); the cost
    # with the attempt's, against max_cost, when it ends.
    counter = it if it is not None else ctx
    if counter is not None:
        if hasattr(counter, "report_tokens"):
            counter.report_tokens(out.input_tokens + out.output_tokens)
        counter.report_cost(cost)
    return Reply(out.text, model, out.input_tokens, out.output_tokens, cost, retries)


def _messages(messages: str | Prompt | Sequence[dict[str, str]]) -> list[dict[str, str]]:
    if isinstance(messages, Prompt):
        return [{"role": "user", "content": messages.text}]
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise InvalidInput(f"messages[{i}]", "must be {'role': str, 'content': str}")
        out.append({"role": m["role"], "content": m["content"]})
    if not out:
        raise InvalidInput("messages", "must not be empty")
    return out


def _to_stdout(text: str) -> None:
    sys.stdout.write(text)


def _wait_while_open(key: str, config: LlmConfig) -> None:
    """Wait while the provider's breaker is open (every worker sees the same row): queued calls wait for it to
    half-open instead of failing one after another. Then one call goes through as the probe."""
    while True:
        until = Breaker.objects.filter(provider=key).values_list("open_until", flat=True).first()
        now = timezone.now()
        if until is None or until <= now:
            return
        time.sleep(min((until - now).total_seconds(), 5.0))


def _failed(key: str, config: LlmConfig, error: str) -> None:
    """Count a failure in a row; enough of them open the breaker for ``breaker_reset`` seconds."""
    for _ in range(2):  # a concurrent first failure may create the row: then update it
        try:
            with transaction.atomic():
                row, _ = Breaker.objects.select_for_update().get_or_create(provider=key)
                row.failures += 1
                row.last_error = error[:2000]
                if row.failures >= config.breaker_failures:
                    row.open_until = timezone.now() + timedelta(seconds=config.breaker_reset)
                row.save()
                return
        except IntegrityError:
            continue


def _record(config: LlmConfig, model: str, ids: dict[str, Any], template: str, version: str, retries: int,
            error: str, started: float, input_tokens: int = 0, output_tokens: int = 0, cost: float = 0.0) -> None:
    ledger.write_llm_call(provider=config.provider, model=model, input_tokens=input_tokens,
                          output_tokens=output_tokens, cost=cost, template=template, template_version=version,
                          retries=retries, error=error, duration=round(time.monotonic() - started, 6), **ids)
