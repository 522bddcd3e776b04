"""``path("weft/", include("weft_django.urls"))``: the operators' dashboard and analytics (staff with
weft.view_all_jobs)."""

from __future__ import annotations

from django.urls import path

from .views import analytics, dashboard

app_name = "weft"

urlpatterns = [path("", dashboard, name="dashboard"), path("analytics/", analytics, name="analytics")]
