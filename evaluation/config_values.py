"""Typing of single YAML values for run configs (``_coerce``) and the did-you-mean hint of error messages."""

from __future__ import annotations

import re
from typing import Any

from sleep_env.errors import ConfigError

_FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INT = re.compile(r"^[+-]?\d[\d_]*$")


def _coerce(path: str, value: Any, typ: Any, example: Any = None) -> Any:
    """Convert a YAML value to ``typ`` or raise ConfigError naming ``path``.

    ``example``: a valid value (the field's default) that a float, bool or str field's fix hint shows,
    as ``write e.g. <leaf>: <example>``; None = a generic one.
    """
    name = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    if name in ("int", int):
        if isinstance(value, bool):
            raise ConfigError(f"{path} must be an integer, got {value!r}; write a number such as 3")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.match(value.strip()):
            return int(value.strip().replace("_", ""))  # decimal, also "017" (kept a string by _Loader)
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            f = float(value)
            if f.is_integer():
                return int(f)
        raise ConfigError(f"{path} must be an integer, got {value!r}; write a whole number such as 3")
    if name in ("float", float):
        hint = f"{path.split('.')[-1]}: {example}" if isinstance(example, float) else "0.001 or 1e-3"
        if isinstance(value, bool):
            raise ConfigError(f"{path} must be a number, got {value!r}; write e.g. {hint}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            return float(value)
        raise ConfigError(f"{path} must be a number, got {value!r}; write e.g. {hint}")
    if name in ("bool", bool):
        if isinstance(value, bool):
            return value
        leaf = path.split(".")[-1]
        raise ConfigError(f"{path} must be true or false, got {value!r}; write {leaf}: true or {leaf}: false (unquoted)")
    if name in ("str", str):
        if isinstance(value, str):
            return value
        raise ConfigError(
            f"{path} must be a string, got {value!r} ({type(value).__name__}); write a quoted string, e.g. "
            f"{path.split('.')[-1]}: '{example if isinstance(example, str) and example else 'text'}' (YAML reads yes/no/on/off as booleans)"
        )
    if name == "tuple[str, ...]":
        if isinstance(value, str):  # one name is a one-element list (agents: sleep)
            if re.search(r"[,\s]", value.strip()):  # several names in one string: "agents: sleep, sft"
                leaf = path.split(".")[-1]
                raise ConfigError(f"{path} must be a list, e.g. {leaf}: [sleep, sft]; got {value!r}, a string "
                                  f"(write one name alone, {leaf}: sleep, or several in brackets)")
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list of strings, got {value!r}")
        return tuple(_coerce(f"{path}[{i}]", v, "str") for i, v in enumerate(value))
    raise AssertionError(f"unhandled config type {typ!r} for {path}")  # a bug in this module


def _did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
