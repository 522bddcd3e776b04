"""Limits and RetryPolicy: the two structured task options, frozen and validated (pure, no Django)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .exceptions import InvalidInput, Refused
from .validators import number, positive_number


@dataclass(frozen=True)
class Limits:
    """Resource limits for one attempt; ``None`` means no limit."""

    memory_mb: float | None = None
    cpu_seconds: float | None = None
    cpu_percent: float | None = None
    wall_seconds: float | None = None
    open_files: int | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, path: str = "limits") -> Limits:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidInput(path, f"must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                raise InvalidInput(f"{path}.{name}", f"unknown limit; known: {', '.join(sorted(known))}")
            if value is not None:
                values[name] = positive_number(f"{path}.{name}", value, integer=name == "open_files")
        return cls(**values)

    def merged(self, override: Limits) -> Limits:
        """These limits with every limit that ``override`` sets replaced."""
        return Limits(**{**self.as_dict(), **override.as_dict()})

    def check_ceilings(self, ceilings: Limits, path: str = "limits") -> None:
        for name, value in self.as_dict().items():
            ceiling = getattr(ceilings, name)
            if ceiling is not None and value > ceiling:
                raise Refused(f"{path}.{name}", f"{number(value)} exceeds the configured ceiling {number(ceiling)}",
                              "builtin.limit_ceiling")

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}  # every field is a scalar: no deep copy


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: delay n = min(max_delay, base * factor**(n-1)) +- jitter."""

    max_attempts: int = 3
    backoff: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.1

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, default: RetryPolicy, path: str = "retry") -> RetryPolicy:
        if data is None:
            return default
        if not isinstance(data, Mapping):
            raise InvalidInput(path, f"must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values = vars(default).copy()
        for name, value in data.items():
            if name not in known:
                raise InvalidInput(f"{path}.{name}", f"unknown retry option; known: {', '.join(sorted(known))}")
            if name == "jitter":
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise InvalidInput(f"{path}.jitter", f"must be a number from 0 to 1, got {value!r}")
                values[name] = float(value)
            else:
                values[name] = positive_number(f"{path}.{name}", value, integer=name == "max_attempts")
        if values["factor"] < 1:
            raise InvalidInput(f"{path}.factor", f"must be at least 1, got {values['factor']!r}")
        return cls(**values)

    def check_bounds(self, max_attempts: int, min_delay: float, path: str = "retry") -> None:
        """Raise unless the attempts stay under the ceiling and no wait before a retry (backoff, max_delay)
        is shorter than the floor: a caller must not buy a thousand attempts a few milliseconds apart."""
        if self.max_attempts > max_attempts:
            raise Refused(f"{path}.max_attempts", f"{number(self.max_attempts)} exceeds the configured "
                                                     f"ceiling {number(max_attempts)}", "builtin.retry_bounds")
        for name in ("backoff", "max_delay"):
            value = getattr(self, name)
            if value < min_delay:
                raise Refused(f"{path}.{name}", f"{number(value)} s is below the configured floor "
                                                   f"{number(min_delay)} s", "builtin.retry_bounds")

    def as_dict(self) -> dict[str, Any]:
        return vars(self).copy()  # every field is a scalar: dataclasses.asdict's deep copy is not needed
