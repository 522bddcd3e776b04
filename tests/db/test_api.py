"""The HTTP API on PostgreSQL through Django's test client: submission, validation, permissions, visibility.

No worker runs here (what a submission dispatches is published only after commit, and these tests
roll back); tests/workers/test_api_worker.py runs a job end to end.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.perms import member
from weft_django import service
from weft_django.models import Decision, Job, Skill, Task

pytestmark = pytest.mark.django_db

API = "/api/weft"


def user(name: str, *, run: bool = True, staff: bool = False, perms: tuple[str, ...] = ()) -> User:
    u = User.objects.create_user(name, password="pw", is_staff=staff)
    if run:
        u.user_permissions.add(Permission.objects.get(content_type__app_label="weft", codename="run_skill"))
    for codename in perms:
        ct, _ = ContentType.objects.get_or_create(app_label="testapp", model="restricted")
        perm, _ = Permission.objects.get_or_create(content_type=ct, codename=codename, defaults={"name": codename})
        u.user_permissions.add(perm)
    return User.objects.get(pk=u.pk)  # a fresh instance: permissions are cached per instance


def client_for(u: User | None) -> APIClient:
    c = APIClient()
    if u is not None:
        c.force_authenticate(u)
    return c


def post(u: User, body: Any) -> Any:
    return client_for(u).post(f"{API}/jobs/", body, format="json")


def test_api__submit_one_task_writes_the_job_for_its_owner() -> None:
    alice = user("alice")
    r = post(alice, {"skill": "t.add", "params": {"a": 1, "b": 2}, "priority": 2, "labels": {"team": "x"}})

    assert r.status_code == 201, r.json()
    body = r.json()
    job = Job.objects.get(pk=body["id"])
    assert (job.owner, job.status, job.labels, job.tasks_total) == (alice, "running", {"team": "x"}, 1)
    task = Task.objects.get(job=job)
    assert (task.skill_name, task.params, task.priority, task.status) == ("t.add", {"a": 1, "b": 2}, 2, "queued")
    assert body["owner"] == "alice"
    assert r["Location"].endswith(f"/api/weft/jobs/{job.pk}/")


def test_api__submit_a_dag_with_a_budget() -> None:
    alice = user("alice")
    r = post(alice, {"name": "diamond", "budget": {"max_attempts": 10}, "tasks": [
        {"key": "a", "skill": "t.add", "params": {"a": 1, "b": 1}},
        {"key": "b", "skill": "t.add", "params": {"a": 2, "b": 2}, "depends_on": ["a"]},
    ]})

    assert r.status_code == 201, r.json()
    job = Job.objects.get(pk=r.json()["id"])
    assert (job.name, job.max_attempts, job.owner, job.tasks_total) == ("diamond", 10, alice, 2)
    assert dict(Task.objects.filter(job=job).values_list("key", "status")) == {"a": "queued", "b": "pending"}


@pytest.mark.parametrize(("body", "field", "detail"), [
    ({"skill": "t.nope"}, "skill", "unknown skill 't.nope'"),
    ({"skill": "t.add", "params": {"a": "one", "b": 2}}, "params.a", "'one' is not of type 'number'"),
    ({"skill": "t.add", "params": {"a": 1, "b": 2}, "limits": {"memory_mb": 10**9}}, "limits.memory_mb",
     "exceeds the configured ceiling 16384"),
    ({"skill": "t.add", "params": {"a": 1, "b": 2}, "timeout": -1}, "timeout", "greater than 0"),
    ({"skill": "t.add", "params": {"a": 1, "b": 2}, "priority": 12}, "priority", "0 to 9"),
    ({"skill": "t.add", "colour": "red"}, "colour", "unknown field"),
    ({"params": {}}, "skill", "is required"),
    ({"skill": 7}, "skill", "is required"),
    ({"tasks": []}, "tasks", "non-empty list"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "depends_on": ["b"]},
                {"key": "b", "skill": "t.noop", "depends_on": ["a"]}]}, "tasks", "a -> b -> a"),
    ({"tasks": [{"key": "a", "skill": "t.noop"}], "budget": {"max_attempts": 0}}, "budget.max_attempts", "0"),
    ({"tasks": [{"key": "a", "skill": "t.noop"}, {"key": "b", "skill": "t.nope"}]}, "tasks[1].skill",
     "unknown skill"),
])
def test_api__bad_input_names_the_field_and_writes_nothing(body: dict[str, Any], field: str, detail: str) -> None:
    r = post(user("alice"), body)

    assert r.status_code == 400, r.json()
    assert r.json()["field"] == field, r.json()
    assert detail in r.json()["detail"], r.json()
    assert not Job.objects.exists() and not Task.objects.exists() and not Decision.objects.exists()


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "{not json", ""])
def test_api__a_body_that_is_not_a_json_object_is_a_400(raw: str) -> None:
    r = client_for(user("alice")).post(f"{API}/jobs/", raw, content_type="application/json")

    assert r.status_code == 400, r.content
    assert not Job.objects.exists()


def test_api__running_skills_needs_the_permission_and_a_skill_its_own() -> None:
    nobody = user("nobody", run=False)
    assert post(nobody, {"skill": "t.noop"}).status_code == 403
    assert client_for(nobody).get(f"{API}/skills/").json() == []

    alice = user("alice")
    r = post(alice, {"skill": "t.restricted"})
    assert r.status_code == 403
    assert "testapp.run_restricted" in r.json()["detail"]
    r = post(alice, {"tasks": [{"key": "a", "skill": "t.noop"}, {"key": "b", "skill": "t.restricted"}]})
    assert r.status_code == 403
    assert r.json()["detail"].startswith("tasks[1].skill:")
    assert "t.restricted" not in [sk["name"] for sk in client_for(alice).get(f"{API}/skills/").json()]
    assert not Job.objects.exists()

    bob = user("bob", perms=("run_restricted",))
    assert post(bob, {"skill": "t.restricted"}).status_code == 201
    assert "t.restricted" in [sk["name"] for sk in client_for(bob).get(f"{API}/skills/").json()]


def test_api__anonymous_callers_get_nothing() -> None:
    anon = client_for(None)
    assert anon.get(f"{API}/jobs/").status_code in (401, 403)
    assert anon.post(f"{API}/jobs/", {"skill": "t.noop"}, format="json").status_code in (401, 403)
    assert anon.get(f"{API}/skills/").status_code in (401, 403)
    assert not Job.objects.exists()


def test_api__users_see_only_their_own_jobs_and_viewers_of_all_see_all() -> None:
    alice, bob, admin = user("alice"), user("bob"), member("admin", "weft.view_all_jobs")
    a = post(alice, {"skill": "t.noop"}).json()["id"]
    b = post(bob, {"skill": "t.noop"}).json()["id"]
    service.submit("t.noop")  # from code: no owner

    def ids(u: User) -> list[int]:
        return [j["id"] for j in client_for(u).get(f"{API}/jobs/").json()["results"]]

    assert ids(alice) == [a]
    assert ids(bob) == [b]
    assert len(ids(admin)) == 3
    task_b = Task.objects.get(job_id=b).pk
    for path in (f"jobs/{b}/", f"jobs/{b}/status/", f"jobs/{b}/results/", f"jobs/{b}/explain/", f"jobs/{b}/tasks/",
                 f"tasks/{task_b}/"):
        assert client_for(alice).get(f"{API}/{path}").status_code == 404, path
        assert client_for(admin).get(f"{API}/{path}").status_code == 200, path
    assert client_for(alice).post(f"{API}/jobs/{b}/cancel/").status_code == 404
    assert client_for(alice).post(f"{API}/tasks/{task_b}/cancel/").status_code == 404
    assert Job.objects.get(pk=b).status == "running"
    assert client_for(alice).get(f"{API}/jobs/abc/").status_code == 404


def test_api__idempotency_keys_are_per_owner_and_a_resubmission_is_a_200() -> None:
    alice, bob = user("alice"), user("bob")
    first = post(alice, {"skill": "t.noop", "idempotency_key": "k-1"})
    again = post(alice, {"skill": "t.noop", "idempotency_key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()  # same key, same submission: the same job

    # Another owner's key is theirs: it neither finds nor reveals alice's job
    r = post(bob, {"skill": "t.noop", "idempotency_key": "k-1"})
    assert r.status_code == 201, r.json()
    assert r.json()["id"] != first.json()["id"] and r.json()["owner"] == "bob"

    r = post(alice, {"skill": "t.noop", "idempotency_key": "k-1", "params": {"x": 1}})
    assert r.status_code == 400
    assert r.json() == {"field": "idempotency_key", "detail": f"was used for job {first.json()['id']}, submitted "
                                                             "with a different params; a different submission needs "
                                                             "a new key"}
    assert Job.objects.count() == 2


def test_api__status_results_explain_tasks_and_cancel_of_your_job() -> None:
    alice = user("alice")
    c = client_for(alice)
    job_id = post(alice, {"tasks": [{"key": "a", "skill": "t.noop"},
                                    {"key": "b", "skill": "t.noop", "depends_on": ["a"]}]}).json()["id"]

    st = c.get(f"{API}/jobs/{job_id}/status/").json()
    assert (st["status"], st["total"], st["done"], st["tasks"]) == ("running", 2, 0, {"pending": 1, "queued": 1})
    assert c.get(f"{API}/jobs/{job_id}/results/").json()["tasks"]["a"]["status"] == "queued"
    tasks = c.get(f"{API}/jobs/{job_id}/tasks/").json()["results"]
    assert sorted(t["key"] for t in tasks) == ["a", "b"]
    detail = c.get(f"{API}/tasks/{tasks[0]['id']}/").json()
    assert detail["attempt_list"] == [] and "decision_list" in detail

    assert c.post(f"{API}/jobs/{job_id}/cancel/").json() == {"cancelled": True}
    assert c.post(f"{API}/jobs/{job_id}/cancel/").json() == {"cancelled": False}
    assert Job.objects.get(pk=job_id).status == "cancelled"
    assert "cancel" in c.get(f"{API}/jobs/{job_id}/explain/").json()["explain"]
    assert c.get(f"{API}/jobs/?status=cancelled").json()["results"][0]["id"] == job_id
    r = c.get(f"{API}/jobs/?status=bogus")
    assert r.status_code == 400 and r.json()["field"] == "status"


def test_api__a_disabled_skill_is_not_listed_and_not_accepted() -> None:
    alice = user("alice")
    Skill.objects.create(name="t.noop", version="1", kind="python", target="tests.testapp.skills.noop",
                         enabled=False)

    assert "t.noop" not in [sk["name"] for sk in client_for(alice).get(f"{API}/skills/").json()]
    r = post(alice, {"skill": "t.noop"})
    assert r.status_code == 400
    assert r.json() == {"field": "skill", "detail": "skill 't.noop' is disabled"}


def test_api__skills_list_their_schema() -> None:
    skills = {sk["name"]: sk for sk in client_for(user("alice")).get(f"{API}/skills/").json()}
    assert skills["t.add"]["params"]["required"] == ["a", "b"]
    assert skills["t.add"]["kind"] == "python"
    assert skills["t.echo"]["kind"] == "command"
    assert client_for(user("bob")).get(f"{API}/skills/t.add/").json()["name"] == "t.add"


def test_api__openapi_schema_describes_every_endpoint() -> None:
    r = client_for(None).get(f"{API}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert r.status_code == 200
    schema = r.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    validate_schema(schema)  # against the OpenAPI 3 JSON Schema
    assert {"JobStatusEnum", "TaskStatusEnum", "Job", "Task"} <= set(schema["components"]["schemas"])
    for p in ("/api/weft/jobs/", "/api/weft/jobs/{id}/", "/api/weft/jobs/{id}/cancel/", "/api/weft/jobs/{id}/explain/",
              "/api/weft/jobs/{id}/results/", "/api/weft/jobs/{id}/status/", "/api/weft/jobs/{id}/tasks/",
              "/api/weft/skills/", "/api/weft/skills/{id}/", "/api/weft/tasks/{id}/", "/api/weft/tasks/{id}/cancel/",
              "/api/weft/tasks/{id}/approve/", "/api/weft/tasks/{id}/reject/", "/api/weft/jobs/{id}/rerun/",
              "/api/weft/jobs/{id}/audit/"):
        assert p in paths, (p, sorted(paths))


def test_api__manage_py_spectacular_validates_without_a_warning(tmp_path: Any) -> None:
    """What a project runs in CI: the schema of its urlconf (weft's API mounted in it), validated, any warning
    or error fatal; and every operation documents its errors with their body."""
    import yaml
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))  # raises on any warning

    schema = yaml.safe_load(out.read_text())
    components = schema["components"]["schemas"]
    assert not [n for n in components if n.endswith("Enum") and any(c.isdigit() for c in n)], sorted(components)
    errors = {"400": "#/components/schemas/FieldError", "403": "#/components/schemas/Error",
              "404": "#/components/schemas/Error"}
    operations = [(method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert len(operations) == 25  # GET tasks/, jobs/bulk/ and the four agents' endpoints included
    for method, path, op in operations:
        wanted = {"403"}
        if "{id}" in path:
            wanted.add("404")
        if method == "post" or any(p["in"] == "query" for p in op.get("parameters", ())):
            wanted.add("400")
        assert wanted <= set(op["responses"]), (method, path, sorted(op["responses"]))
        for code in wanted:
            body = op["responses"][code]["content"]["application/json"]["schema"]
            assert body == {"$ref": errors[code]}, (method, path, code, body)
    assert components["FieldError"]["required"] == ["detail"]


def test_checks__the_mounted_api_needs_drf_spectacular_as_schema_class(settings: Any) -> None:
    from weft_django import checks

    assert checks.check_api() == []
    settings.REST_FRAMEWORK = {}
    [w040] = checks.check_api()
    assert w040.id == "weft.W040"
    settings.ROOT_URLCONF = "tests.db.urls_without_api"
    assert checks.check_api() == []
    del settings.ROOT_URLCONF  # settings for workers only, say: the check must not crash
    assert checks.check_api() == []
