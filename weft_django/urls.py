"""``path("weft/", include("weft_django.urls"))``: the operators' dashboard (staff with weft.view_all_jobs)."""

from __future__ import annotations

from django.urls import path

from .views import dashboard

app_name = "weft"

urlpatterns = [path("", dashboard, name="dashboard")]
