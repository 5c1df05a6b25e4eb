"""The ``stream:``, ``schedule:`` and ``dreaming:`` sections of a run config, checked by the packages that own them.

Each ``_*_spec(path, value)`` turns a YAML value into what ``RunConfig`` stores, or raises
``ConfigError`` naming ``path``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from evaluation.config_values import _coerce, _did_you_mean
from sleep_env.errors import ConfigError
from sleep_env.stream import ExperienceConfig, StreamConfig

_EXPERIENCE_KEYS = ("task", "task_kwargs", "n_study", "n_query")


def _stream_spec(path: str, value: Any) -> StreamConfig | None:
    """Read a ``stream:`` value (a mapping with ``experiences`` and ``n_probe``, or the list alone).

    Every task is built once here (``sleep_env.stream.make_tasks``), so an unknown task name, a bad
    option or a missing data file fails at load time with the experience's position.
    """
    from sleep_env.stream import make_tasks

    if value is None:
        return None
    if isinstance(value, list):
        value = {"experiences": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path} must be a mapping with 'experiences' (a list) and optionally 'n_probe', got {value!r}")
    unknown = [k for k in value if k not in ("experiences", "n_probe")]
    if unknown:
        raise ConfigError(f"unknown config key {path}.{unknown[0]}{_did_you_mean(str(unknown[0]), ('experiences', 'n_probe'))}; "
                          "known keys: experiences, n_probe")
    exps = value.get("experiences")
    if not isinstance(exps, list) or not exps:
        raise ConfigError(f"{path}.experiences must be a non-empty list of {{task, task_kwargs, n_study, n_query}}, got {exps!r}")
    built = []
    for j, exp in enumerate(exps):
        where = f"{path}.experiences[{j}]"
        if not isinstance(exp, Mapping):
            raise ConfigError(f"{where} must be a mapping with keys {', '.join(_EXPERIENCE_KEYS)}, got {exp!r}")
        bad = [k for k in exp if k not in _EXPERIENCE_KEYS]
        if bad:
            raise ConfigError(f"unknown config key {where}.{bad[0]}{_did_you_mean(str(bad[0]), _EXPERIENCE_KEYS)}; "
                              f"known keys: {', '.join(_EXPERIENCE_KEYS)}")
        for key in ("task", "n_study", "n_query"):
            if key not in exp:
                raise ConfigError(f"{where}.{key} is missing; each experience needs task, n_study and n_query")
        kwargs = exp.get("task_kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"{where}.task_kwargs must be a mapping of task options, got {kwargs!r}")
        try:
            built.append(ExperienceConfig(
                task=_coerce(f"{where}.task", exp["task"], "str"), task_kwargs=dict(kwargs),
                n_study=_coerce(f"{where}.n_study", exp["n_study"], "int"),
                n_query=_coerce(f"{where}.n_query", exp["n_query"], "int"),
            ))  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    n_probe = value.get("n_probe")
    try:
        stream = StreamConfig(
            experiences=tuple(built), n_probe=None if n_probe is None else _coerce(f"{path}.n_probe", n_probe, "int")
        )
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        make_tasks(stream)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return stream


def _schedule_spec(path: str, value: Any) -> dict[str, Any] | None:
    """Validate a ``schedule:`` value with ``sleep_env.make_schedule``; return its canonical mapping."""
    from sleep_env.schedules import make_schedule, schedule_to_dict

    if value is None:
        return None
    try:
        return schedule_to_dict(make_schedule(value))
    except ValueError as exc:
        msg = str(exc)  # make_schedule's messages already start with "schedule"
        raise ConfigError(msg if path == "schedule" else f"{path}: {msg}") from None


def _dreaming_spec(path: str, value: Any) -> dict[str, Any] | None:
    """Validate a ``dreaming:`` mapping by building ``agents.dreaming.DreamingConfig`` (imports torch)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path} must be a mapping of DreamingConfig fields, got {value!r}; write `{path}: {{}}` for "
                          f"the defaults, e.g. `{path}: {{dreams: 4, top_k: 1}}`, or `{path}: null` (or no such line) for no Dreaming")
    from agents.dreaming import DreamingConfig

    fields = {f.name: f.type for f in dataclasses.fields(DreamingConfig)}
    bad = sorted(str(k) for k in value if k not in fields)
    if bad:
        raise ConfigError(f"unknown {path} key(s) {bad}{_did_you_mean(bad[0], fields)}; known: {', '.join(fields)} "
                          "(check the spelling)")
    # the same YAML typing as every other field: "1e-3" is 0.001, 2.0 is the int 2, "off" is not a bool
    defaults = {f.name: f.default for f in dataclasses.fields(DreamingConfig)}
    from agents.dream_config import _CHOICES

    for k, v in value.items():  # `grounding: off` reads as False: name the choices, not the default
        if k in _CHOICES and isinstance(v, bool):
            raise ConfigError(f"{path}.{k} must be one of {', '.join(repr(c) for c in _CHOICES[k])}, got {v!r} "
                              f"(YAML reads yes/no/on/off as booleans); write the one you mean in quotes, e.g. {k}: '{_CHOICES[k][0]}'")
    typed = {k: _coerce(f"{path}.{k}", v, fields[k], defaults[k]) for k, v in value.items()}
    try:
        DreamingConfig(**typed)
    except (TypeError, ValueError) as exc:
        msg = str(exc)  # DreamingConfig's messages start with the field's name: "dreaming.lr must be ..."
        sep = "." if msg.split(" ", 1)[0] in fields else ": "
        fix = "" if "; set " in msg else _dreaming_fix(path, typed)  # the message names its own fix
        raise ConfigError(f"{path}{sep}{msg}{fix}") from None
    return typed


def _dreaming_fix(path: str, typed: Mapping[str, Any]) -> str:
    """``"; write e.g. dreaming: {dreams: 6}"``: the defaults of the keys that DreamingConfig refuses.

    The culprits are the keys refused on their own; when only a combination is refused (``top_k +
    random_extra >= 1``), every key given is shown with its default.
    """
    from agents.dreaming import DreamingConfig

    def refused(key: str) -> bool:
        try:
            DreamingConfig(**{key: typed[key]})
        except (TypeError, ValueError):
            return True
        return False

    culprits = [k for k in typed if refused(k)] or list(typed)
    defaults = {f.name: f.default for f in dataclasses.fields(DreamingConfig)}
    yaml_text = lambda v: str(v).lower() if isinstance(v, bool) else v  # noqa: E731  (YAML writes true / false)
    shown = ", ".join(f"{k}: {yaml_text(defaults[k])}" for k in culprits if defaults.get(k, dataclasses.MISSING) is not dataclasses.MISSING)
    return f"; write e.g. {path}: {{{shown}}}" if shown else ""
