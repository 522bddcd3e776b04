"""WEFT_NOTIFICATIONS (notifications.py): E057 for a subscription that could never be delivered."""

from __future__ import annotations

from typing import Any

from django.core import checks

from ..conf import settings
from ..exceptions import InvalidInput
from ..subscribing import check_subscription


def check_notifications(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    subs = settings.NOTIFICATIONS
    if subs is None:
        return []
    if not isinstance(subs, list | tuple):
        return [checks.Error(f"WEFT_NOTIFICATIONS must be a list of subscriptions, got {type(subs).__name__}.",
                             hint="See docs/operations.md (notifications).", id="weft.E057")]
    errors: list[checks.CheckMessage] = []
    for i, sub in enumerate(subs):
        try:
            check_subscription(sub, f"WEFT_NOTIFICATIONS[{i}]")
        except InvalidInput as exc:
            errors.append(checks.Error(f"WEFT_NOTIFICATIONS[{i}]: {exc}.", hint="See docs/operations.md.",
                                       id="weft.E057"))
    return errors
