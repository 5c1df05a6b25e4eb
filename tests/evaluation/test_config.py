"""``load_config``: YAML 1.1 surprises are translated or refused field by field.

Raw PyYAML 6 values for reference: ``1e-3`` -> the string ``'1e-3'``; ``off``/``no``/``NO`` -> ``False``;
``017`` -> 15 (octal); ``1:30`` -> 90 (base 60); ``10_000`` -> 10000. The loader must hand the
dataclass the value the user meant, or raise a ``ConfigError`` that names the field.

Documented choices pinned here:
- ``seed: 017`` -> 17 (decimal, never the octal 15): the loader keeps YAML 1.1 octal as text and the
  int field reads it in base 10, like ``seed: 08`` (which PyYAML already leaves as ``'08'``).
- ``threads: 1:30`` -> ``ConfigError`` naming ``threads`` (never the base-60 value 90).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from evaluation.config import RunConfig, SleepSettings, config_to_dict, load_config
from sleep_env.errors import ConfigError, SleepEnvError


def _field(cfg: RunConfig, path: str):
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


# -- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, path, expected, typ",
    [
        ("sleep: {lr: 1e-3}", "sleep.lr", 0.001, float),  # raw: '1e-3'
        ("sleep: {lr: 5e-5}", "sleep.lr", 5e-05, float),  # raw: '5e-5'
        ("sleep: {lr: 1.0e10}", "sleep.lr", 1e10, float),  # raw: '1.0e10'
        ("sleep: {lr: 1e+10}", "sleep.lr", 1e10, float),  # raw: '1e+10'
        ("sleep: {lr: 1.0e-05}", "sleep.lr", 1e-05, float),  # what safe_dump writes for 1e-5
        ("sleep: {lr: 0.001}", "sleep.lr", 0.001, float),
        ("sleep: {lr: 1}", "sleep.lr", 1.0, float),  # an int given to a float field becomes a float
        ("sleep: {lr: '1e-3'}", "sleep.lr", 0.001, float),  # quoted: same result
        ("sleep: {beta: 0}", "sleep.beta", 0.0, float),
        ("experiences: 1e1", "experiences", 10, int),  # raw: '1e1'
        ("context_chars: 10_000", "context_chars", 10000, int),
        ("context_chars: 1e4", "context_chars", 10000, int),
        ("experiences: 2.0", "experiences", 2, int),
        ("sleep: {steps: 1e1}", "sleep.steps", 10, int),
        ("seed: 017", "seed", 17, int),  # raw: 15 (YAML 1.1 octal) -- documented: read as decimal
        ("seed: 08", "seed", 8, int),  # raw: '08'
        ("seed: 00", "seed", 0, int),
        ("seed: 0x1f", "seed", 31, int),  # explicit hex stays hex
    ],
)
def test_numbers_reach_the_field_with_the_meant_value_and_type(text, path, expected, typ) -> None:
    value = _field(load_config(text), path)
    assert value == expected
    assert type(value) is typ


@pytest.mark.parametrize(
    "text, path, shown",
    [
        ("experiences: many", "experiences", "many"),
        ("experiences: 2.5", "experiences", "2.5"),
        ("experiences: yes", "experiences", "True"),  # a YAML 1.1 boolean is not a count
        ("sleep: {steps: 1e-3}", "sleep.steps", "1e-3"),
        ("sleep: {lr: abc}", "sleep.lr", "abc"),
        ("sleep: {lr: on}", "sleep.lr", "True"),
        ("threads: 1:30", "threads", "1:30"),  # raw: 90 (base 60) -- documented: refused
        ("sleep: {lr: '1:30.5'}", "sleep.lr", "1:30.5"),
        ("sleep: {lr: 1:30.5}", "sleep.lr", "1:30.5"),  # raw: 5430.5 (base 60)
    ],
)
def test_wrong_numbers_are_refused_naming_field_and_value(text, path, shown) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(text)
    msg = str(exc.value)
    assert path in msg and shown in msg, msg


# -- strings, enums and booleans -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["off", "no", "NO", "On", "yes", "false"])
def test_router_given_a_yaml_boolean_is_an_error_naming_it(value: str) -> None:
    with pytest.raises(ConfigError, match=r"sleep\.router"):
        load_config(f"sleep: {{router: {value}}}")


def test_router_off_is_never_false() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config("sleep:\n  router: off\n")
    assert "sleep.router" in str(exc.value)
    # quoting gives the string, which is not a router name: still an error naming the field
    with pytest.raises(ConfigError, match=r"sleep\.router.*'off'"):
        load_config("sleep: {router: 'off'}")
    assert load_config("sleep: {router: never}").sleep.router == "never"


@pytest.mark.parametrize("value", ["no", "NO", "No", "off", "y", "n"])
def test_string_field_given_a_yaml_boolean_is_an_error_naming_it(value: str) -> None:
    # y/n are plain strings in PyYAML (not booleans): they must come through unchanged
    if value in ("y", "n"):  # kept as the text typed (not a preset: the error quotes it)
        with pytest.raises(ConfigError, match=rf"model '{value}' is not a preset"):
            load_config(f"model: {value}")
        assert load_config(f"model: ./{value}").model == f"./{value}"
        return
    with pytest.raises(ConfigError, match=r"\bmodel\b"):
        load_config(f"model: {value}")


def test_string_list_element_given_no_is_an_error_naming_the_element() -> None:
    with pytest.raises(ConfigError, match=r"agents\[1\]"):
        load_config("agents: [sleep, NO]")
    assert load_config("agents: sleep").agents == ("sleep",)


@pytest.mark.parametrize(
    "value, expected", [("no", False), ("NO", False), ("off", False), ("yes", True), ("true", True), ("false", False)]
)
def test_bool_field_accepts_yaml_booleans(value: str, expected: bool) -> None:
    got = load_config(f"sleep: {{expand: {value}}}").sleep.expand
    assert got is expected


@pytest.mark.parametrize("value", ["maybe", "1", "0", "'no'", "2"])
def test_bool_field_refuses_anything_else(value: str) -> None:
    with pytest.raises(ConfigError, match=r"sleep\.expand"):
        load_config(f"sleep: {{expand: {value}}}")


def test_model_keeps_leading_zero_names_as_text() -> None:
    # YAML 1.1 would read 017 as the int 15; a string field keeps the characters typed
    with pytest.raises(ConfigError, match="model '017' is not a preset"):
        load_config("model: 017")
    assert load_config("model: ./017").model == "./017"


# -- structure -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, name",
    [
        ("expriences: 3", "expriences"),
        ("sleep: {stepz: 3}", "sleep.stepz"),
        ("sleep:\n  lr: 1e-3\n  routr: lexical\n", "sleep.routr"),
    ],
)
def test_unknown_keys_are_errors_naming_the_key(text: str, name: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(text)
    assert name in str(exc.value)


def test_yaml_boolean_as_key_is_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config("on: 1")  # raw: {True: 1}


def test_sleep_off_is_an_error_not_the_defaults() -> None:
    with pytest.raises(ConfigError, match=r"\bsleep\b"):
        load_config("sleep: off")  # raw False: must not silently mean "default sleep settings"
    assert load_config("sleep:").sleep == SleepSettings()  # an empty section does mean the defaults


@pytest.mark.parametrize(
    "text",
    [
        "x: !!python/object/apply:os.getcwd []",
        "seed: !!python/object/apply:os.getcwd []",
        "model: !!python/name:os.system",
    ],
)
def test_unsafe_tags_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="YAML"):
        load_config(text)


def test_invalid_yaml_and_non_mapping_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("seed: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML: mapping values are not allowed here \(line 2, column 7\)"):
        load_config("model: tiny\n  seed: 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config("- a\n- b\n")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    for source in (missing, str(missing)):
        with pytest.raises(ConfigError) as exc:
            load_config(source)
        assert str(missing) in str(exc.value)


def test_one_line_yaml_with_a_slash_is_text_not_a_path() -> None:
    assert load_config("model: /data/models/x").model == "/data/models/x"


def test_file_and_text_and_mapping_give_the_same_config(tmp_path: Path) -> None:
    text = "model: tiny\nseed: 3\nsleep:\n  lr: 1e-3\n  expand: no\n  replay: [cloze]\n"
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    expected = load_config(text)
    assert load_config(path) == expected
    assert load_config(str(path)) == expected
    assert load_config(yaml.safe_load(text)) == expected
    assert expected.sleep.lr == 0.001 and expected.sleep.expand is False and expected.sleep.replay == ("cloze",)


def test_range_rules_are_checked_at_load_time_with_the_field_name() -> None:
    for text, name in [
        ("experiences: 0", "experiences"),
        ("threads: -1", "threads"),
        ("agents: [sleeper]", "agents"),
        ("sleep: {steps: 0}", "sleep.steps"),
        ("sleep: {lr: -1e-3}", "sleep.lr"),
        ("sleep: {beta: 1.5}", "sleep.beta"),
        ("sleep: {replay_per_batch: 12}", "sleep.replay_per_batch"),
        ("sleep: {pool_size: 0}", "sleep.pool_size"),
    ]:
        with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
            load_config(text)


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("sleep: {steps: 0}", "sleep.steps must be >= 1, got 0; write e.g. sleep: {steps: 28}"),
        ("sleep: {z0: -1}", "write e.g. sleep: {z0: 4}"),
        ("sleep: {first_layer: -1}", "write e.g. sleep: {first_layer: 0}"),
        ("sleep: {beta: 1.5}", "write e.g. sleep: {beta: 0.0}"),
        ("sleep: {batch_size: 4, replay_per_batch: 4}", "write e.g. sleep: {replay_per_batch: 3}"),
        ("sleep: {router: fast}", "write e.g. sleep: {router: lexical}"),
        ("match: fuzzy", "match must be 'contains' or 'exact', got 'fuzzy'; write e.g. match: contains"),
        ("probe_stem: other", "write e.g. probe_stem: canonical"),
        ("dreaming: {dreams: 0}", "dreaming.dreams must be an int >= 1, got 0; write e.g. dreaming: {dreams: 8}"),
        # a bool where a bool belongs: the hint writes one; a bool where a choice belongs: the choices
        ("dreaming: {rest_em: maybe}", "dreaming.rest_em must be true or false, got 'maybe'; write rest_em: true or rest_em: false (unquoted)"),
        ("dreaming: {grounding: off}", "dreaming.grounding must be one of 'lexical', 'none', got False "
                                      "(YAML reads yes/no/on/off as booleans); write the one you mean in quotes, e.g. grounding: 'lexical'"),
        ("model: yes", "write a quoted string, e.g. model: 'smollm2-135m' (YAML reads yes/no/on/off as booleans)"),
        ("dreaming: {dreams: 3, temperature: 0.0}", "write e.g. dreaming: {temperature: 0.7}"),
        ("dreaming: {top_k: 0, random_extra: 0}", "write e.g. dreaming: {top_k: 3, random_extra: 1}"),
        # a float field that is not a number: the hint shows the field's own default
        ("dreaming: {min_retention: yes}", "dreaming.min_retention must be a number, got True; write e.g. min_retention: 1.0"),
        ("sleep: {lr: fast}", "sleep.lr must be a number, got 'fast'; write e.g. lr: 0.015"),
    ],
)
def test_range_errors_end_with_a_fix_to_write(text: str, fix: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(text)
    assert str(exc.value).endswith(fix), str(exc.value)


def test_a_bare_dreaming_key_is_an_error_but_an_explicit_null_means_off() -> None:
    for text in ("agents: [sleep]\ndreaming:\n", "agents: [sleep]\ndreaming:   # later\nseed: 1\n",
                 "agents: [sleep]\ndreaming :\n", "agents: [sleep]\n'dreaming':\n", "agents: [sleep]\r\ndreaming:\r\n",
                 "{agents: [sleep], dreaming: }"):
        with pytest.raises(ConfigError, match=r"dreaming: is empty; write `dreaming: \{\}` for Dreaming with the default"):
            load_config(text)
    assert load_config("agents: [sleep]\ndreaming: {}\n").dreaming == {}
    assert load_config('{"agents": ["sleep"], "dreaming": null}').dreaming is None  # a run's config.json
    assert load_config("agents: [sleep]\ndreaming: null\n").dreaming is None  # as config_to_dict dumps it
    assert load_config("agents: [sleep]\ndreaming: ~\n").dreaming is None
    assert load_config("agents: [sleep]\ndreaming: !!null\n").dreaming is None  # an explicit null tag: off
    assert load_config({"agents": ["sleep"], "dreaming": None}).dreaming is None  # Python: None is off
    with pytest.raises(ConfigError, match=r"dreaming must be a mapping of DreamingConfig fields, got False; write `dreaming: \{\}`"):
        load_config("agents: [sleep]\ndreaming: off\n")


@pytest.mark.parametrize("text", ["agents: sleep, sft", "agents: in-context sleep", "agents: 'sleep,sft'"])
def test_agents_written_as_one_string_of_several_names_asks_for_a_list(text: str) -> None:
    # a single name is a one-element list (agents: sleep); several names in one string are a mistake
    with pytest.raises(ConfigError, match=r"agents must be a list, e.g\. agents: \[sleep, sft\]; got .*a string"):
        load_config(text)
    assert load_config("agents: sleep").agents == ("sleep",)


def test_config_error_is_a_value_error_and_a_sleep_env_error() -> None:
    with pytest.raises(ValueError):
        load_config("experiences: many")
    with pytest.raises(SleepEnvError):
        load_config("experiences: many")


# -- round trip ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "model: tiny\nseed: 017\nexperiences: 1e1\ncontext_chars: 10_000\n"
        "sleep: {lr: 1e-5, beta: 0, replay: [queries], support: none, router: never, on_policy_fraction: 5e-1}\n",
        "agents: [sleep]\nsleep: {lr: 1.0e10, steps: 2, batch_size: 4, replay_per_batch: 1}\n",
    ],
)
def test_dump_and_reload_gives_equal_values_and_types(text: str, tmp_path: Path) -> None:
    cfg = load_config(text)
    dumped = yaml.safe_dump(config_to_dict(cfg))
    again = load_config(dumped)
    assert again == cfg
    for f in dataclasses.fields(RunConfig):
        assert type(getattr(again, f.name)) is type(getattr(cfg, f.name)), f.name
    for f in dataclasses.fields(SleepSettings):
        assert type(getattr(again.sleep, f.name)) is type(getattr(cfg.sleep, f.name)), f"sleep.{f.name}"
    path = tmp_path / "again.yaml"
    path.write_text(dumped)
    assert load_config(path) == cfg


def test_defaults() -> None:
    assert load_config(None) == RunConfig()
    assert load_config("") == RunConfig()
    assert RunConfig().period == RunConfig().facts_per_experience + RunConfig().queries_per_experience


def test_shipped_default_yaml_equals_the_built_in_defaults():
    from pathlib import Path

    from evaluation.config import RunConfig, load_config

    path = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
    assert load_config(path) == RunConfig()


def test_sleep_settings_defaults_agree_with_the_agent_config():
    """SleepSettings mirrors SleepAgentConfig (so config loading needs no torch); they must not drift."""
    from agents import SleepAgentConfig
    from evaluation.config import SleepSettings

    s, a = SleepSettings(), SleepAgentConfig()
    for name in ("steps", "batch_size", "lr", "on_policy_fraction", "beta", "replay_per_batch", "router"):
        assert getattr(s, name) == getattr(a, name), name
    assert (s.replay, s.cuts_per_unit, s.support) == (a.replay.sources, a.replay.cuts_per_unit, a.replay.support)
    assert (s.d_low, s.pool_size) == (a.experts.d_low, a.experts.pool_size)


@pytest.mark.parametrize(
    ("text", "key", "first", "line"),
    [("seed: 1\nseed: 2\n", "seed", 1, 2), ("sleep:\n  steps: 3\n  lr: 0.1\n  steps: 4\n", "steps", 2, 4)],
)
def test_a_key_written_twice_is_an_error_with_both_lines(text: str, key: str, first: int, line: int) -> None:
    # PyYAML keeps the last value silently: a config that says two things must not run one of them
    with pytest.raises(ConfigError, match=rf"key '{key}' appears twice in one mapping \(first at line {first}\).*\(line {line}, "):
        load_config(text)


@pytest.mark.parametrize(
    ("text", "hint"),
    [("match: contain\n", "did you mean 'contains'"), ("probe_stem: reword\n", "did you mean 'reworded'"),
     ("experiencs: 2\n", "did you mean 'experiences'"), ("sleep:\n  stepz: 3\n", "did you mean 'steps'"),
     ("sleep:\n  router: lexcal\n", "did you mean 'lexical'")],
)
def test_typos_get_a_did_you_mean(text: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=hint):
        load_config(text)


def test_dreaming_fields_get_the_same_yaml_typing_as_the_rest() -> None:
    cfg = load_config("dreaming: {lr: 1e-3, generator_lr: 5e-4, dreams: 2.0}\n")
    assert cfg.dreaming == {"lr": 0.001, "generator_lr": 0.0005, "dreams": 2}
    with pytest.raises(ConfigError, match=r"dreaming\.dreams must be an integer, got 'two'"):
        load_config("dreaming: {dreams: two}\n")
    with pytest.raises(ConfigError, match="did you mean 'dreams'"):
        load_config("dreaming: {dreamz: 3}\n")


@pytest.mark.parametrize(
    ("text", "hint"),
    [("model: tny\n", "did you mean 'tiny'"), ("stream:\n  experiences:\n    - {task: facts, n_stdy: 3}\n", "did you mean 'n_study'")],
)
def test_more_typos_get_a_did_you_mean(text: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=hint):
        load_config(text)


def test_a_config_file_that_is_not_utf8_is_named(tmp_path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"model: tiny\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml' is not UTF-8 text \(byte 0xe9 at offset 17\)"):
        load_config(bad)


def test_yaml_one_and_true_are_different_keys() -> None:
    with pytest.raises(ConfigError, match="unknown config key '1'"):  # not "appears twice"
        load_config("model: tiny\n1: a\ntrue: b\n")


def test_keep_checkpoints_is_a_bool() -> None:
    assert load_config("keep_checkpoints: true\n").keep_checkpoints is True
    assert load_config(None).keep_checkpoints is False
    with pytest.raises(ConfigError, match=r"keep_checkpoints must be true or false, got 'no'"):
        RunConfig(model="tiny", keep_checkpoints="no")  # the Python API checks it too (YAML reads no as False)
    with pytest.raises(ConfigError, match=r"keep_checkpoints"):
        load_config("keep_checkpoints: 3\n")


# -- bounds shared by `check` and `run` ------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["model: tiny\nexperiences: 1000000000\n", "model: tiny\nfacts_per_experience: 100000\n",
     "model: tiny\nqueries_per_experience: 99999\nfacts_per_experience: 2\n"],
)
def test_a_stream_too_large_to_build_is_refused_at_load_time(text: str) -> None:
    import time

    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"the stream would hold \d+ items.*more than 100000"):
        load_config(text)
    assert time.perf_counter() - t0 < 5  # refused before anything is built


@pytest.mark.parametrize("seed", ["99999999999999999999999999", "4294967296", "-1"])
def test_a_seed_that_torch_cannot_take_is_refused_by_the_config(seed: str) -> None:
    with pytest.raises(ConfigError, match=r"seed must be an integer in \[0, 2\*\*32\)"):
        load_config(f"model: tiny\nseed: {seed}\n")
    assert load_config("model: tiny\nseed: 4294967295\n").seed == 2**32 - 1


def test_compare_seeds_share_the_run_seed_bound() -> None:
    from evaluation.compare import load_compare_config

    with pytest.raises(ConfigError, match=r"seeds must be a list of integers in \[0, 2\*\*32\)"):
        load_compare_config({"model": "tiny", "seeds": [0, 2**32], "schedules": ["never"]})


def test_stream_configs_refuse_more_items_than_the_limit() -> None:
    from sleep_env import ExperienceConfig, StreamConfig
    from sleep_env.stream import MAX_STREAM_ITEMS

    with pytest.raises(ValueError, match="n_study \\+ n_query must be <= 100000"):
        ExperienceConfig(task="facts", n_study=MAX_STREAM_ITEMS, n_query=1)
    exp = ExperienceConfig(task="facts", n_study=50_000, n_query=1)
    with pytest.raises(ValueError, match="sum of n_study \\+ n_query"):
        StreamConfig(experiences=(exp, exp))


@pytest.mark.parametrize("key", ["recall_prefixes", "recall_whole_lines"])
def test_a_replaced_sleep_key_names_what_replaced_it(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"'sleep\.{key}' no longer exists.*replay: \[cloze, queries\]"):
        load_config(f"sleep: {{{key}: true}}")


def test_a_replay_of_questions_only_on_a_day_without_questions_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"sleep\.replay is \[queries\] but queries_per_experience is 0"):
        load_config("model: tiny\nqueries_per_experience: 0\nsleep: {replay: [queries]}\n")
    assert load_config("model: tiny\nqueries_per_experience: 0\n").sleep.replay == ("cloze", "queries")
    assert load_config("model: tiny\nagents: [in-context, sft]\nqueries_per_experience: 0\nsleep: {replay: [queries]}\n")
