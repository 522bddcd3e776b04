"""Schemathesis against the API's own OpenAPI schema: whatever a client sends, no answer is a server error.

In-process over WSGI (no network), as a user who may run skills, so that bodies reach the domain's
validation: every generated request must get a 2xx or a 4xx, never a 5xx. The test's transaction is
rolled back, so nothing it submits is ever published.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Permission, User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok

pytestmark = pytest.mark.django_db

PASSWORD = "fuzz-pw"
EXAMPLES = 40  # per operation


def test_api__no_request_gets_a_server_error() -> None:
    u = User.objects.create_user("fuzzer", password=PASSWORD)
    u.user_permissions.add(*Permission.objects.filter(content_type__app_label="weft",
                                                      codename__in=("run_skill", "act_as_agent")))
    auth = {"Authorization": "Basic " + base64.b64encode(f"fuzzer:{PASSWORD}".encode()).decode()}
    # As Django's test client does: the WSGI handler would otherwise close the test's connection (inside
    # its transaction) when each request ends.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/weft/schema/", get_wsgi_application())
        results = list(schema.get_all_operations())
        bad = [r.err() for r in results if isinstance(r, Err)]
        assert not bad, bad  # every operation of the schema could be read
        operations = [r.ok() for r in results if isinstance(r, Ok)]
        assert len(operations) == 25  # every endpoint of docs/http-api.md but the schema itself
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def call(case: Any) -> None:
                case.validate_response(case.call(headers=auth), checks=[not_a_server_error])

            call()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
