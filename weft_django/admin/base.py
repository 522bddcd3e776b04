"""What the admin's pages share: read-only admins for the rows the engine owns, and actions that run a
service function row by row, reporting the rows refused."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import reports, service, units
from ..exceptions import WeftError

SHOWN_ERRORS = 10


def pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, default=str)
    return format_html("<pre style='white-space:pre-wrap;margin:0'>{}</pre>", text)


class ShownJSONField(forms.JSONField):
    """Django's, showing a refused value back as typed: Django writes it out with ``ensure_ascii=False``, so a
    ``"\\ud800"`` typed into a JSON field came back as a lone surrogate, which no page can be encoded with (a 500
    instead of the form's error)."""

    def prepare_value(self, value: Any) -> Any:
        text = super().prepare_value(value)
        if isinstance(text, str) and not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return json.dumps(value, cls=self.encoder)  # escaped, as it was typed
        return text


class Checked(admin.ModelAdmin):
    """Every weft admin: a list's query parameters that PostgreSQL cannot hold (a NUL in ``?status=%00``)
    reached the list's query and failed there, a 500; now the admin's own "?e=1" page, as any parameter it
    cannot use gets. And a JSON field's refused value is shown back as typed (``ShownJSONField``)."""

    formfield_overrides = {models.JSONField: {"form_class": ShownJSONField}}

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            raise IncorrectLookupParameters("a query parameter holds a NUL character")
        return super().get_changelist_instance(request)


class ReadOnly(Checked):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class Acting(ReadOnly):
    """Admin actions run the service function with the acting user (``by=request.user``), one row at a
    time: a row refused (not allowed, or an error such as a skill disabled since) is reported, the
    others go on. The same actions are buttons on a row's page (``page_actions``), each asking first."""

    # verb -> (button label, the question asked before): the verbs ``perform`` knows.
    page_actions: ClassVar[dict[str, tuple[Any, Any]]] = {}

    def act(self, request: HttpRequest, ids: Iterable[int],
            call: Callable[[int], Any]) -> tuple[list[Any], list[int]]:
        """``(results, unchanged)``: what ``call`` returned for each row it changed, and the rows it left
        as they were (it returned False: already final, not waiting...)."""
        done, unchanged, refused = [], [], []
        for pk in ids:
            try:
                result = call(pk)
            except WeftError as exc:
                refused.append(f"{self.model._meta.verbose_name} {pk}: {exc}")
                continue
            if result:
                done.append(result)
            else:
                unchanged.append(pk)
        if refused:
            more = len(refused) - SHOWN_ERRORS
            self.message_user(request, _("Refused: %(why)s") % {
                "why": "; ".join(refused[:SHOWN_ERRORS]) + (f"; and {more} more" if more > 0 else "")},
                messages.ERROR)
        return done, unchanged

    def tell(self, request: HttpRequest, done: str, unchanged: list[int], why: Any, n: int) -> None:
        """Say what an action did: ``done`` as a success when it changed ``n`` rows, else as a warning
        with the reason; the rows it left alone named with ``why``."""
        left = ""
        if unchanged:
            shown = ", ".join(map(str, unchanged[:SHOWN_ERRORS])) + (" ..." if len(unchanged) > SHOWN_ERRORS else "")
            left = " " + str(_("Left as they were (%(why)s): %(name)s %(ids)s.") % {
                "why": why, "name": self.model._meta.verbose_name, "ids": shown})
        self.message_user(request, done + left, messages.SUCCESS if n else messages.WARNING)

    def perform(self, request: HttpRequest, verb: str, pk: int) -> None:
        raise NotImplementedError

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return service.may_cancel_others(request.user)

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_do"
        return [path("<path:object_id>/do/<str:verb>/", self.admin_site.admin_view(self.page_action), name=name),
                *super().get_urls()]

    def page_action(self, request: HttpRequest, object_id: str, verb: str) -> HttpResponse:
        """GET: ask (the confirmation page); POST: do it, say what happened, and go back to the row's page."""
        obj = self.get_object(request, object_id)
        if obj is None or verb not in self.page_actions:
            raise Http404(_("no such %(name)s or action") % {"name": self.opts.verbose_name})
        back = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        if request.method == "POST":
            try:
                self.perform(request, verb, obj.pk)
            except WeftError as exc:
                self.message_user(request, _("Refused: %(why)s") % {"why": exc}, messages.ERROR)
            return redirect(back)
        label, question = self.page_actions[verb]
        return TemplateResponse(request, "admin/weft/confirm.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "object": obj, "title": label,
            "question": question, "verb": verb, "back": back})


def when(moment: datetime | None) -> str:
    """A time as "3 minutes ago", the exact time on hover."""
    if moment is None:
        return "-"
    local = timezone.localtime(moment)
    return format_html('<span title="{}" style="white-space:nowrap">{}</span>', local.strftime("%Y-%m-%d %H:%M:%S %Z"),
                       units.ago((timezone.now() - moment).total_seconds()))


def link(model: str, pk: int | None, text: Any = None) -> str:
    """A link to row ``pk``'s admin page."""
    if pk is None:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse(f"admin:weft_{model}_change", args=[pk]),
                       pk if text is None else text)


class OfVisibleJobs(ReadOnly):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return reports.visible_rows(request.user, super().get_queryset(request))
