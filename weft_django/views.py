"""The dashboard: one page for operators (staff), refreshed every few seconds, built from ``reports.overview``."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import reports

REFRESH_SECONDS = 5


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "weft_django/dashboard.html", {
        **reports.overview(), "title": "weft dashboard", "refresh": REFRESH_SECONDS,
    })
