"""Small validators shared by the config dataclasses (internal).

Each raises :class:`~sleep_env.errors.ConfigError` (a ``ValueError``) with the message
``"<field> must be <rule>, got <value>; <fix>"``. Booleans are never accepted as integers and
strings are never parsed (a YAML ``"1e4"`` string is an error, not a number).
"""

from __future__ import annotations

import numbers
from typing import Any

from sleep_env.errors import ConfigError


def fail(field: str, rule: str, value: Any, fix: str) -> ConfigError:
    """Build the standard config error (the caller raises it)."""
    return ConfigError(f"{field} must be {rule}, got {value!r}; {fix}")


def as_int(field: str, value: Any, *, low: int | None = None, fix: str) -> int:
    """Return ``value`` as a Python int, checking type and lower bound."""
    rule = "an integer" if low is None else f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail(field, rule, value, fix)
    if low is not None and value < low:
        raise fail(field, rule, value, fix)
    return int(value)


def as_opt_int(field: str, value: Any, *, low: int, fix: str) -> int | None:
    """Like :func:`as_int`, but ``None`` passes through."""
    if value is None:
        return None
    rule = f"None or an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise fail(field, rule, value, fix)
    return int(value)


def as_bool(field: str, value: Any, *, fix: str) -> bool:
    """Return ``value`` if it is a real bool (not 0/1, not a string such as ``"no"``)."""
    if not isinstance(value, bool):
        raise fail(field, "a bool (True or False)", value, fix)
    return value
