"""LoRA adapters of the memory model: saved as safetensors plus a manifest, loaded by path, checked against the base.

An adapter directory holds `adapter_model.safetensors` (the LoRA weights only: no pickle), `adapter_config.json`
(PEFT's LoraConfig, so `peft.PeftModel.from_pretrained` reads the directory too) and `manifest.json` (format
"memorag-adapter v1": base model name and fingerprint, training data and its hash, hyper-parameters, metrics, the
adapter it started from, memorag version). Loading refuses an adapter trained on other base weights.
Not here: adapters by registry name (only paths), stacking several adapters, quantized (QLoRA) bases.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from memorag.durable import fsync_dir, refuse_foreign, sync_tree
from memorag.errors import MemoRAGError

ADAPTER_FORMAT = "memorag-adapter v1"
MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"


class AdapterError(MemoRAGError, ValueError):
    """An adapter directory is missing, damaged or of an unknown format, or peft is not installed."""


class AdapterMismatchError(AdapterError):
    """An adapter was trained on other base weights than the model it is applied to."""


def require_peft() -> Any:
    try:
        import peft
    except ImportError as exc:
        raise AdapterError("LoRA adapters need peft: run `pip install 'memorag[train]'`") from exc
    return peft


@dataclass(frozen=True)
class LoraSettings:
    """LoRA on the memory model. "all-linear": every linear layer of the decoder (not the LM head)."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"

    def peft_config(self) -> Any:
        peft = require_peft()
        targets = self.target_modules if isinstance(self.target_modules, str) else list(self.target_modules)
        return peft.LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout,
                               target_modules=targets, bias="none", task_type="CAUSAL_LM")


def add_lora(model: Any, settings: LoraSettings) -> Any:
    """Wrap `model` (modified in place: give it a copy you own) in a fresh, trainable LoRA PeftModel."""
    return require_peft().get_peft_model(model, settings.peft_config())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def adapter_fingerprint(directory: str | Path) -> str:
    """SHA-256 over the adapter's weights and config (both small): what a store records."""
    directory = Path(directory)
    digest = hashlib.sha256()
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (directory / name).is_file():
            raise AdapterError(f"{directory} is not an adapter: {name} is missing; train one with `memorag train`")
        digest.update(f"{name}:{file_sha256(directory / name)}".encode())
    return "sha256:" + digest.hexdigest()[:32]


def save_adapter(policy: Any, directory: str | Path, base_model: str, info: dict[str, Any]) -> Path:
    """Write the LoRA weights, config and manifest into `directory` (replaced whole, written beside it first).

    `info` holds what the manifest should record besides the base model: stage, data, hyper-parameters, metrics.
    """
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    from memorag import __version__
    from memorag.models import model_fingerprint

    directory = Path(directory)
    refuse_foreign(directory, is_adapter_dir, "a memorag adapter (nor an empty folder)", "give --out a new folder")
    temporary = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    state = {key: value.detach().cpu().contiguous() for key, value in get_peft_model_state_dict(policy).items()}
    save_file(state, str(temporary / WEIGHTS_FILE), metadata={"format": "pt"})
    policy.peft_config["default"].save_pretrained(str(temporary))
    manifest = {
        "format": ADAPTER_FORMAT,
        "memorag_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_model": {"name": base_model, "fingerprint": model_fingerprint(base_model)},
        **info,
        "weights": {"file": WEIGHTS_FILE, "bytes": (temporary / WEIGHTS_FILE).stat().st_size,
                    "parameters": sum(t.numel() for t in state.values())},
        "fingerprint": adapter_fingerprint(temporary),
    }
    (temporary / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    _replace_directory(temporary, directory)
    return directory


def is_adapter_dir(path: Path) -> bool:
    """An empty folder, or one `save_adapter` wrote (its manifest says the adapter format)."""
    if not path.is_dir():
        return False
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return not any(path.iterdir())
    return isinstance(manifest, dict) and manifest.get("format") == ADAPTER_FORMAT


def _replace_directory(new: Path, target: Path) -> None:
    sync_tree(new)  # durable before it becomes visible
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def read_adapter_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise AdapterError(f"{directory}: no {MANIFEST_FILE}; an adapter directory is what `memorag train sft` or "
                           "`memorag train rlgf` writes")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterError(f"{path} is unreadable ({exc}); train the adapter again") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != ADAPTER_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise AdapterError(f"{path}: format {found!r} is not {ADAPTER_FORMAT!r}; a newer memorag may read it")
    return manifest


def check_base(directory: str | Path, base_model: str) -> dict[str, Any]:
    """The manifest, once we know the adapter was trained on the weights `base_model` names."""
    from memorag.models import model_fingerprint

    manifest = read_adapter_manifest(directory)
    have = manifest.get("base_model", {})
    want = model_fingerprint(base_model)
    if have.get("fingerprint") != want:
        raise AdapterMismatchError(
            f"adapter {directory} was trained on {have.get('name')!r} ({have.get('fingerprint')}), not on "
            f"{base_model!r} ({want}): use it with that memory model, or train an adapter for this one"
        )
    return manifest


def load_trainable(model: Any, directory: str | Path, base_model: str) -> Any:
    """`model` (modified in place) wrapped with the adapter at `directory`, its LoRA weights trainable."""
    check_base(directory, base_model)
    return require_peft().PeftModel.from_pretrained(model, str(directory), is_trainable=True)


def apply_adapter(model: Any, directory: str | Path, base_model: str) -> Any:
    """`model` (modified in place) with the adapter merged into its weights: a plain model again, as fast as the
    base, that every memory kind reads without knowing about LoRA."""
    check_base(directory, base_model)
    peft = require_peft()
    merged = peft.PeftModel.from_pretrained(model, str(directory)).merge_and_unload()
    return merged.eval()


def lora_settings_dict(settings: LoraSettings) -> dict[str, Any]:
    data = asdict(settings)
    if not isinstance(settings.target_modules, str):
        data["target_modules"] = list(settings.target_modules)
    return data
