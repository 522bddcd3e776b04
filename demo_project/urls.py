"""Demo URLs: the admin, weft's dashboard and its HTTP API."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("weft/", include("weft_django.urls")),
    path("api/weft/", include("weft_django.api.urls")),
]
