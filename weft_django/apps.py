"""App configuration: wiring only."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks as django_checks
from django.utils.translation import gettext_lazy as _


class WeftConfig(AppConfig):
    name = "weft_django"
    label = "weft"
    verbose_name = _("Weft")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # signal_handlers installs the sweep's beat schedule after migrate.
        from . import checks, signal_handlers  # noqa: F401
        from .backends import hook

        hook.install()  # Django's Tasks framework, when a TASKS backend is weft's (docs/django-tasks.md)

        # The system checks, each under the tag `manage.py check --tag` selects it by (docs/settings.md).
        for check, tag in ((checks.check_settings, django_checks.Tags.compatibility),
                           (checks.check_reliability, django_checks.Tags.compatibility),
                           (checks.check_results_and_queues, django_checks.Tags.compatibility),
                           (checks.check_limits, django_checks.Tags.compatibility),
                           (checks.check_api, django_checks.Tags.urls),
                           (checks.check_llm, django_checks.Tags.compatibility),
                           (checks.check_retention, django_checks.Tags.compatibility),
                           (checks.check_notifications, django_checks.Tags.compatibility),
                           (checks.check_policies, django_checks.Tags.compatibility),
                           (checks.check_permissions, django_checks.Tags.security)):
            django_checks.register(check, tag)
