"""Issue 10: submissions that were answered 500 (or 400 after writing the job) are 400s naming the field,
and nothing is written. Each case here was found by a probe as an ordinary API user."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django import Settings

from tests.db.test_api import API, client_for, user
from weft_django import service
from weft_django.models import Decision, Dependency, Job, Task

pytestmark = pytest.mark.django_db

NOOP = {"tasks": [{"key": "a", "skill": "t.noop"}]}


def rows() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Job, Task, Dependency, Decision))


def post_raw(u: User, body: str) -> Any:
    # json.dumps escapes a lone surrogate as \ud800, as any client sending one has to
    return client_for(u).post(f"{API}/jobs/", body, content_type="application/json")


@pytest.mark.parametrize(("body", "field"), [
    ({**NOOP, "budget": {"deadline": "9999-12-31T23:00:00-12:00"}}, "budget.deadline"),  # was 400 + a job written
    ({**NOOP, "budget": {"deadline": 1e20}}, "budget.deadline"),
    ({**NOOP, "budget": {"deadline": 400 * 86400}}, "budget.deadline"),  # over WEFT_MAX_DEADLINE_DAYS
    ({**NOOP, "budget": {"max_attempts": 2**31}}, "budget.max_attempts"),
    ({**NOOP, "budget": {"max_tokens": 2**63}}, "budget.max_tokens"),  # over the column: refused, not a 500
    ({**NOOP, "budget": {"max_tokens": -1}}, "budget.max_tokens"),
    ({"skill": "t.noop", "name": "x" * 201}, "name"),
    ({"skill": "t.noop", "name": ["x"]}, "name"),
    ({**NOOP, "name": {"x": 1}}, "name"),
    ({"skill": "t.noop", "idempotency_key": "k" * 201}, "idempotency_key"),
    ({**NOOP, "idempotency_key": "k" * 201}, "idempotency_key"),
    ({"skill": "t.noop", "labels": ["x"]}, "labels"),
    ({"skill": "t.noop", "labels": "x"}, "labels"),
    ({**NOOP, "labels": ["x"]}, "labels"),
    ({"skill": "t.noop", "name": "a\x00b"}, "name"),
    ({"skill": "t.noop", "name": "a\ud800b"}, "name"),
    ({"skill": "t.noop", "idempotency_key": "k\x00"}, "idempotency_key"),
    ({"skill": "t.noop", "idempotency_key": "k\ud800"}, "idempotency_key"),
    ({"skill": "t.noop", "labels": {"team": "\ud800"}}, "labels.team"),
    ({"skill": "t.noop", "labels": {"te\x00am": 1}}, "labels"),
    ({"skill": "t.echo", "params": {"text": "\ud800"}}, "params.text"),
    ({"skill": "t.noop", "params": {"\ud800": 1}}, "params"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "params": {"x": ["\x00"]}}]}, "tasks[0].params.x[0]"),
    ({"skill": "t.noop", "retry": {"max_attempts": 10**9, "backoff": 0.001}}, "retry.max_attempts"),
    ({"skill": "t.noop", "retry": {"backoff": 0.001, "factor": 1}}, "retry.backoff"),
    ({"skill": "t.noop", "\ud800": 1}, "\\ud800"),  # an unknown field, named back escaped
    # A job's name defaults to its skill's: a bad skill was reported as "name", a field the caller never sent.
    ({"skill": "t.noop\ud800"}, "skill"),
    ({"skill": "t.noop\x00"}, "skill"),
    ({"skill": "t." + "x" * 300}, "skill"),
    ({"tasks": [{"key": "a", "skill": "t\ud800"}]}, "tasks[0].skill"),
    ({"skill": "t.noop", "locks": True}, "locks"),  # these four were 500s: tuple(True) raised a TypeError
    ({"skill": "t.noop", "locks": 5}, "locks"),
    ({"skill": "t.noop", "locks": 1e300}, "locks"),
    ({"skill": "t.noop", "locks": "db:x"}, "locks"),
    ({"skill": "t.noop", "locks": {"db": "x"}}, "locks"),
])
def test_api__input_that_once_made_a_500_is_a_400_naming_the_field(body: dict[str, Any], field: str) -> None:
    alice = user("alice")
    r = post_raw(alice, json.dumps(body))

    assert r.status_code == 400, r.content
    assert r.json()["field"] == field, r.json()
    assert rows() == (0, 0, 0, 0)


def test_api__json_nested_a_thousand_levels_deep_is_a_400() -> None:
    alice = user("alice")
    for depth in (150, 1000, 100_000):  # past weft's limit (100), Python's parser's, and far past
        r = post_raw(alice, '{"skill": "t.noop", "labels": {"x": ' + "[" * depth + "]" * depth + "}}")
        assert r.status_code == 400, (depth, r.content)
        assert set(r.json()) == {"field", "detail"}
        assert "nested" in r.json()["detail"]
    assert rows() == (0, 0, 0, 0)


@pytest.mark.parametrize("cursor", ["p=abc", "p=1.5&o=2", "o=-1", "r=x"])
def test_api__a_crafted_pagination_cursor_is_a_400(cursor: str) -> None:
    alice = user("alice")
    service.submit("t.noop", owner=alice)
    encoded = base64.b64encode(cursor.encode()).decode()
    for path in ("jobs/", f"jobs/{Job.objects.get().pk}/tasks/"):
        r = client_for(alice).get(f"{API}/{path}?cursor={encoded}")
        assert r.status_code == 400, (path, r.content)
        assert r.json() == {"field": "cursor", "detail": "is not a cursor this API returned"}


def test_api__the_cursors_the_api_hands_out_still_work() -> None:
    alice = user("alice")
    ids = [service.submit("t.noop", owner=alice).pk for _ in range(3)]
    page = client_for(alice).get(f"{API}/jobs/?page_size=2").json()
    assert [j["id"] for j in page["results"]] == ids[:0:-1]
    following = client_for(alice).get(page["next"]).json()
    assert [j["id"] for j in following["results"]] == ids[:1]


def test_api__a_body_over_djangos_limit_is_a_json_413(settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    r = post_raw(user("alice"), json.dumps({"skill": "t.echo", "params": {"text": "x" * 2000}}))

    assert r.status_code == 413, r.content
    assert r["Content-Type"] == "application/json"
    assert r.json() == {"field": "", "detail": "the body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE (1000 bytes)"}
    assert rows() == (0, 0, 0, 0)


def test_api__a_body_that_is_not_json_is_a_400_in_the_same_shape() -> None:
    r = post_raw(user("alice"), "{not json")
    assert r.status_code == 400
    assert set(r.json()) == {"field", "detail"}


def test_api__a_reject_reason_postgresql_cannot_store_is_a_400() -> None:
    alice = user("alice")
    job_id = client_for(alice).post(f"{API}/jobs/", {"skill": "t.guarded"}, format="json").json()["id"]
    task = Task.objects.get(job_id=job_id)
    ops = User.objects.create_superuser("ops", "ops@example.com", "pw")
    for reason in ("no\x00", "no\ud800"):
        r = client_for(ops).post(f"{API}/tasks/{task.pk}/reject/", json.dumps({"reason": reason}),
                                 content_type="application/json")
        assert r.status_code == 400, r.content
        assert r.json()["field"] == "reason"
    assert not Decision.objects.filter(task=task, action="reject").exists()
    assert Task.objects.get(pk=task.pk).status == task.status


def test_api__a_body_over_djangos_limit_is_a_json_413_through_wsgi_too(settings: Settings) -> None:
    """Through the WSGI handler, as a server calls it, with HTTP basic authentication."""
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    user("alice")  # password "pw", may run skills
    body = json.dumps({"skill": "t.echo", "params": {"text": "x" * 2000}}).encode()
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": f"{API}/jobs/", "SERVER_NAME": "testserver", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"alice:pw").decode(),
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answer.update(status=status, headers=dict(headers))
        return lambda data: None

    # As Django's test client does: the handler would otherwise close the test's connection
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        content = b"".join(get_wsgi_application()(environ, start_response))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert answer["status"].startswith("413"), content
    assert answer["headers"]["Content-Type"] == "application/json"
    assert json.loads(content)["field"] == ""
    assert rows() == (0, 0, 0, 0)


@pytest.mark.parametrize(("query", "field"), [
    ("jobs/?page_size=-1", "page_size"),  # DRF used its default page size for these three, silently
    ("jobs/?page_size=abc", "page_size"),
    ("jobs/?page_size=100000", "page_size"),  # and 500 for this one
    ("jobs/?page_size=0", "page_size"),
    ("jobs/?page_size=%C2%B2", "page_size"),  # "²": a digit to str.isdigit, not to int()
    ("jobs/{job}/results/?limit=%C2%B2", "limit"),  # was a 500
    ("jobs/{job}/explain/?after=%D9%A3", "after"),  # an Arabic-Indic three
    ("jobs/{job}/results/?after=1%0A", "after"),
])
def test_api__a_bad_page_parameter_is_a_400_naming_it(query: str, field: str) -> None:
    alice = user("alice")
    job = service.submit("t.noop", owner=alice)
    r = client_for(alice).get(f"{API}/{query.format(job=job.pk)}")
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field


def test_api__the_page_size_asked_for_is_the_page_size_given() -> None:
    alice = user("alice")
    for _ in range(3):
        service.submit("t.noop", owner=alice)
    assert len(client_for(alice).get(f"{API}/jobs/?page_size=500").json()["results"]) == 3
    assert len(client_for(alice).get(f"{API}/jobs/?page_size=1").json()["results"]) == 1
