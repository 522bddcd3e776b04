"""The operators' pages: the dashboard, updated in place every few seconds (``reports.dashboard``), and analytics
over a time range the user chooses (``reports.analytics``).

Both show every user's jobs, so they need ``weft.view_all_jobs`` besides staff status (the admin login)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

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


# The ranges offered in one click (the form takes any window of up to reports' MAX_DAYS).
RANGES = (("last hour", timedelta(hours=1)), ("last 24 hours", timedelta(days=1)), ("last 7 days", timedelta(days=7)),
          ("last 31 days", timedelta(days=31)))


@staff_member_required
def analytics(request: HttpRequest) -> HttpResponse:
    """Per skill and per model over ``?since=&until=`` (ISO 8601; default the last 24 hours): a bad window is
    said on the page, naming the field, with the form to try again."""
    try:
        reports.check_sees_all_jobs(request.user, "analytics cover every user's jobs")
    except exceptions.NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    since, until = request.GET.get("since", ""), request.GET.get("until", "")
    now = timezone.now()
    ranges = [(label, (now - span).isoformat(timespec="seconds")) for label, span in RANGES]
    context: dict[str, object] = {"title": "weft analytics", "since": since, "until": until, "error": "",
                                  "ranges": ranges}
    try:
        context["a"] = reports.analytics(since or None, until or None)
    except exceptions.InvalidInput as exc:
        context["error"] = str(exc)
    return render(request, "weft_django/analytics.html", context)
