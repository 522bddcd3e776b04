"""What every view of the HTTP API shares: domain errors as HTTP answers, JSON bodies only, documented answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings as django_settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ..exceptions import InvalidInput, NotAllowed, UnknownId, WeftError
from . import serializers as s

_T = TypeVar("_T")


class BadInput(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, detail: dict[str, str]) -> None:
        super().__init__({k: printable(v) for k, v in detail.items()})


class TooLarge(BadInput):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


def printable(text: object) -> str:
    """``text`` with any lone surrogate escaped: an answer naming one (a refused field) could not be encoded."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def domain(call: Callable[[], _T]) -> _T:
    """Run a domain call; its errors become the HTTP answers above."""
    try:
        return call()
    except InvalidInput as exc:
        raise BadInput({"field": exc.field, "detail": exc.message}) from exc
    except NotAllowed as exc:
        raise exceptions.PermissionDenied(printable(str(exc))) from exc
    except UnknownId as exc:
        raise exceptions.NotFound(printable(str(exc))) from exc
    except WeftError as exc:
        raise BadInput({"field": "", "detail": str(exc)}) from exc


class JSONBody(JSONParser):
    """DRF's JSON parser, with JSON nested too deep for Python's parser answered as bad input (not a 500)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise BadInput({"field": "", "detail": "the JSON is nested too deep"}) from None


class WeftView:
    """What every view here shares: logged-in users only, JSON bodies only (a form's values would be lists),
    errors as JSON (``{"field": ..., "detail": ...}`` for a body that cannot be read)."""

    permission_classes = (IsAuthenticated,)
    parser_classes = (JSONBody,)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RequestDataTooBig):  # Django's check as DRF reads the body: an HTML 400 otherwise
            exc = TooLarge({"field": "", "detail": "the body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE "
                                                   f"({django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)"})
        elif isinstance(exc, exceptions.ParseError):
            exc = BadInput({"field": "", "detail": str(exc.detail)})
        return super().handle_exception(exc)  # type: ignore[misc]  # the APIView this is mixed into


_ERRORS = {400: (s.FieldError, "bad input: the field at fault and why; nothing was written"),
           403: (s.Error, "not logged in, or a permission is missing"),
           404: (s.Error, "no such object that you may see")}


def answers(ok: Any, *errors: int, code: int = 200, why: dict[int, str] | None = None) -> dict[int, Any]:
    """The documented answers of an operation: ``ok`` under ``code``, and its error answers with their body."""
    return {code: ok, **{e: OpenApiResponse(_ERRORS[e][0], description=(why or {}).get(e, _ERRORS[e][1]))
                         for e in errors}}
