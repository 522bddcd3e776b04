"""The API's front door: a root listing its endpoints, and its OpenAPI schema read in Swagger UI and Redoc,
served offline from drf-spectacular-sidecar's static files (``pip install "weft_django[docs]"`` and
``"drf_spectacular_sidecar"`` in INSTALLED_APPS; without it the root lists the schema alone)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.templatetags.static import static
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

TITLE = "weft_django API"


def offline_docs() -> bool:
    """Whether the project serves the sidecar's files (its app is installed): the docs pages need them."""
    return apps.is_installed("drf_spectacular_sidecar")


def _sidecar(path: str) -> str:
    return static(f"drf_spectacular_sidecar/{path}")


class ApiRoot(APIView):
    """Every endpoint of the API, by name, as absolute URLs."""

    @extend_schema(exclude=True)  # a map of the API, not an operation of it
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        names = {"skills": "skill-list", "jobs": "job-list", "schema": "schema"}
        if offline_docs():
            names |= {"docs": "docs", "redoc": "redoc"}
        # "tasks" has no list (a task is read by id, or through its job): its URL pattern, for reading one.
        root = {name: reverse(f"weft_api:{view}", request=request) for name, view in names.items()}
        root["task"] = reverse("weft_api:task-detail", args=[0], request=request).replace("/0/", "/{id}/")
        return Response(root)


# The docs pages may load nothing from another host (the Redoc bundle links its maker's logo on a CDN): the
# browser is told so, and refuses. Inline scripts and styles are the pages' own; Redoc runs a worker from a blob.
OFFLINE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                  "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")


class Offline:
    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Content-Security-Policy"] = OFFLINE_POLICY
        return response


class Swagger(Offline, SpectacularSwaggerView):
    """Swagger UI over the API's schema, its scripts and styles from the sidecar (no CDN)."""

    url_name = "weft_api:schema"
    title = TITLE

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return _sidecar(f"swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return _sidecar("swagger-ui-dist/favicon-32x32.png")


class Redoc(Offline, SpectacularRedocView):
    """Redoc over the API's schema, its script from the sidecar (no CDN)."""

    url_name = "weft_api:schema"
    title = TITLE
    template_name = "weft_django/redoc.html"  # without the web fonts drf-spectacular's page fetches

    @staticmethod
    def _redoc_standalone() -> str:
        return _sidecar("redoc/bundles/redoc.standalone.js")
