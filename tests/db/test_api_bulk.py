"""``POST /api/weft/jobs/bulk/``: a JSON list of one-task submissions, all written or none; bad input is a 400
naming ``[index].field``, a denied item a 403 naming the rule; at most WEFT_SUBMIT_MANY_MAX items."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django import Settings

from tests.db.test_api import API, client_for, user
from weft_django.models import Decision, Job, PolicyDecision, Task
from weft_django.policy import store

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"
GOOD = {"skill": "t.noop", "queue": INPROC}


def rows() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Job, Task, Decision))


def bulk(u: User, body: Any) -> Any:
    return client_for(u).post(f"{API}/jobs/bulk/", body, format="json")


def bulk_raw(u: User, text: str) -> Any:
    return client_for(u).post(f"{API}/jobs/bulk/", text, content_type="application/json")


def test_bulk__writes_every_job_for_its_owner_in_order() -> None:
    alice = user("alice")
    r = bulk(alice, [{"skill": "t.add", "params": {"a": i, "b": 1}, "queue": INPROC, "labels": {"n": i}}
                     for i in range(5)] + [{**GOOD, "name": "last", "priority": 1}])
    assert r.status_code == 201, r.json()
    body = r.json()
    assert [j["labels"].get("n") for j in body] == [0, 1, 2, 3, 4, None]
    assert body[-1]["name"] == "last" and all(j["owner"] == "alice" for j in body)
    jobs = [Job.objects.get(pk=j["id"]) for j in body]
    assert [Task.objects.get(job=j).params.get("a") for j in jobs] == [0, 1, 2, 3, 4, None]
    assert Task.objects.get(job=jobs[-1]).priority == 1 and all(j.owner == alice for j in jobs)


@pytest.mark.parametrize(("text", "field"), [
    (json.dumps([GOOD, {"skill": "t.echo", "params": {"text": "a\x00b"}}]), "[1].params.text"),
    (json.dumps([GOOD, {"skill": "t.echo", "params": {"text": "a\ud800b"}}]), "[1].params.text"),
    (json.dumps([GOOD, {**GOOD, "name": "a\ud800"}]), "[1].name"),
    (json.dumps([GOOD, {**GOOD, "labels": {"k": "\x00"}}]), "[1].labels"),
    (json.dumps([GOOD, {**GOOD, "priority": "high"}]), "[1].priority"),
    (json.dumps([GOOD, {**GOOD, "priority": 1e300}]), "[1].priority"),
    (json.dumps([GOOD, {**GOOD, "timeout": "soon"}]), "[1].timeout"),
    (json.dumps([GOOD, {**GOOD, "limits": ["x"]}]), "[1].limits"),
    (json.dumps([GOOD, {**GOOD, "locks": "db:x"}]), "[1].locks"),
    (json.dumps([GOOD, {**GOOD, "params": [1]}]), "[1].params"),
    (json.dumps([GOOD, {**GOOD, "skill": 3}]), "[1].skill"),
    (json.dumps([GOOD, {**GOOD, "deadline": "2030-01-01T00:00:00Z"}]), "[1].deadline"),
    (json.dumps([GOOD, {**GOOD, "tasks": []}]), "[1].tasks"),
    (json.dumps([GOOD, 7]), "[1]"),
    (json.dumps([GOOD, [GOOD]]), "[1]"),
    (json.dumps([GOOD, {"skill": "t.nope"}]), "[1].skill"),
    (json.dumps({"skill": "t.noop"}), ""),
    (json.dumps("t.noop"), ""),
    ("[" * 5000 + "]" * 5000, ""),
    ('[{"skill": "t.noop"},', ""),
])
def test_bulk__bad_input_is_a_400_naming_index_and_field_and_nothing_is_written(text: str, field: str) -> None:
    before = rows()
    r = bulk_raw(user("alice"), text)
    assert r.status_code == 400, (r.status_code, r.content[:300])
    body = r.json()
    assert body["field"].startswith(field) and (field or body["field"] == ""), body
    assert body["detail"], body
    assert rows() == before


def test_bulk__too_many_items_is_a_400_naming_the_setting(settings: Settings) -> None:
    settings.WEFT_SUBMIT_MANY_MAX = 3
    alice = user("alice")
    r = bulk(alice, [GOOD] * 4)
    assert r.status_code == 400 and "WEFT_SUBMIT_MANY_MAX" in r.json()["detail"], r.json()
    assert not Job.objects.exists()
    assert bulk(alice, [GOOD] * 3).status_code == 201


def test_bulk__a_denied_item_is_a_403_naming_the_rule_and_recorded(settings: Settings) -> None:
    settings.WEFT_POLICIES = [{"name": "no-echo", "match": {"skill": "t.echo"}, "effects": {"deny": True}}]
    try:
        r = bulk(user("alice"), [GOOD, GOOD, {"skill": "t.echo", "params": {"text": "x"}}])
        assert r.status_code == 403 and "no-echo" in r.json()["detail"] and "[2].skill" in r.json()["detail"], r.json()
        assert list(PolicyDecision.objects.values_list("rule", "field")) == [("no-echo", "[2].skill")]
        assert not Job.objects.exists()
    finally:
        store.forget()


def test_bulk__permissions() -> None:
    assert bulk(user("nobody", run=False), [GOOD]).status_code == 403
    r = bulk(user("alice"), [GOOD, {"skill": "t.restricted", "queue": INPROC}])
    assert r.status_code == 403 and "[1].skill" in r.json()["detail"], r.json()
    assert client_for(None).post(f"{API}/jobs/bulk/", [GOOD], format="json").status_code == 403
    assert not Job.objects.exists()
    r = bulk(user("bea", perms=("run_restricted",)), [GOOD, {"skill": "t.restricted", "queue": INPROC}])
    assert r.status_code == 201, r.json()


def test_bulk__the_schema_describes_a_list_in_and_out() -> None:
    r = client_for(None).get(f"{API}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    op = r.json()["paths"]["/api/weft/jobs/bulk/"]["post"]
    request = op["requestBody"]["content"]["application/json"]["schema"]
    assert request == {"type": "array", "items": {"$ref": "#/components/schemas/TaskSubmission"}}, request
    ok = op["responses"]["201"]["content"]["application/json"]["schema"]
    assert ok == {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}, ok
    assert {"400", "403"} <= set(op["responses"])
