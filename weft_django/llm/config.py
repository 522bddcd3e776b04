"""WEFT_LLM, read and checked: which provider, which model, where, with which key, at what price.

The key comes from the settings (``api_key``) or, better, from the environment variable ``api_key_env``
names; it is never written to a row or shown in an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conf import settings
from ..exceptions import InvalidInput

PROVIDERS = ("openai", "anthropic")
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
KEYS = {"provider", "model", "base_url", "api_key", "api_key_env", "prices", "max_retries", "backoff",
        "max_backoff", "timeout", "breaker_failures", "breaker_reset"}


@dataclass(frozen=True)
class LlmConfig:
    provider: str
    model: str
    base_url: str | None = None
    api_key: str = field(default="", repr=False)
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # per million tokens
    max_retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    timeout: float = 120.0
    breaker_failures: int = 5
    breaker_reset: float = 60.0

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self.prices.get(model) or {}
        return (input_tokens * float(price.get("input", 0)) + output_tokens * float(price.get("output", 0))) / 1e6


def parse(raw: Any, path: str = "WEFT_LLM") -> LlmConfig:
    """The configuration, or InvalidInput naming the key that is wrong."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(path, "must be an object with at least 'provider' and 'model'")
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise InvalidInput(f"{path}.{unknown[0]}", f"unknown key; known: {', '.join(sorted(KEYS))}")
    provider = raw.get("provider")
    if provider not in PROVIDERS:
        raise InvalidInput(f"{path}.provider", f"must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    for name in ("model", "base_url", "api_key", "api_key_env"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or (name == "model" and not value)):
            raise InvalidInput(f"{path}.{name}", "must be a non-empty string" if name == "model"
                               else "must be a string")
    if not raw.get("model"):
        raise InvalidInput(f"{path}.model", "must be a non-empty string")
    prices = raw.get("prices", {})
    if not isinstance(prices, Mapping) or not all(
            isinstance(p, Mapping) and set(p) <= {"input", "output"}
            and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in p.values())
            for p in prices.values()):
        raise InvalidInput(f"{path}.prices", "must map each model to {'input': x, 'output': y}, numbers >= 0 per "
                                             "million tokens")
    numbers: dict[str, Any] = {}
    for name, low in (("max_retries", 0), ("backoff", 0), ("max_backoff", 0), ("timeout", 0.001),
                      ("breaker_failures", 1), ("breaker_reset", 0.001)):
        value = raw.get(name, getattr(LlmConfig, name))
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise InvalidInput(f"{path}.{name}", f"must be a number of at least {low:g}, got {value!r}")
        numbers[name] = int(value) if name in ("max_retries", "breaker_failures") else float(value)
    key = raw.get("api_key") or os.environ.get(raw.get("api_key_env") or DEFAULT_KEY_ENV[provider], "")
    return LlmConfig(provider=provider, model=raw["model"], base_url=raw.get("base_url"), api_key=key,
                     prices=dict(prices), **numbers)


def current() -> LlmConfig:
    if settings.LLM is None:
        raise InvalidInput("WEFT_LLM", "is not set: weft_django.llm needs a provider and a model (docs/agents.md)")
    return parse(settings.LLM)
