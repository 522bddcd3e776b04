"""WEFT_RETENTION and WEFT_PRUNE_BATCH (retention.py): E055, E056."""

from __future__ import annotations

from typing import Any

from django.core import checks

from ..conf import settings
from ..exceptions import InvalidInput


def check_retention(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from ..retention import check_retention as parse

    errors: list[checks.CheckMessage] = []
    try:
        parse(settings.RETENTION)
    except InvalidInput as exc:
        errors.append(checks.Error(f"{exc}.", id="weft.E055",
                                   hint='Days per final status, e.g. {"succeeded": 30, "failed": 90}; None keeps all.'))
    batch = settings.PRUNE_BATCH
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        errors.append(checks.Error(f"WEFT_PRUNE_BATCH must be a whole number of task rows above 0, got {batch!r}.",
                                   hint="The default (2000) keeps each delete short.", id="weft.E056"))
    return errors
