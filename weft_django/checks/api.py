"""System check of the HTTP API's wiring: where the project mounts it, its schema class."""

from __future__ import annotations

from typing import Any

from django.core import checks


def check_api(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The HTTP API, where the project mounts it, needs drf-spectacular as DRF's schema class."""
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("weft_api:schema")
    except NoReverseMatch:  # the API is not mounted: nothing to check
        return []
    except Exception:  # no ROOT_URLCONF (a worker-only settings module), or one Django's own checks report
        return []
    from rest_framework.settings import api_settings

    schema_class = api_settings.DEFAULT_SCHEMA_CLASS
    if schema_class is not None and schema_class.__module__.startswith("drf_spectacular"):
        return []
    return [checks.Warning(
        "weft's HTTP API is mounted but DRF's DEFAULT_SCHEMA_CLASS is not drf-spectacular's: its OpenAPI schema "
        "(…/schema/) cannot be built.",
        hint='Set REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema", ...}.',
        id="weft.W040")]
