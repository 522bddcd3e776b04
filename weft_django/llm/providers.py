"""The two providers, through their official SDKs, streamed: text as it arrives, and the tokens used.

The SDKs' own retries are off (``max_retries=0``): calls.py retries, honouring ``Retry-After``, and keeps
the circuit breaker, the same way for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import LlmConfig


@dataclass(frozen=True)
class Streamed:
    text: str
    input_tokens: int
    output_tokens: int


class Transient(Exception):
    """Worth trying again: a rate limit (429), a server error (5xx), a dropped connection or a timeout."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(Exception):
    """Not worth trying again: bad request, bad key, unknown model."""


def stream(config: LlmConfig, messages: Sequence[dict[str, str]], *, model: str, system: str | None,
           max_tokens: int, on_text: Callable[[str], None]) -> Streamed:
    """One call, streamed; raises Transient or Refused (never the SDK's own exceptions)."""
    if config.provider == "openai":
        return _guard("openai", lambda: _openai(config, messages, model, system, max_tokens, on_text))
    return _guard("anthropic", lambda: _anthropic(config, messages, model, system, max_tokens, on_text))


def _openai(config: LlmConfig, messages: Sequence[dict[str, str]], model: str, system: str | None, max_tokens: int,
            on_text: Callable[[str], None]) -> Streamed:
    import openai

    with openai.OpenAI(api_key=config.api_key or "none", base_url=config.base_url, max_retries=0,
                       timeout=config.timeout) as client:
        return _openai_stream(client, messages, model, system, max_tokens, on_text)


def _openai_stream(client: Any, messages: Sequence[dict[str, str]], model: str, system: str | None,
                   max_tokens: int, on_text: Callable[[str], None]) -> Streamed:
    sent = ([{"role": "system", "content": system}] if system else []) + list(messages)
    parts: list[str] = []
    usage: Any = None
    chunks: Any = client.chat.completions.create(model=model, messages=sent, max_tokens=max_tokens, stream=True,
                                                 stream_options={"include_usage": True})
    for chunk in chunks:
        for choice in chunk.choices or ():
            if choice.delta and choice.delta.content:
                parts.append(choice.delta.content)
                on_text(choice.delta.content)
        usage = chunk.usage or usage
    return Streamed("".join(parts), int(getattr(usage, "prompt_tokens", 0) or 0),
                    int(getattr(usage, "completion_tokens", 0) or 0))


def _anthropic(config: LlmConfig, messages: Sequence[dict[str, str]], model: str, system: str | None,
               max_tokens: int, on_text: Callable[[str], None]) -> Streamed:
    import anthropic

    with anthropic.Anthropic(api_key=config.api_key or "none", base_url=config.base_url, max_retries=0,
                             timeout=config.timeout) as client:
        return _anthropic_stream(client, messages, model, system, max_tokens, on_text)


def _anthropic_stream(client: Any, messages: Sequence[dict[str, str]], model: str, system: str | None,
                      max_tokens: int, on_text: Callable[[str], None]) -> Streamed:
    parts: list[str] = []
    input_tokens = output_tokens = 0
    extra: dict[str, Any] = {"system": system} if system else {}
    sent: Any = list(messages)
    events: Any = client.messages.create(model=model, messages=sent, max_tokens=max_tokens, stream=True, **extra)
    for event in events:
        if event.type == "message_start":
            input_tokens = int(event.message.usage.input_tokens or 0)
        elif event.type == "content_block_delta" and getattr(event.delta, "text", None):
            parts.append(event.delta.text)
            on_text(event.delta.text)
        elif event.type == "message_delta" and event.usage is not None:
            output_tokens = int(event.usage.output_tokens or 0)
    return Streamed("".join(parts), input_tokens, output_tokens)


def _guard(provider: str, call: Callable[[], Streamed]) -> Streamed:
    """The SDK's errors as Transient or Refused, with the status and ``Retry-After`` (never the key)."""
    sdk: Any = __import__(provider)
    try:
        return call()
    except sdk.APIStatusError as exc:
        status = exc.status_code
        message = f"{provider} answered {status}: {_short(exc)}"
        if status == 429 or status >= 500 or status == 408:
            return _raise_transient(message, exc.response.headers.get("retry-after"))
        raise Refused(message) from None
    except (sdk.APIConnectionError, sdk.APITimeoutError) as exc:
        raise Transient(f"{provider}: {type(exc).__name__}: {_short(exc)}") from None


def _raise_transient(message: str, retry_after: str | None) -> Streamed:
    try:
        wait = float(retry_after) if retry_after is not None else None
    except ValueError:
        wait = None  # an HTTP date: the backoff decides
    raise Transient(message, wait)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__
