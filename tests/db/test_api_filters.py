"""The API's list filters (django-filter): jobs and tasks by status, skill, owner, label and created range,
within what the caller sees; a bad value is a 400 naming its parameter; the OpenAPI schema lists them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from rest_framework.test import APIClient

from weft_django import service
from weft_django.models import Job

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"


def client(user: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def ids(api: APIClient, url: str) -> set[int]:
    r = api.get(url)
    assert r.status_code == 200, r.content
    return {row["id"] for row in r.json()["results"]}


@pytest.fixture
def people() -> dict[str, Any]:
    alice = User.objects.create_user("alice")
    alice.user_permissions.add(Permission.objects.get(codename="view_all_jobs"))
    bob = User.objects.create_user("bob")
    a = service.submit("t.noop", queue=INPROC, owner=alice, labels={"team": "infra"})
    b = service.submit("t.add", {"a": 1, "b": 2}, queue=INPROC, owner=bob, labels={"team": "web", "urgent": True})
    old = service.submit("t.greet@1", queue=INPROC, owner=bob)
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    service.cancel(a.pk)
    return {"alice": alice, "bob": bob, "a": a.pk, "b": b.pk, "old": old.pk}


def test_job_filters_narrow_within_what_the_caller_sees(people: dict[str, Any]) -> None:
    alice, bob = client(people["alice"]), client(people["bob"])
    a, b, old = people["a"], people["b"], people["old"]
    assert ids(alice, "/api/weft/jobs/?status=cancelled") == {a}
    assert ids(alice, "/api/weft/jobs/?skill=t.add") == {b}
    assert ids(alice, "/api/weft/jobs/?owner=bob") == {b, old}
    assert ids(bob, "/api/weft/jobs/?owner=alice") == set()  # not a way to see another's jobs
    assert ids(alice, "/api/weft/jobs/?label=team:web") == {b}
    assert ids(alice, "/api/weft/jobs/?label=urgent") == {b}
    assert ids(alice, "/api/weft/jobs/?label=team") == {a, b}
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(alice, f"/api/weft/jobs/?created_after={since}") == {a, b}
    assert ids(alice, f"/api/weft/jobs/?created_before={since}") == {old}


def test_task_list_and_its_filters(people: dict[str, Any]) -> None:
    alice, bob = client(people["alice"]), client(people["bob"])
    r = alice.get("/api/weft/tasks/?skill=t.greet&version=1")
    assert r.status_code == 200
    [row] = r.json()["results"]
    assert (row["job"], row["skill_version"]) == (people["old"], "1") and row["url"].endswith(f"/tasks/{row['id']}/")
    assert {t["job"] for t in client(people["bob"]).get("/api/weft/tasks/").json()["results"]} == {
        people["b"], people["old"]}
    assert ids(alice, "/api/weft/tasks/?status=cancelled&label=team:infra") != set()
    assert ids(bob, "/api/weft/tasks/?owner=alice") == set()


@pytest.mark.parametrize(("query", "field"), [
    ("status=exploded", "status"), ("created_after=yesterday", "created_after"),
    ("created_before=2026-13-45", "created_before"), ("status=%00", "status"), ("skill=t.%00", "skill"),
    ("label=team:%00", "label"), ("owner=a%00", "owner"),
    ("created_after=0001-01-01T00:00:00%2B23:00", "created_after"),
])
def test_a_bad_filter_value_is_a_400_naming_the_parameter(people: dict[str, Any], query: str, field: str) -> None:
    for path in ("jobs", "tasks"):
        r = client(people["alice"]).get(f"/api/weft/{path}/?{query}")
        assert (r.status_code, r.json()["field"]) == (400, field), (path, r.content)
    r = client(people["alice"]).get("/api/weft/tasks/?job=abc")
    assert (r.status_code, r.json()["field"]) == (400, "job")


def test_the_schema_lists_the_filters(people: dict[str, Any]) -> None:
    paths = client(people["alice"]).get("/api/weft/schema/?format=json").json()["paths"]
    for path, expected in (("/api/weft/jobs/", {"status", "skill", "owner", "label", "created_after",
                                                "created_before"}),
                           ("/api/weft/tasks/", {"status", "skill", "version", "job", "owner", "label",
                                                 "created_after", "created_before"})):
        assert expected <= {p["name"] for p in paths[path]["get"]["parameters"]}, path


def test_a_date_time_with_an_offset_postgresql_cannot_store_is_read_in_utc(people: dict[str, Any]) -> None:
    for path in ("jobs", "tasks"):  # Python allows offsets to 24 h, PostgreSQL to 16 h: was a server error
        r = client(people["alice"]).get(f"/api/weft/{path}/?created_after=0378-06-12T00:29:55%2B22:53")
        assert r.status_code == 200, r.content
        assert r.json()["results"]
