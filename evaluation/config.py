"""Run configuration for ``sleep-env run``: a typed, validated dataclass loaded from YAML.

YAML 1.1 surprises are handled field by field: ``lr: 1e-3`` (a string to PyYAML) becomes
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

# the pieces below live in their own modules; every name stays importable from here (noqa: re-exports)
from evaluation.config_sections import _EXPERIENCE_KEYS, _dreaming_fix, _dreaming_spec, _schedule_spec, _stream_spec  # noqa: F401
from evaluation.config_values import _FLOAT, _INT, _coerce, _did_you_mean  # noqa: F401
from evaluation.sleep_settings import SleepSettings
from evaluation.yaml_io import _YAML11_NUMBER, _construct_number, _Loader, read_config_text, yaml_problem  # noqa: F401
from sleep_env.errors import ConfigError
from sleep_env.stream import MAX_STREAM_ITEMS, ExperienceConfig, StreamConfig

__all__ = ["RunConfig", "SleepSettings", "load_config", "config_to_dict", "config_file_is_empty", "describe_config"]

#: Seeds are < 2**32: ``torch.manual_seed`` and numpy's legacy seeding refuse larger ones.
SEED_LIMIT = 2**32
AGENT_NAMES = ("in-context", "sleep", "sft", "sft-replay", "sdft", "seal")
MODEL_PRESETS = ("smollm2-135m", "smollm2-135m-instruct", "tiny", "gemma3-270m", "gemma-3-270m")
"""Model names ``agents.models.load_model`` knows (a test keeps the two lists in step)."""


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What ``sleep-env run`` does.

    Attributes:
        model: ``smollm2-135m`` (default, real pretrained model), ``gemma3-270m``, ``tiny`` (tests) or a
            local HF model dir.
        agents: Agents to run on the same seeded stream, from ``in-context``, ``sleep``, ``sft``
            (SFTSleepAgent), ``sft-replay`` (ReplaySFTAgent), ``sdft`` (SDFTSleepAgent, needs trl) and ``seal`` (SEALAgent). A YAML
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
        keep_checkpoints: Also keep each wake-up's checkpoint as ``<agent>/checkpoint-sleep<k>.pt``
            (``k`` = sleeps so far; a SmolLM2 ``sleep`` agent's is about 45 MB), so that later runs
            can branch from any sleep (``examples/reseed.py``). Default False: only the latest
            ``checkpoint.pt`` is kept, and deleted when the agent finishes.
    """

    model: str = "smollm2-135m"
    agents: tuple[str, ...] = ("in-context", "sleep")
    seed: int = 0
    stream: StreamConfig | None = None
    experiences: int = 3
    facts_per_experience: int = 12
    queries_per_experience: int = 3
    context_chars: int = 2000
    sleep_period: int = 0
    schedule: dict[str, Any] | None = None
    dreaming: dict[str, Any] | None = None
    fresh_facts: int = 12
    probe_stem: str = "canonical"
    match: str = "contains"
    sleep: SleepSettings = field(default_factory=SleepSettings)
    threads: int = 0
    keep_checkpoints: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.seed < SEED_LIMIT:
            raise ConfigError(f"seed must be an integer in [0, 2**32), got {self.seed}; torch and numpy seed their "
                              "generators with it: write e.g. seed: 0")
        for name in ("experiences", "facts_per_experience", "context_chars", "fresh_facts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}; write e.g. {name}: {getattr(RunConfig, name)}")
        for name in ("queries_per_experience", "sleep_period", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}; write e.g. {name}: 0")
        items = self.experiences * (self.facts_per_experience + self.queries_per_experience)
        if self.stream is None and items > MAX_STREAM_ITEMS:
            raise ConfigError(f"the stream would hold {items} items (experiences {self.experiences} x (facts_per_experience "
                              f"{self.facts_per_experience} + queries_per_experience {self.queries_per_experience})), more "
                              f"than {MAX_STREAM_ITEMS}; lower them, e.g. experiences: 3, facts_per_experience: 12")
        if not isinstance(self.keep_checkpoints, bool):
            raise ConfigError(f"keep_checkpoints must be true or false, got {self.keep_checkpoints!r}; write keep_checkpoints: true")
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
        if (self.stream is None and self.queries_per_experience == 0 and self.sleep.replay == ("queries",)
                and {"sleep", "sft-replay", "sdft"} & set(self.agents)):
            raise ConfigError("sleep.replay is [queries] but queries_per_experience is 0: every sleep would have no replay; "
                              "write sleep: {replay: [cloze, queries]} (replay from the memory) or ask questions by day")
        if self.dreaming is not None and not {"sleep", "seal"} & set(self.agents):
            raise ConfigError(f"dreaming: configures the sleep and seal agents, but agents is {list(self.agents)}; "
                              "add one, e.g. agents: [sleep], or remove the dreaming: key")
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
_YAML_MAPPING = re.compile(r"^\s*(\{|[^:]+:(\s|$))")  # a one-line YAML mapping, not a file path


#: Keys that a config of an older sleep-env may still hold, with what replaced them.
_REPLACED_KEYS = {
    "sleep.recall_prefixes": "the replay is written from the memory by default; write sleep: {replay: [cloze, queries]} "
                             "(cloze = completions of memory lines from their prefixes)",
    "sleep.recall_whole_lines": "write sleep: {replay: [cloze, queries]} (the replay templates, see docs/consolidation.md)",
}


def _build(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping of keys to values, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if prefix + str(key) in _REPLACED_KEYS:
            raise ConfigError(f"config key {prefix + str(key)!r} no longer exists: {_REPLACED_KEYS[prefix + str(key)]}")
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
            # only an empty ``sleep:`` means defaults; ``sleep: off`` (False) must not
            kwargs[key] = _build(SleepSettings, {} if value is None else value, prefix=f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(f"{prefix}{key}", value, typ, fields[key].default)
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
    check_bare_dreaming(text, data)
    return _build(RunConfig, {} if data is None else data)  # an empty file = defaults; `off` is an error


def check_bare_dreaming(text: str, data: Any) -> None:
    """Raise ConfigError for a YAML ``dreaming:`` key with nothing after it (block or flow style).

    It is ambiguous (Dreaming with the defaults? off?), so it is refused; ``dreaming: null`` (what
    :func:`config_to_dict` writes for no Dreaming), ``~`` or ``!!null`` means off, ``dreaming: {}`` the defaults.
    """
    if not (isinstance(data, dict) and "dreaming" in data and data["dreaming"] is None):
        return
    try:
        root = yaml.compose(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader; the text parsed already
    except yaml.YAMLError:
        return
    pairs = root.value if isinstance(root, yaml.MappingNode) else []
    def bare(v) -> bool:  # nothing written after the key ("!!null" is written: an explicit null, off)
        return isinstance(v, yaml.ScalarNode) and v.value == "" and not text[v.start_mark.index:v.end_mark.index].strip()

    if any(k.value == "dreaming" and bare(v) for k, v in pairs):
        raise ConfigError("dreaming: is empty; write `dreaming: {}` for Dreaming with the default settings, "
                          "or delete the line (or write `dreaming: null`) for no Dreaming")


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
