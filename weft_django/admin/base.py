"""What the admin's pages share: read-only admins for the rows the engine owns, and actions that run a
service function row by row, reporting the rows refused."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import reports, service
from ..exceptions import WeftError

SHOWN_ERRORS = 10


def pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, default=str)
    return format_html("<pre style='white-space:pre-wrap;margin:0'>{}</pre>", text)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class Acting(ReadOnly):
    """Admin actions run the service function with the acting user (``by=request.user``), one row at a
    time: a row refused (not allowed, or an error such as a skill disabled since) is reported, the
    others go on."""

    def act(self, request: HttpRequest, ids: Iterable[int], call: Callable[[int], Any]) -> list[Any]:
        done, refused = [], []
        for pk in ids:
            try:
                result = call(pk)
            except WeftError as exc:
                refused.append(f"{self.model._meta.verbose_name} {pk}: {exc}")
                continue
            if result:
                done.append(result)
        if refused:
            more = len(refused) - SHOWN_ERRORS
            self.message_user(request, _("Refused: %(why)s") % {
                "why": "; ".join(refused[:SHOWN_ERRORS]) + (f"; and {more} more" if more > 0 else "")},
                messages.ERROR)
        return done

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return service.may_cancel_others(request.user)


class OfVisibleJobs(ReadOnly):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return reports.visible_rows(request.user, super().get_queryset(request))
