"""Bar intervals: parsing, duration, required base interval, alignment to the session open.

``Interval`` is a ``str`` (its name, e.g. "5m"), so it is a dict key, a JSON value and a table
cell as it is, and carries its duration; one instance per name. Code passes ``Interval`` values
end to end and parses text once, where it comes in (``Interval.parse``). Intervals sort by
duration.
"""

from __future__ import annotations

from typing import Any

from trader_cli.core.errors import IntervalError

_SECONDS = {"1s": 1, "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "1d": 86400}
VALID_INTERVALS: tuple[str, ...] = tuple(_SECONDS)
NS_PER_SECOND = 1_000_000_000


class Interval(str):
    """A bar interval such as ``1m`` or ``5m``; bars are stamped with their start time."""

    __slots__ = ()
    _known: dict[str, Interval] = {}  # noqa: RUF012 - the one instance per name

    @classmethod
    def parse(cls, text: str | Interval) -> Interval:
        """Parse ``1s 1m 5m 15m 30m 1h 1d``; anything else raises IntervalError naming the valid ones."""
        if isinstance(text, Interval):
            return text
        key = str(text).strip().lower()
        hit = cls._known.get(key)
        if hit is None:
            if key not in _SECONDS:
                raise IntervalError(f"unknown interval '{text}' (use one of {', '.join(VALID_INTERVALS)})")
            hit = cls._known[key] = str.__new__(cls, key)
        return hit

    @property
    def name(self) -> str:
        """The interval's name as plain text ("5m")."""
        return str.__str__(self)

    @property
    def seconds(self) -> int:
        """Length of one bar in seconds."""
        return _SECONDS[self.name]

    def __repr__(self) -> str:
        return f"Interval({self.name!r})"

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Interval):
            return self.seconds < other.seconds
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, Interval):
            return self.seconds <= other.seconds
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, Interval):
            return self.seconds > other.seconds
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Interval):
            return self.seconds >= other.seconds
        return NotImplemented

    __hash__ = str.__hash__
    __eq__ = str.__eq__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Interval.parse, (self.name,))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Validated from text (any case) and written as its name."""
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            _validate, serialization=core_schema.plain_serializer_function_ser_schema(str.__str__)
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        """In JSON Schema: one of the valid names."""
        return {"type": "string", "enum": list(VALID_INTERVALS)}

    @property
    def duration_ns(self) -> int:
        """Length of one bar in nanoseconds."""
        return self.seconds * NS_PER_SECOND

    @property
    def is_daily(self) -> bool:
        """True for ``1d``: one bar per trading session."""
        return self.seconds == 86400

    @property
    def is_intraday(self) -> bool:
        """True for every interval shorter than a day."""
        return self.seconds < 86400

    def required_base(self, stored: frozenset[str] | set[str] | None = None) -> Interval:
        """The interval this one is built from: itself for 1s/1m, 1m for 5m..1h,
        and for 1d: 1d when daily bars are stored (or nothing is known), else 1m."""
        if self.seconds <= 60:
            return self
        if self.is_daily and (stored is None or "1d" in stored):
            return self
        return BASE_1M

    def bars_in(self, session_seconds: int) -> int:
        """Bars this interval has in a session of the given length (the last one may be short)."""
        if self.is_daily:
            return 1
        return -(-session_seconds // self.seconds)


def _validate(value: Any) -> Interval:
    if isinstance(value, Interval):
        return value
    if not isinstance(value, str):
        raise ValueError(f"an interval is text such as '5m' (got {value!r})")
    try:
        return Interval.parse(value)
    except IntervalError as err:
        raise ValueError(str(err)) from err


def intervals(names: list[str] | tuple[str, ...] | set[str]) -> list[Interval]:
    """Parsed, without repeats, shortest first."""
    return sorted({Interval.parse(n) for n in names})


BASE_1M = Interval.parse("1m")
DAILY = Interval.parse("1d")
