"""The rollout-engine contract on tiny GPT-2, Llama and Qwen2 models (issue 5).

Every test builds a random 2-layer model from a config and a byte tokenizer: no download, < 1 s each.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from agents.engine import (
    IncompatibleModels,
    PromptTooLong,
    SamplingParams,
    TransformersEngine,
    check_compatible,
    export_for_serving,
)
from agents.models import TINY_ARCHS, tiny_model, tiny_tokenizer

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=10)
# Very different lengths: 2, 41 and 301 byte tokens (ByT5: one token per byte).
PROMPTS = ["hi", "The capital of the fictional land is", "x" * 150 + " long context " + "y" * 137]


def _engine(arch, seed=0, **kw):
    return TransformersEngine(tiny_model(seed=seed, arch=arch), tiny_tokenizer(), batch_size=8, **kw)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_greedy_batched_equals_one_by_one_for_very_different_lengths(arch):
    eng = _engine(arch)
    assert [len(ids) for ids in eng.encode(PROMPTS)] == [2, 36, 301]
    batched = eng.generate(PROMPTS, GREEDY)
    for p, r in zip(PROMPTS, batched):
        alone = eng.generate([p], GREEDY)[0]
        assert r.token_ids == alone.token_ids and r.text == alone.text
        np.testing.assert_allclose(r.logprobs, alone.logprobs, atol=1e-4)
    assert len({r.token_ids for r in batched}) > 1  # the three rows really differ


def test_token_budget_buckets_do_not_change_results():
    split = _engine("qwen2", max_batch_tokens=400)  # 301 + 10 and 36 + 10 cannot share a 400-token batch
    assert split._buckets([2, 36, 301], 10) == [[0, 1], [2]]
    whole = _engine("qwen2", max_batch_tokens=None)
    assert whole._buckets([2, 36, 301], 10) == [[0, 1, 2]]
    a, b = split.generate(PROMPTS, GREEDY), whole.generate(PROMPTS, GREEDY)
    assert [r.token_ids for r in a] == [r.token_ids for r in b]


@pytest.mark.parametrize("arch", TINY_ARCHS)
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampled_logprobs_equal_score_on_the_same_ids(arch, temperature):
    eng = _engine(arch)
    params = SamplingParams(temperature=temperature, max_new_tokens=12, seed=5, n=3)
    rolls = eng.generate(PROMPTS, params)
    assert len(rolls) == 9 and [r.prompt for r in rolls] == [p for p in PROMPTS for _ in range(3)]
    scored = eng.score([r.prompt for r in rolls], [r.token_ids for r in rolls], temperature=temperature)
    for r, s in zip(rolls, scored):
        assert r.logprobs.dtype == np.float64 and r.logprobs.shape == (len(r.token_ids),)
        np.testing.assert_allclose(r.logprobs, s, atol=1e-4)
    other = eng.score([rolls[0].prompt], [rolls[0].token_ids], temperature=temperature * 2)[0]
    assert np.abs(other - rolls[0].logprobs).max() > 1e-3  # the temperature really enters


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_left_padding_does_not_change_scores(arch):
    eng = _engine(arch)
    completion = list(range(40, 52))
    alone = eng.score(["ab"], [completion])[0]
    padded = eng.score(["ab", "z" * 200], [completion, completion[:3]])[0]  # "ab" now has 198 pads
    np.testing.assert_allclose(padded, alone, atol=1e-5)
    assert alone.shape == (12,)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_stop_strings_cut_generated_text(arch):
    eng = _engine(arch)
    params = SamplingParams(temperature=1.0, max_new_tokens=32, seed=7)  # random models repeat greedily
    free = eng.generate(["stop here:"], params)[0]
    text = free.text
    i = next(i for i in range(2, len(text) - 1) if text[i : i + 2].isascii() and text[i : i + 2].isprintable())
    stop = text[i : i + 2]  # a string the model does produce
    r = eng.generate(["stop here:"], SamplingParams(temperature=1.0, max_new_tokens=32, seed=7, stop=(stop,)))[0]
    assert r.text == text[: text.find(stop)] and r.finish_reason == "stop"
    assert r.token_ids == free.token_ids[: len(r.token_ids)] and len(r.token_ids) < len(free.token_ids)
    assert stop in eng.tokenizer.decode(list(r.token_ids), skip_special_tokens=True) and len(r.logprobs) == len(r.token_ids)
    assert stop not in eng.tokenizer.decode(list(r.token_ids[:-1]), skip_special_tokens=True)  # ids end with the token completing it


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_weight_update_is_served_and_versioned(arch, tmp_path):
    eng = _engine(arch)
    before = eng.generate(PROMPTS[:2], GREEDY)
    probe0 = eng.probe()
    assert {r.model_version for r in before} == {0}
    new = tiny_model(seed=1, arch=arch)  # other weights, same architecture
    assert eng.load_weights(new.state_dict()) == 1
    after = eng.generate(PROMPTS[:2], GREEDY)
    assert {r.model_version for r in after} == {1}
    reference = TransformersEngine(new, tiny_tokenizer())
    for r, ref in zip(after, reference.generate(PROMPTS[:2], GREEDY)):
        assert r.token_ids == ref.token_ids
        np.testing.assert_allclose(r.logprobs, ref.logprobs, atol=1e-5)
    assert eng.probe() == pytest.approx(reference.probe(), abs=1e-5) and abs(eng.probe() - probe0) > 1e-2
    # from a save_pretrained directory, back to the first weights
    tiny_model(seed=0, arch=arch).save_pretrained(tmp_path)
    assert eng.load_weights(tmp_path) == 2 and eng.probe() == pytest.approx(probe0, abs=1e-5)


def test_load_weights_refuses_unknown_names_and_empty_dirs(tmp_path):
    eng = _engine("llama")
    with pytest.raises(KeyError, match="not in the model"):
        eng.load_weights({"model.layers.0.mlp.mlp.gate_proj.weight": torch.zeros(2, 2)})
    with pytest.raises(FileNotFoundError, match="safetensors"):
        eng.load_weights(tmp_path)
    assert eng.model_version == 0


def test_generation_ignores_the_models_own_generation_config():
    eng = _engine("llama")
    plain = eng.generate(PROMPTS, GREEDY)
    eng.model.generation_config.repetition_penalty = 3.0
    eng.model.generation_config.no_repeat_ngram_size = 1
    assert [r.token_ids for r in eng.generate(PROMPTS, GREEDY)] == [r.token_ids for r in plain]


def test_empty_prompt_list_returns_empty_list():
    eng = _engine("gpt2")
    assert eng.generate([], GREEDY) == [] and eng.score([], []) == []


def test_prompt_longer_than_context_is_refused_with_both_lengths():
    eng = TransformersEngine(tiny_model(arch="gpt2", context_length=64), tiny_tokenizer())
    with pytest.raises(PromptTooLong, match=r"prompt 1 is 70 tokens and max_new_tokens is 10 tokens.*context is 64"):
        eng.generate(["ok", "a" * 70], GREEDY)
    with pytest.raises(PromptTooLong, match=r"prompt 0 is 60 tokens and its completion is 5 tokens.*64"):
        eng.score(["a" * 60], [[5, 6, 7, 8, 9]])
    assert eng.generate(["a" * 54], GREEDY)[0].token_ids  # 54 + 10 = 64 fits exactly


def test_truncate_prompts_keeps_the_prompt_end():
    eng = TransformersEngine(tiny_model(arch="gpt2", context_length=64), tiny_tokenizer(), truncate_prompts=True)
    long = "q" * 30 + "0123456789" * 5  # 80 tokens; the last 54 are kept
    assert eng.generate([long], GREEDY)[0].token_ids == eng.generate([long[-54:]], GREEDY)[0].token_ids


def test_check_compatible_accepts_a_pair_sharing_tokenizer_and_vocab():
    check_compatible(_engine("llama"), _engine("qwen2", seed=3))


def test_check_compatible_refuses_different_vocab_sizes_naming_both():
    big = GPT2LMHeadModel(GPT2Config(vocab_size=512, n_embd=32, n_layer=1, n_head=2))
    with pytest.raises(IncompatibleModels, match=r"teacher vocab_size=384.*student vocab_size=512"):
        check_compatible(_engine("llama"), TransformersEngine(big, tiny_tokenizer()))


def test_check_compatible_refuses_different_token_maps_of_equal_size():
    def fake(vocab):
        return SimpleNamespace(vocab_size=3, tokenizer=SimpleNamespace(get_vocab=lambda: vocab))

    with pytest.raises(IncompatibleModels, match=r"share one tokenizer.*3 tokens.*3 tokens"):
        check_compatible(fake({"a": 0, "b": 1, "c": 2}), fake({"a": 0, "b": 2, "c": 1}))


def test_engine_satisfies_the_protocol():
    from agents.engine import RolloutEngine

    eng = _engine("gpt2")
    assert isinstance(eng, RolloutEngine) and eng.vocab_size == 384


@pytest.mark.slow
def test_smollm2_chat_prompts_batched_and_scored():
    from agents.models import load_model
    from agents.prompting import PromptFormat

    model, tok = load_model("smollm2-135m")
    eng = TransformersEngine(model, tok)
    fmt = PromptFormat(tok)
    prompts = [fmt.render("What is 2 + 2?"), fmt.render("Name a colour.\nAnswer: My favourite colour is")]
    rolls = eng.generate(prompts, SamplingParams(max_new_tokens=12))
    for p, r in zip(prompts, rolls):
        assert r.token_ids == eng.generate([p], SamplingParams(max_new_tokens=12))[0].token_ids
        np.testing.assert_allclose(r.logprobs, eng.score([p], [r.token_ids])[0], atol=1e-4)
    assert "4" in rolls[0].text


def _with_experts(seed=0):
    from agents.memory.experts import ExpertConfig, ExpertMemory

    model = tiny_model(seed=seed)
    memory = ExpertMemory(model, ExpertConfig(d_low=4, pool_size=3, first_layer=1), seed=seed)
    return model, memory


def test_export_for_serving_folds_experts_exactly(tmp_path):
    from transformers import AutoModelForCausalLM

    model, memory = _with_experts()
    for k in (memory.expand(), memory.expand()):  # two of three pooled experts active
        for blk in memory.blocks:
            torch.nn.init.normal_(blk.B.data[k], std=0.5)
    export_for_serving(model, tiny_tokenizer(), tmp_path)
    plain = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert plain.config.intermediate_size == 128 + 3 * 4 and plain.config.mlp_bias
    ids = torch.tensor([list(range(3, 40))])
    with torch.no_grad():
        want, got = model(input_ids=ids).logits, plain(input_ids=ids).logits
        with memory.routed(False):
            base = model(input_ids=ids).logits
    assert (want - base).abs().max() > 1e-2  # the experts matter ...
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)  # ... and survive the export
    eng = TransformersEngine(plain, tiny_tokenizer())
    assert eng.probe() == pytest.approx(TransformersEngine(model, tiny_tokenizer()).probe(), abs=1e-4)


def test_export_for_serving_keeps_the_width_fixed_and_refuses_other_architectures(tmp_path):
    from agents.memory.experts import ExpertConfig, ExpertMemory
    from transformers import AutoConfig

    model, memory = _with_experts()
    export_for_serving(model, tiny_tokenizer(), tmp_path / "v0")  # nothing active yet: the base model
    memory.expand()
    export_for_serving(model, tiny_tokenizer(), tmp_path / "v1")
    widths = {AutoConfig.from_pretrained(tmp_path / v).intermediate_size for v in ("v0", "v1")}
    assert widths == {140}  # same shapes: an engine can swap them in place
    gpt2 = tiny_model(arch="gpt2")
    ExpertMemory(gpt2, ExpertConfig(d_low=4, pool_size=2))
    with pytest.raises(ValueError, match="model_type='gpt2'"):
        export_for_serving(gpt2, tiny_tokenizer(), tmp_path / "g")


def test_vllm_engine_without_vllm_names_the_install_command(monkeypatch):
    import sys

    from agents.engine import VLLMEngine
    from sleep_env.errors import DependencyNotInstalled

    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed
    with pytest.raises(DependencyNotInstalled, match=r'pip install "sleep-env\[vllm\]"'):
        VLLMEngine("/nonexistent")
