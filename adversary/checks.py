"""Range checks for strategy parameters, to call from a ``Params.__post_init__``.

Each raises :class:`~bftlab.specs.schema.FieldError` naming the field, which
the spec loader turns into one ``error:`` paragraph with the file, line and key
path (``adversary[0].params.delay_s``) and exit status 2. The spec loader
already refuses NaN and infinities in YAML; these checks refuse them too, so a
``Params`` built in Python (a fuzzer, a test) is held to the same ranges.

    @dataclass(frozen=True)
    class MyParams:
        delay_s: float = 1.0

        def __post_init__(self) -> None:
            nonnegative("delay_s", self.delay_s)
"""

from __future__ import annotations

import math
from collections.abc import Sized

from bftlab.specs.schema import FieldError

__all__ = ["FieldError", "nonempty", "nonnegative", "positive", "probability", "time_window"]


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def nonnegative(name: str, value: float) -> None:
    """``value`` is a finite number >= 0 (a delay, a duration, a time)."""
    if not (_finite(value) and value >= 0):
        raise FieldError(name, f"must be a finite number >= 0, got {value!r}.")


def positive(name: str, value: float) -> None:
    """``value`` is a finite number > 0 (a period: zero would fire forever at one instant)."""
    if not (_finite(value) and value > 0):
        raise FieldError(name, f"must be a finite number > 0, got {value!r}.")


def probability(name: str, value: float) -> None:
    """``value`` is a probability or fraction in [0, 1]."""
    if not (_finite(value) and 0.0 <= value <= 1.0):
        raise FieldError(name, f"must be a probability in [0, 1], got {value!r}.")


def nonempty(name: str, items: Sized, what: str) -> None:
    """``items`` has at least one entry; ``what`` says what one entry is (for the message)."""
    if len(items) == 0:
        raise FieldError(name, f"is empty: list at least one {what}, or leave this strategy out.")


def time_window(start_s: float, end_s: float | None) -> None:
    """``0 <= start_s < end_s``, finite; ``end_s`` None means until the run ends."""
    nonnegative("start_s", start_s)
    if end_s is not None:
        nonnegative("end_s", end_s)
        if end_s <= start_s:
            raise FieldError("end_s", f"must be after start_s ({start_s!r}), got {end_s!r}.")
