"""The list filters Django's admin lacks: a date range (the last hour, day, week, or from one day to
another), a typed-in value (an owner's login, a label) and a job's skills. The filtering itself is
``reports.lists``'s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..exceptions import InvalidInput
from ..reports import lists

WITHIN = ((3600, _("Last hour")), (86400, _("Last 24 hours")), (7 * 86400, _("Last 7 days")))


class InputFilter(admin.ListFilter):
    """A filter of typed-in values: a small GET form keeping the list's other parameters."""

    template = "admin/weft/input_filter.html"
    fields: tuple[tuple[str, Any], ...] = ()  # (parameter, label)

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        for name, _label in self.fields:
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = value[-1] if isinstance(value, list) else value

    def expected_parameters(self) -> list[str | None]:
        return [name for name, _label in self.fields]

    def has_output(self) -> bool:
        return True

    def value(self, name: str) -> str:
        return str(self.used_parameters.get(name) or "")

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        mine = [name for name, _label in self.fields]
        yield {"inputs": [(name, label, self.value(name)) for name, label in self.fields],
               "keep": [(k, v) for k, v in changelist.params.items() if k not in mine],
               "clear": changelist.get_query_string(remove=mine) if any(map(self.value, mine)) else ""}

    def apply(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        raise NotImplementedError

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        try:
            return self.apply(queryset)
        except InvalidInput as exc:  # the admin answers it with its "?e=1" page, not a 500
            raise IncorrectLookupParameters(str(exc)) from exc


def date_range(column: str, title: Any) -> type[InputFilter]:
    """A filter on ``column``: the last hour, day or week (links), or from one day to another (a form)."""

    class DateRange(InputFilter):
        template = "admin/weft/date_range_filter.html"
        fields = ((f"{column}_since", _("from")), (f"{column}_until", _("to")), (f"{column}_within", ""))

        def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
            within = f"{column}_within"
            for choice in super().choices(changelist):
                choice["inputs"] = choice["inputs"][:2]
                choice["links"] = [(label, changelist.get_query_string({within: seconds},
                                                                       remove=self.expected_parameters()),
                                    self.value(within) == str(seconds)) for seconds, label in WITHIN]
                yield choice

        def apply(self, rows: QuerySet[Any]) -> QuerySet[Any]:
            within = self.value(f"{column}_within")
            if within:
                try:
                    rows = lists.last(rows, column, float(within))
                except ValueError:
                    raise InvalidInput(f"{column}_within", "must be a number of seconds") from None
            return lists.between(rows, column, self.value(f"{column}_since") or None,
                                 self.value(f"{column}_until") or None)

    DateRange.title = title
    return DateRange


def typed(parameter: str, title: Any, label: Any, apply: Callable[[QuerySet[Any], str], QuerySet[Any]]) -> type[
        InputFilter]:
    """A filter of one typed-in value ``parameter``, applied by ``apply(rows, value)`` when given."""

    class Typed(InputFilter):
        fields = ((parameter, label),)

        def apply(self, rows: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value(parameter).strip()
            return apply(rows, value) if value else rows

    Typed.title = title
    return Typed


class JobSkillFilter(admin.SimpleListFilter):
    """Jobs having a task of a skill."""

    title = _("skill")
    parameter_name = "skill"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in lists.skill_names()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return lists.jobs_with_skill(queryset, value) if value else queryset
