"""Run configuration for ``sleep-env run``: a typed, validated dataclass loaded from YAML.

YAML 1.1 surprises are handled field by field (CASES C14): ``lr: 1e-3`` (a string to PyYAML) becomes
the float 0.001, ``steps: 1e4`` the int 10000, ``router: off`` is refused rather than turned into
``False``, ``seed: 017`` is 17 (not YAML 1.1's octal 15) and ``threads: 1:30`` is refused (not
base-60 90). Every error names the field, the value and the fix, and is raised as ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from sleep_env.errors import ConfigError
from sleep_env.stream import ExperienceConfig, StreamConfig

__all__ = ["RunConfig", "SleepSettings", "load_config", "config_to_dict", "config_file_is_empty", "describe_config"]

AGENT_NAMES = ("in-context", "sleep", "sft", "sdft", "seal")
MODEL_PRESETS = ("smollm2-135m", "smollm2-135m-instruct", "tiny", "gemma3-270m", "gemma-3-270m")
"""Model names ``agents.models.load_model`` knows (a test keeps the two lists in step)."""


@dataclass(frozen=True, kw_only=True)
class SleepSettings:
    """Knobs of the SleepAgent's consolidation (mirrors ``agents.SleepAgentConfig``).

    Attributes:
        steps: Optimiser steps per sleep.
        batch_size: Sequences per step.
        lr: Learning rate of the new expert.
        on_policy_fraction: GKD lambda in [0, 1].
        beta: Generalized-JSD beta in [0, 1] (0 = forward KL).
        replay_per_batch: Earlier-day sequences per step.
        recall_prefixes: Add Learning-to-Imitate prefix completions of the memories.
        recall_whole_lines: Add rows where the student recites each memory line (teacher reading it).
        router: ``lexical``, ``always`` or ``never``.
        d_low: Expert rank.
        pool_size: Pre-allocated experts per MLP block.
        first_layer: Lowest MLP block that gets experts (0 = all blocks).
        levels: Expert levels K (a sleep of level L consolidates 0->1, ..., L-1->L).
        alpha: Weight of distillation vs Learning to Imitate (1 = no LTI).
        gamma: Weight of the semantic reward in the LTI reward.
        z0: Token edit-distance threshold of the LTI edit reward (inclusive).
        expand: New expert per consolidation (false = ablation "no expansion").
        min_retention: Roll a consolidation back when older-replay agreement falls below this.
    """

    steps: int = 28
    batch_size: int = 12
    lr: float = 1.5e-2
    on_policy_fraction: float = 0.0
    beta: float = 0.0
    replay_per_batch: int = 4
    recall_prefixes: bool = False
    recall_whole_lines: bool = False
    router: str = "lexical"
    d_low: int = 64
    pool_size: int = 5
    first_layer: int = 0
    levels: int = 1
    alpha: float = 1.0
    gamma: float = 0.5
    z0: int = 4
    expand: bool = True
    min_retention: float = 0.25

    def __post_init__(self) -> None:
        # the rules of agents.SleepAgentConfig / ExpertConfig, checked at load time (not after the first agent ran)
        def fix(name: str, value: Any = None) -> str:  # "; write e.g. sleep: {steps: 28}" (the default)
            return f"; write e.g. sleep: {{{name}: {getattr(SleepSettings, name) if value is None else value}}}"

        for name in ("steps", "batch_size", "d_low", "pool_size", "levels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sleep.{name} must be >= 1, got {getattr(self, name)}{fix(name)}")
        if self.z0 < 0:
            raise ConfigError(f"sleep.z0 must be >= 0 (a token edit distance), got {self.z0}{fix('z0')}")
        if self.first_layer < 0:
            raise ConfigError(f"sleep.first_layer must be >= 0, got {self.first_layer}{fix('first_layer')}")
        if not self.lr > 0 or self.lr == float("inf"):
            raise ConfigError(f"sleep.lr must be a finite number > 0, got {self.lr}; write e.g. 0.001")
        for name in ("on_policy_fraction", "beta", "alpha", "gamma", "min_retention"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"sleep.{name} must be in [0, 1], got {getattr(self, name)}{fix(name)}")
        if not 0 <= self.replay_per_batch < self.batch_size:
            raise ConfigError(
                f"sleep.replay_per_batch must be in [0, sleep.batch_size={self.batch_size}), got {self.replay_per_batch}"
                f"{fix('replay_per_batch', min(SleepSettings.replay_per_batch, self.batch_size - 1))}"
            )
        if self.router not in ("lexical", "always", "never"):
            raise ConfigError(f"sleep.router must be one of lexical, always, never; got {self.router!r}"
                              f"{_did_you_mean(str(self.router), ('lexical', 'always', 'never'))}{fix('router')}")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What ``sleep-env run`` does.

    Attributes:
        model: ``smollm2-135m`` (default, real pretrained model), ``gemma3-270m``, ``tiny`` (tests) or a
            local HF model dir.
        agents: Agents to run on the same seeded stream, from ``in-context``, ``sleep``, ``sft``
            (SFTSleepAgent), ``sdft`` (SDFTSleepAgent, needs trl) and ``seal`` (SEALAgent). A YAML
            list; one name alone (``agents: sleep``) is the one-element list, but several names in
            one string (``agents: sleep, sft``) are refused: write ``agents: [sleep, sft]``.
        seed: Stream seed (every agent sees the identical stream).
        stream: The stream as a list of experiences of any registered task (``None`` = the default
            facts stream below): ``{experiences: [{task, task_kwargs, n_study, n_query}, ...],
            n_probe}`` or just the list. See ``examples/configs/``. With a stream, leave out
            ``experiences``, ``facts_per_experience``, ``queries_per_experience`` and
            ``probe_stem`` (they describe the default stream), and ``sleep_period: 0`` (default)
            sleeps at the end of every experience (``TaskBoundary``).
        experiences: Experiences of the ``facts`` task in the stream, >= 1.
        facts_per_experience: Study items (facts) per experience, >= 1.
        queries_per_experience: Wake-time questions per experience (with feedback), >= 0.
        context_chars: Short-term memory capacity in characters.
        sleep_period: Steps between sleeps (FixedInterval); 0 = one experience (study + queries).
        dreaming: Dreaming after each consolidation, as a mapping of ``agents.dreaming.DreamingConfig``
            fields (``{}`` = its defaults); used by the ``sleep`` and ``seal`` agents. ``None``
            (default) = no Dreaming (``seal`` then uses DreamingConfig's defaults).
        schedule: Another sleep schedule, as a name or ``{name: ..., parameters}`` (see
            ``sleep_env.make_schedule``), e.g. ``{name: multi-level, periods: [12, 24]}``. ``None``
            (default) = ``FixedInterval(period)`` with the period from ``sleep_period``.
        fresh_facts: Size of the fresh-material set used to measure in-context accuracy around sleeps.
        probe_stem: Probes reword the question and keep the fact's answer stem (``canonical``) or
            reword the stem too (``reworded``, harder).
        match: Scoring of answers: ``contains`` (the value as whole words in the first clause of
            the response, PopQA-style) or ``exact`` (SQuAD exact match of the first clause).
        sleep: The SleepAgent's consolidation knobs.
        threads: torch CPU threads (0 = torch's default).
    """

    model: str = "smollm2-135m"
    agents: tuple[str, ...] = ("in-context", "sleep")
    seed: int = 0
    stream: StreamConfig | None = None
    experiences: int = 3
    facts_per_experience: int = 12
    queries_per_experience: int = 12
    context_chars: int = 2000
    sleep_period: int = 0
    schedule: dict[str, Any] | None = None
    dreaming: dict[str, Any] | None = None
    fresh_facts: int = 12
    probe_stem: str = "canonical"
    match: str = "contains"
    sleep: SleepSettings = field(default_factory=SleepSettings)
    threads: int = 0

    def __post_init__(self) -> None:
        for name in ("experiences", "facts_per_experience", "context_chars", "fresh_facts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}; write e.g. {name}: {getattr(RunConfig, name)}")
        for name in ("queries_per_experience", "sleep_period", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}; write e.g. {name}: 0")
        if self.probe_stem not in ("canonical", "reworded"):
            raise ConfigError(f"probe_stem must be 'canonical' or 'reworded', got {self.probe_stem!r}"
                              f"{_did_you_mean(str(self.probe_stem), ('canonical', 'reworded'))}; write e.g. probe_stem: canonical")
        # a bare name must be a preset (a typo fails here, before any run); anything with a path
        # separator is a model directory, checked when it loads (it may exist only on a Ray worker)
        looks_like_path = any(sep in self.model for sep in ("/", "\\", "~")) or self.model.startswith(".")
        if self.model not in MODEL_PRESETS and not looks_like_path and not Path(self.model).is_dir():
            raise ConfigError(
                f"model {self.model!r} is not a preset ({', '.join(MODEL_PRESETS)}){_did_you_mean(self.model, MODEL_PRESETS)}; pass a preset "
                f"name or the path of a local Hugging Face causal LM directory (e.g. ./{self.model})"
            )
        if self.match not in ("contains", "exact"):
            raise ConfigError(f"match must be 'contains' or 'exact', got {self.match!r}"
                              f"{_did_you_mean(str(self.match), ('contains', 'exact'))}; write e.g. match: contains")
        repeated = sorted({a for a in self.agents if self.agents.count(a) > 1})
        if repeated:
            raise ConfigError(f"agents must be distinct, got {list(self.agents)} ({repeated} repeated); list each agent once")
        bad = [a for a in self.agents if a not in AGENT_NAMES]
        if bad or not self.agents:
            import difflib

            close = difflib.get_close_matches(bad[0], AGENT_NAMES, n=1) if bad else []
            hint = f" (did you mean {close[0]!r} for {bad[0]!r}?)" if close else ""
            raise ConfigError(f"agents must be a non-empty list from {list(AGENT_NAMES)}, got {list(self.agents)}{hint}")
        if self.schedule is not None and self.sleep_period:
            raise ConfigError(
                f"sleep_period={self.sleep_period} and schedule={self.schedule} both set; sleep_period is the "
                "period of the default fixed-interval schedule: drop it, or write schedule: {name: fixed-interval, period: N}"
            )
        if self.stream is not None:
            if not isinstance(self.stream, StreamConfig):
                raise ConfigError(f"stream must be a StreamConfig or None, got {self.stream!r}")
            defaults = RunConfig.__dataclass_fields__
            clash = [n for n in _DEFAULT_STREAM_KEYS if getattr(self, n) != defaults[n].default]
            if clash:
                raise ConfigError(
                    f"{', '.join(clash)} and stream are both set; {', '.join(clash)} describe the default facts "
                    "stream: drop them, or put facts options in the experience's task_kwargs"
                )

    @property
    def period(self) -> int:
        """Steps between sleeps (resolved: one experience when ``sleep_period`` is 0)."""
        first = self.stream_config().experiences[0]
        return self.sleep_period or (first.n_study + first.n_query)

    def stream_config(self) -> StreamConfig:
        """The run's stream: ``stream`` when set, else ``experiences`` x facts experiences."""
        if self.stream is not None:
            return self.stream
        exp = ExperienceConfig(task="facts", task_kwargs={"probe_stem": self.probe_stem, "match": self.match},
                               n_study=self.facts_per_experience, n_query=self.queries_per_experience)
        return StreamConfig(experiences=(exp,) * self.experiences)


_DEFAULT_STREAM_KEYS = ("experiences", "facts_per_experience", "queries_per_experience", "probe_stem")
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


_FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INT = re.compile(r"^[+-]?\d[\d_]*$")
_YAML_MAPPING = re.compile(r"^\s*(\{|[^:]+:(\s|$))")  # a one-line YAML mapping, not a file path


# YAML 1.1 reads "017" as octal 15 and "1:30" as base-60 90 (CASES C14). _Loader keeps these forms as
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


def _coerce(path: str, value: Any, typ: Any) -> Any:
    """Convert a YAML value to ``typ`` or raise ConfigError naming ``path``."""
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
        if isinstance(value, bool):
            raise ConfigError(f"{path} must be a number, got {value!r}; write e.g. 0.001")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            return float(value)
        raise ConfigError(f"{path} must be a number, got {value!r}; write e.g. 0.001 or 1e-3")
    if name in ("bool", bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path} must be true or false, got {value!r}")
    if name in ("str", str):
        if isinstance(value, str):
            return value
        raise ConfigError(
            f"{path} must be a string, got {value!r} ({type(value).__name__}); write a quoted string, e.g. {path.split('.')[-1]}: 'text' (YAML reads yes/no/on/off as booleans)"
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
        raise ConfigError(f"{path} must be a mapping of DreamingConfig fields (e.g. {{dreams: 4, top_k: 1}}) or empty, got {value!r}")
    from agents.dreaming import DreamingConfig

    fields = {f.name: f.type for f in dataclasses.fields(DreamingConfig)}
    bad = sorted(str(k) for k in value if k not in fields)
    if bad:
        raise ConfigError(f"unknown {path} key(s) {bad}{_did_you_mean(bad[0], fields)}; known: {', '.join(fields)} "
                          "(check the spelling)")
    # the same YAML typing as every other field: "1e-3" is 0.001, 2.0 is the int 2, "off" is not a bool
    typed = {k: _coerce(f"{path}.{k}", v, fields[k]) for k, v in value.items()}
    try:
        DreamingConfig(**typed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}{_dreaming_fix(path, typed)}") from None
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
    shown = ", ".join(f"{k}: {defaults[k]}" for k in culprits if defaults.get(k, dataclasses.MISSING) is not dataclasses.MISSING)
    return f"; write e.g. {path}: {{{shown}}}" if shown else ""


def _did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


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


def _build(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping of keys to values, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in fields:
            raise ConfigError(
                f"unknown config key {prefix + str(key)!r}{_did_you_mean(str(key), fields)}; known keys: "
                f"{', '.join(fields)} (check the spelling)"
            )
        typ = fields[key].type
        if key == "schedule":
            kwargs[key] = _schedule_spec(f"{prefix}{key}", value)
        elif key == "dreaming":
            kwargs[key] = _dreaming_spec(f"{prefix}{key}", value)
        elif key == "stream":
            kwargs[key] = _stream_spec(f"{prefix}{key}", value)
        elif typ == "SleepSettings":
            # only an empty ``sleep:`` means defaults; ``sleep: off`` (False) must not (CASES C14)
            kwargs[key] = _build(SleepSettings, {} if value is None else value, prefix=f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(f"{prefix}{key}", value, typ)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def load_config(source: str | Path | Mapping[str, Any] | None = None) -> RunConfig:
    """Load a :class:`RunConfig` from a YAML file path, YAML text, a mapping, or None (defaults).

    Raises:
        ConfigError: missing file, unreadable YAML, unknown key, or a value of the wrong type.
    """
    if source is None:
        return RunConfig()
    if isinstance(source, Mapping):
        return _build(RunConfig, source)
    text = str(source)
    one_line_yaml = "\n" not in text and _YAML_MAPPING.match(text)  # "model: /data/m" is text, not a path
    if isinstance(source, Path) or (
        "\n" not in text and not one_line_yaml and (text.endswith((".yaml", ".yml", ".json")) or "/" in text)
    ):
        path = Path(text)
        if path.is_dir():
            raise ConfigError(f"config {text!r} is a directory, not a file; pass the path of a YAML file, e.g. configs/default.yaml")
        if not path.is_file():
            raise ConfigError(f"config file {text!r} does not exist; pass the path of a YAML file, e.g. configs/default.yaml")
        text = read_config_text(path)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 -- _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(f"config is not valid YAML: {yaml_problem(exc)}") from None
    return _build(RunConfig, {} if data is None else data)  # an empty file = defaults; `off` is an error


def config_file_is_empty(path: Path) -> bool:
    """True if ``path`` is a file whose YAML is empty (blank or only comments): it loads as the defaults.

    Unreadable or invalid files give False (``load_config`` reports them).
    """
    try:
        return path.is_file() and yaml.load(read_config_text(path), Loader=_Loader) is None  # noqa: S506 -- a SafeLoader
    except (OSError, ConfigError, yaml.YAMLError):
        return False


def describe_config(cfg: RunConfig) -> str:
    """One line naming a config's model, stream and agents, e.g. for the built-in defaults."""
    stream = cfg.stream_config()
    tasks = ", ".join(dict.fromkeys(e.task for e in stream.experiences))
    if cfg.stream is None:
        size = f" ({cfg.facts_per_experience} facts + {cfg.queries_per_experience} questions each)"
    else:
        size = ""
    return (f"model {cfg.model}, {len(stream.experiences)} experiences of the {tasks} task{size}, "
            f"agents {', '.join(cfg.agents)}")


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """JSON-able dict of a resolved config (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))
