"""The dashboard: one page for operators, refreshed every few seconds, built from ``reports.overview``.

It shows every user's jobs, so it needs ``weft.view_all_jobs`` besides staff status (the admin login)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import access, reports

REFRESH_SECONDS = 5


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(access.VIEW_ALL_JOBS):
        raise PermissionDenied(f"the dashboard shows every user's jobs: it needs the permission {access.VIEW_ALL_JOBS}")
    return render(request, "weft_django/dashboard.html", {
        **reports.overview(), "title": "weft dashboard", "refresh": REFRESH_SECONDS,
    })
