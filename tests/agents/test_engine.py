"""TransformersEngine on a tiny random model: batching, padding, logprobs, stop strings."""

import numpy as np
import pytest

from agents.engine import SamplingParams, TransformersEngine
from agents.engine.hf import cut_completion

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=8)


def test_batched_equals_one_by_one_even_with_right_padding_tokenizer(tiny):
    model, tok = tiny
    tok.padding_side = "right"  # the engine must force left padding itself
    eng = TransformersEngine(model, tok)
    assert tok.padding_side == "left"
    p3, p9 = "abc", "abcdefghi"
    both = eng.generate([p3, p9], GREEDY)
    single = [eng.generate([p3], GREEDY)[0], eng.generate([p9], GREEDY)[0]]
    swapped = eng.generate([p9, p3], GREEDY)
    assert [r.token_ids for r in both] == [r.token_ids for r in single]
    assert [r.token_ids for r in swapped] == [single[1].token_ids, single[0].token_ids]


def test_generate_logprobs_match_teacher_forced_score(engine):
    rolls = engine.generate(["hello", "a longer prompt here"], SamplingParams(temperature=0.0, max_new_tokens=6))
    scored = engine.score([r.prompt for r in rolls], [list(r.token_ids) for r in rolls])
    for r, s in zip(rolls, scored):
        assert r.logprobs.shape == (len(r.token_ids),)
        np.testing.assert_allclose(r.logprobs, s, atol=1e-4)
        assert np.all(r.logprobs <= 0)


def test_sampled_logprobs_use_the_sampling_temperature(engine):
    params = SamplingParams(temperature=0.7, max_new_tokens=5, seed=3)
    r = engine.generate(["xyz"], params)[0]
    s07 = engine.score(["xyz"], [list(r.token_ids)], temperature=0.7)[0]
    s1 = engine.score(["xyz"], [list(r.token_ids)], temperature=1.0)[0]
    np.testing.assert_allclose(r.logprobs, s07, atol=1e-4)
    assert not np.allclose(s07, s1)


def test_seeded_sampling_is_reproducible_and_n_gives_groups(engine):
    params = SamplingParams(temperature=1.0, max_new_tokens=6, seed=11, n=3)
    a = engine.generate(["p1", "p2"], params)
    b = engine.generate(["p1", "p2"], params)
    assert len(a) == 6 and [r.prompt for r in a] == ["p1"] * 3 + ["p2"] * 3
    assert [r.token_ids for r in a] == [r.token_ids for r in b]


def _bytes(text):
    return [b + 3 for b in text.encode("utf-8")]  # ByT5 ids: byte + 3


def test_stop_strings_per_row_and_split_across_tokens(tiny):
    _, tok = tiny
    row0 = _bytes("ab") + _bytes("\n") + _bytes("\n") + _bytes("zz")
    row1 = _bytes("abc") + _bytes("def") + _bytes("\n\n")
    t0, ids0, f0 = cut_completion(tok, row0, tok.eos_token_id, ("\n\n",))
    t1, ids1, f1 = cut_completion(tok, row1, tok.eos_token_id, ("\n\n",))
    assert (t0, t1) == ("ab", "abcdef") and (f0, f1) == ("stop", "stop")
    assert ids0 == _bytes("ab\n\n") and ids1 == _bytes("abcdef\n\n")


def test_eos_and_padding_cut_and_length_finish(tiny):
    _, tok = tiny
    text, ids, finish = cut_completion(tok, _bytes("hi") + [tok.eos_token_id, 0, 0], tok.eos_token_id)
    assert (text, ids, finish) == ("hi", _bytes("hi") + [tok.eos_token_id], "stop")
    assert cut_completion(tok, _bytes("hey"), tok.eos_token_id)[2] == "length"


def test_multibyte_character_decodes_whole(tiny):
    _, tok = tiny
    text, _, _ = cut_completion(tok, _bytes("caf\u00e9"), tok.eos_token_id)
    assert text == "caf\u00e9" and "\ufffd" not in text


def test_pad_token_missing_uses_eos(tiny):
    model, tok = tiny
    tok.pad_token = None
    eng = TransformersEngine(model, tok)
    assert eng.pad_id == tok.eos_token_id < model.config.vocab_size


def test_model_version_stamped_and_bumped(engine):
    assert engine.generate(["a"], GREEDY)[0].model_version == 0
    engine.load_weights()
    assert engine.generate(["a"], GREEDY)[0].model_version == 1


def test_score_rejects_mismatched_lengths(engine):
    with pytest.raises(ValueError, match="equal length"):
        engine.score(["a", "b"], ["x"])


@pytest.mark.parametrize("kw", [{"temperature": -1}, {"top_p": 0}, {"max_new_tokens": 0}, {"n": 0}, {"stop": "\n"}])
def test_sampling_params_validation_names_the_field(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        SamplingParams(**kw)


def test_generate_ids_equals_generate_on_the_same_tokens(engine):
    prompts = ["hello", "a longer prompt here", "xyz"]
    ids = engine.encode(prompts)
    for params in (GREEDY, SamplingParams(temperature=1.0, max_new_tokens=6, seed=11, n=2)):
        by_text = engine.generate(prompts, params)
        by_ids = engine.generate_ids(ids, params)
        assert [r.token_ids for r in by_ids] == [r.token_ids for r in by_text]
        for a, b in zip(by_ids, by_text):
            np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-6)
    assert [r.prompt for r in engine.generate_ids(ids[:1], GREEDY)] == [engine.tokenizer.decode(ids[0])]
    assert engine.generate_ids([], GREEDY) == []


def test_generate_ids_refuses_bad_rows_by_name_and_takes_arrays(engine):
    import torch

    ids = engine.encode(["hello", "xyz12"])
    width = min(len(r) for r in ids)
    square = [r[:width] for r in ids]
    want = [r.token_ids for r in engine.generate_ids(square, GREEDY)]
    assert [r.token_ids for r in engine.generate_ids(torch.tensor(square), GREEDY)] == want
    assert [r.token_ids for r in engine.generate_ids(np.array(square), GREEDY)] == want
    size = len(engine.tokenizer)
    for bad, words in (([[size]], f"prompt_ids[0] holds {size}"), ([[1], [-5]], "prompt_ids[1] holds -5"),
                       ([[1.5]], "holds 1.5"), ([[]], "prompt 0 is empty")):
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
            engine.generate_ids(bad, GREEDY)
    with pytest.raises(TypeError, match=r"prompt_ids\[0\] must be a sequence of token ids"):
        engine.generate_ids([1, 2, 3], GREEDY)
