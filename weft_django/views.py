"""The dashboard: one page for operators, updated in place every few seconds, built from ``reports.dashboard``.

It shows every user's jobs, so it needs ``weft.view_all_jobs`` besides staff status (the admin login)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import exceptions, reports

REFRESH_SECONDS = 5


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    try:
        reports.check_sees_all_jobs(request.user, "the dashboard shows every user's jobs")
    except exceptions.NotAllowed as exc:  # raised as Django's PermissionDenied, for its 403 page
        raise PermissionDenied(str(exc)) from exc
    context = {**reports.dashboard(), "title": "weft dashboard", "refresh": REFRESH_SECONDS}
    if request.GET.get("part") == "body":  # what the page fetches to update itself in place
        return render(request, "weft_django/dashboard_body.html", context)
    return render(request, "weft_django/dashboard.html", context)
