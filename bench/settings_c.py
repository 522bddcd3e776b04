"""(c) procrastinate through its Django integration."""

from __future__ import annotations

from bench.settings_base import *  # noqa: F403

INSTALLED_APPS = ["procrastinate.contrib.django"]
PROCRASTINATE_IMPORT_PATHS = ["bench.procrastinate_app"]
