"""tests/settings.py with a custom user model that has no ``username`` (tests/emailuser), for the
subprocesses of tests/db/test_custom_user.py, on a database of their own (WEFT_WORKER_DB_NAME)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.emailuser"]
AUTH_USER_MODEL = "emailuser.EmailUser"
