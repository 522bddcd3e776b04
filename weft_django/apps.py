"""App configuration: wiring only."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WeftConfig(AppConfig):
    name = "weft_django"
    label = "weft"
    verbose_name = _("Weft")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # checks registers the system checks; signal_handlers installs the sweep's beat schedule after migrate.
        from . import checks, signal_handlers  # noqa: F401
