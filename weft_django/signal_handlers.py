"""Receivers of Django's signals, connected once (``dispatch_uid``) when the app is ready."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models.signals import post_migrate

logger = logging.getLogger(__name__)


def install_sweep_schedule(sender: Any = None, using: str = "default", **kwargs: Any) -> None:
    """After ``migrate``: create or update the beat task that runs the sweep (WEFT_INSTALL_SCHEDULE)."""
    from .conf import settings
    from .sweep import install_schedule

    if getattr(sender, "label", None) != "weft" or not settings.INSTALL_SCHEDULE:
        return
    try:
        install_schedule(using=using)
    except Exception:  # e.g. migrate --run-syncdb without beat's tables; never fail a migrate over it
        logger.warning("weft: could not install the sweep schedule; run manage.py weft_sweep --install-schedule",
                       exc_info=True)


post_migrate.connect(install_sweep_schedule, dispatch_uid="weft_install_sweep_schedule")


def connect_notifications() -> None:
    """Job and task events to the subscriptions that want them (notifications.py)."""
    from . import notifications, signals

    signals.job_finished.connect(notifications.on_job_finished, dispatch_uid="weft_notify_job")
    signals.task_finished.connect(notifications.on_task_finished, dispatch_uid="weft_notify_task")


connect_notifications()
