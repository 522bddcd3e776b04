"""The API's front door: a root naming every endpoint, list items carrying their URLs, and Swagger UI and
Redoc pages whose scripts come from the sidecar's static files, never from another host."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from weft_django import service

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    c = APIClient()
    c.force_authenticate(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return c


def test_api_root__lists_the_endpoints(api: APIClient) -> None:
    root = api.get("/api/weft/").json()
    base = "http://testserver/api/weft/"
    assert root == {"skills": f"{base}skills/", "jobs": f"{base}jobs/", "schema": f"{base}schema/",
                    "docs": f"{base}docs/", "redoc": f"{base}redoc/", "task": f"{base}tasks/{{id}}/"}
    for name in ("skills", "jobs", "schema", "docs", "redoc"):
        assert api.get(root[name]).status_code == 200, name


def test_api_root__list_items_carry_their_urls(api: APIClient) -> None:
    job = service.submit_job({"tasks": [{"key": "a", "skill": "t.noop"}]})
    listed = api.get("/api/weft/jobs/").json()["results"]
    assert listed[0]["url"] == f"http://testserver/api/weft/jobs/{job.pk}/"
    tasks = api.get(listed[0]["url"] + "tasks/").json()["results"]
    assert api.get(tasks[0]["url"]).json()["key"] == "a"
    skill = next(s for s in api.get("/api/weft/skills/").json() if s["name"] == "t.noop")
    assert skill["url"] == "http://testserver/api/weft/skills/t.noop/" and api.get(skill["url"]).status_code == 200


@pytest.mark.parametrize(("page", "script"), [("docs", "swagger-ui-dist/swagger-ui-bundle.js"),
                                              ("redoc", "redoc/bundles/redoc.standalone.js")])
def test_api_docs__served_offline(api: APIClient, page: str, script: str) -> None:
    html = api.get(f"/api/weft/{page}/").content.decode()
    assert f'src="/static/drf_spectacular_sidecar/{script}"' in html
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []  # nothing from another host
    assert "/api/weft/schema/" in html
    # and the browser is told to load nothing from elsewhere (the Redoc bundle links a logo on a CDN)
    assert "default-src 'self'" in api.get(f"/api/weft/{page}/")["Content-Security-Policy"]
