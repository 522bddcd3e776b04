"""Demo URLs: the admin and weft's HTTP API."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/weft/", include("weft_django.api.urls")),
]
