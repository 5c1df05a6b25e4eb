"""YAML reading for run configs: a safe loader that keeps YAML 1.1 numbers as text and refuses duplicate keys.

YAML 1.1 reads ``017`` as octal 15 and ``1:30`` as base-60 90; :class:`_Loader` keeps
those forms as strings so the typed field decides what they mean (see ``evaluation.config_values``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from sleep_env.errors import ConfigError


# YAML 1.1 reads "017" as octal 15 and "1:30" as base-60 90. _Loader keeps these forms as
# the raw string, so the field decides: an int field reads "017" as 17 and refuses "1:30" by name.
_YAML11_NUMBER = re.compile(r"^[-+]?(0[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$")


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no Python tags) that keeps YAML 1.1 octal and base-60 numbers as strings
    and refuses a key written twice in one mapping (PyYAML would keep the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            slot = (type(key).__name__, key)  # 1 and true are different YAML keys, though 1 == True in Python
            if isinstance(key, (str, int, float, bool)) and slot in seen:
                first = seen[slot]
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"key {key!r} appears twice in one mapping (first at line {first.line + 1}); keep one",
                    key_node.start_mark,
                )  # fmt: skip
            if isinstance(key, (str, int, float, bool)):
                seen[slot] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _construct_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    if isinstance(value, str) and _YAML11_NUMBER.match(value):
        return value
    if node.tag.endswith(":int"):
        return loader.construct_yaml_int(node)
    return loader.construct_yaml_float(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_number)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_number)


def read_config_text(path: Path) -> str:
    """A config file's text (UTF-8); a file that is not text is a ConfigError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                          f"offset {exc.start}); save it as UTF-8 YAML") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's first message line plus where it happened (1-based line and column)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return (str(getattr(exc, "problem", None) or str(exc).splitlines()[0])) + where
