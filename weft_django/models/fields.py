"""What the models share: a state enum as a field's choices, and a datetime field every query can read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from ..states import Choices


def state_choices(states: type[Choices]) -> list[tuple[str, Any]]:
    """A state enum (pure, in states.py) as a field's choices, with translatable labels."""
    return [(value, _(label)) for value, label in states.choices]


class ReadableDateTimeField(models.DateTimeField):
    """A DateTimeField that every query reads back inside Python's range, whatever the row holds.

    PostgreSQL's timestamptz reaches the year 294276, Python's datetime 9999: a row written before
    deadlines were validated (9999-12-31T23:00:00-12:00 is the year 10000 in UTC) would otherwise make every
    query that reads it fail (job lists, the admin, weft_status, the worker's claim). The SELECT clamps it,
    a day inside each end, so that converting it to any time zone (DRF, the admin) stays in range too;
    writes are validated (jobspec.check_deadline) and WHERE clauses compare the stored value.
    """

    LATEST = "9999-12-30T00:00:00+00:00"
    EARLIEST = "0001-01-02T00:00:00+00:00"

    def select_format(self, compiler: Any, sql: str, params: Any) -> Any:
        sql, params = super().select_format(compiler, sql, params)
        if compiler.connection.vendor != "postgresql":
            return sql, params
        return (f"CASE WHEN {sql} > %s::timestamptz THEN %s::timestamptz WHEN {sql} < %s::timestamptz "
                f"THEN %s::timestamptz ELSE {sql} END",
                (*params, self.LATEST, self.LATEST, *params, self.EARLIEST, self.EARLIEST, *params))

    def deconstruct(self) -> Any:
        # The path the migrations know (0010): the field was defined in models.py before it became a package,
        # and weft_django.models still exports it, so makemigrations sees no change.
        name, _path, args, kwargs = super().deconstruct()
        return name, "weft_django.models.ReadableDateTimeField", args, kwargs
