"""WEFT_LLM (weft_django.llm): E080 when it is malformed, E081 when its provider's SDK is not installed."""

from __future__ import annotations

import importlib.util
from typing import Any

from django.core import checks

from ..conf import settings
from ..exceptions import InvalidInput


def check_llm(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.LLM is None:
        return []
    from ..llm.config import parse

    try:
        config = parse(settings.LLM)
    except InvalidInput as exc:
        return [checks.Error(f"{exc}", hint="See docs/agents.md: WEFT_LLM = {'provider': 'openai', 'model': ...}.",
                             id="weft.E080")]
    if importlib.util.find_spec(config.provider) is None:
        return [checks.Error(f"WEFT_LLM names provider {config.provider!r}, whose SDK is not installed.",
                             hint='pip install "weft-django[llm]"', id="weft.E081")]
    return []
