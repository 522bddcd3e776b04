"""Calls to language models from skills and loops: OpenAI-compatible endpoints and Anthropic, chosen by
WEFT_LLM; streamed, retried, held back by a shared circuit breaker, recorded and counted (docs/agents.md)."""

from __future__ import annotations

from .calls import Prompt, ProviderUnavailable, Reply, chat, render
from .config import LlmConfig, parse

__all__ = ["LlmConfig", "Prompt", "ProviderUnavailable", "Reply", "chat", "parse", "render"]
