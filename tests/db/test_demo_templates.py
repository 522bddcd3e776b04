"""The demo site's own templates (the top-level ``templates/``, in demo_project's TEMPLATES DIRS): the admin
says "weft" and links the dashboard and the API's documentation from its index and every page's header."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_admin_is_branded_and_links_the_dashboard_and_api_docs() -> None:
    c = Client()
    c.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
    index = c.get("/admin/").content.decode()
    assert '<div id="site-name"><a href="/admin/">weft</a></div>' in index
    assert "Django administration" not in index
    assert "<title>Site administration | weft</title>" in index
    links = index.split('id="weft-links"')[1].split("</div>")[0]
    for href in ('href="/weft/"', 'href="/api/weft/"', 'href="/api/weft/docs/"', 'href="/api/weft/redoc/"'):
        assert href in links, href
    jobs = c.get("/admin/weft/job/").content.decode()  # every admin page: the links in the header
    assert '<a href="/weft/">Dashboard</a>' in jobs and '<a href="/api/weft/docs/">API docs</a>' in jobs
    assert '<div id="site-name"><a href="/admin/">weft</a></div>' in c.get("/weft/").content.decode()
