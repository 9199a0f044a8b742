"""The converted-weights cache: filled once, refused when truncated or another's, safe with concurrent fills, and
`clear` removes only memorag's folders. Unit tests with a fake converter; the real GGUF round trip is below."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from memorag import weights_cache
from memorag.weights_cache import cached_weights, entry_key, entry_problem


class Converter:
    """Writes a weights file and a config; counts its calls."""

    def __init__(self, payload: bytes = b"w" * 5000) -> None:
        self.calls = 0
        self.payload = payload

    def __call__(self, folder: Path) -> None:
        self.calls += 1
        (folder / "model.safetensors").write_bytes(self.payload)
        (folder / "config.json").write_text('{"model_type": "fake"}')


def test_filled_once_then_read(tmp_path: Path) -> None:
    convert = Converter()
    first = cached_weights("sha256:a", "float32", "a.gguf", convert, root=tmp_path)
    second = cached_weights("sha256:a", "float32", "a.gguf", convert, root=tmp_path)
    assert first == second and convert.calls == 1
    assert (first / "model.safetensors").read_bytes() == convert.payload
    assert entry_problem(first, "sha256:a", "float32") is None
    assert not list(first.parent.glob(".tmp-*"))  # nothing half-written left


def test_another_dtype_is_another_entry(tmp_path: Path) -> None:
    convert = Converter()
    assert cached_weights("sha256:a", "float32", "a", convert, root=tmp_path) != cached_weights(
        "sha256:a", "bfloat16", "a", convert, root=tmp_path)
    assert convert.calls == 2


def test_truncated_entry_is_rebuilt_not_loaded(tmp_path: Path) -> None:
    convert = Converter()
    folder = cached_weights("sha256:a", "float32", "a", convert, root=tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a crash or a full disk cut it
    assert "truncated" in str(entry_problem(folder, "sha256:a", "float32"))
    again = cached_weights("sha256:a", "float32", "a", convert, root=tmp_path)
    assert convert.calls == 2 and (again / "model.safetensors").read_bytes() == convert.payload


def test_changed_bytes_are_caught(tmp_path: Path) -> None:
    convert = Converter()
    folder = cached_weights("sha256:a", "float32", "a", convert, root=tmp_path)
    (folder / "model.safetensors").write_bytes(b"x" * 5000)  # same size, other bytes
    assert "changed" in str(entry_problem(folder, "sha256:a", "float32"))
    cached_weights("sha256:a", "float32", "a", convert, root=tmp_path)
    assert convert.calls == 2


def test_entry_written_for_other_weights_is_refused(tmp_path: Path) -> None:
    other = cached_weights("sha256:other", "float32", "b", Converter(b"b" * 5000), root=tmp_path)
    target = weights_cache.weights_dir(tmp_path) / entry_key("sha256:a", "float32")
    other.rename(target)  # another model's entry where this model's belongs
    assert "other weights" in str(entry_problem(target, "sha256:a", "float32"))
    convert = Converter()
    folder = cached_weights("sha256:a", "float32", "a", convert, root=tmp_path)
    assert convert.calls == 1 and (folder / "model.safetensors").read_bytes() == convert.payload
    assert json.loads((folder / "entry.json").read_text())["fingerprint"] == "sha256:a"


def test_a_folder_that_is_not_ours_is_left_alone(tmp_path: Path) -> None:
    target = weights_cache.weights_dir(tmp_path) / entry_key("sha256:a", "float32")
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    assert cached_weights("sha256:a", "float32", "a", Converter(), root=tmp_path) is None  # caller loads the source
    assert (target / "notes.txt").read_text() == "mine"


def test_a_failed_conversion_leaves_nothing(tmp_path: Path) -> None:
    def broken(folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cached_weights("sha256:a", "float32", "a", broken, root=tmp_path)
    assert list(weights_cache.weights_dir(tmp_path).iterdir()) == []


def _fill(root: str, started: float) -> str:
    class Slow(Converter):
        def __call__(self, folder: Path) -> None:
            time.sleep(max(0.0, started - time.time()))  # all processes convert at the same moment
            time.sleep(0.3)
            super().__call__(folder)

    folder = cached_weights("sha256:a", "float32", "a", Slow(), root=Path(root))
    assert folder is not None
    return (folder / "model.safetensors").read_text()


def test_concurrent_fills_all_succeed(tmp_path: Path) -> None:
    start = time.time() + 1.0
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_fill, [(str(tmp_path), start)] * 4)
    assert results == ["w" * 5000] * 4
    names = [p.name for p in weights_cache.weights_dir(tmp_path).iterdir()]
    assert names == [entry_key("sha256:a", "float32")]  # one entry, no temporary folders left


def test_clear_removes_only_ours(tmp_path: Path) -> None:
    cached_weights("sha256:a", "float32", "a", Converter(), root=tmp_path)
    cached_weights("sha256:b", "float32", "b", Converter(), root=tmp_path)
    base = weights_cache.weights_dir(tmp_path)
    (base / "someone-elses").mkdir()
    (base / "someone-elses" / "data.bin").write_bytes(b"keep")
    (tmp_path / "other.txt").write_text("keep")
    listed = weights_cache.info(tmp_path)
    assert len(listed["entries"]) == 2 and listed["not_ours"] == [str(base / "someone-elses")]
    result = weights_cache.clear(tmp_path)
    assert result["removed"] == 2
    assert sorted(p.name for p in base.iterdir()) == ["someone-elses"]
    assert (base / "someone-elses" / "data.bin").read_bytes() == b"keep" and (tmp_path / "other.txt").exists()


def test_cache_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMORAG_CACHE", str(tmp_path / "c"))
    assert weights_cache.cache_root() == tmp_path / "c"
    monkeypatch.delenv("MEMORAG_CACHE")
    assert weights_cache.cache_root() == Path.home() / ".cache" / "memorag"


@pytest.mark.slow
def test_real_gguf_and_its_cached_weights_agree() -> None:
    """SmolLM2 read from the cache computes the GGUF path's logits and tokenizes alike; a fresh process sees a
    sound entry for the GGUF."""
    import subprocess
    import sys

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from memorag.models import load_causal_lm, resolve

    model, tokenizer = load_causal_lm("smollm2")  # fills the cache if it is empty, then reads it
    source = resolve("smollm2")
    direct_tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    direct = AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file).eval()
    text = "The lighthouse keeper of Kessock counted 412 ships in the winter of 1911."
    ids = direct_tokenizer(text, return_tensors="pt").input_ids
    assert tokenizer(text, return_tensors="pt").input_ids.tolist() == ids.tolist()
    assert tokenizer.chat_template == direct_tokenizer.chat_template
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, direct(ids).logits, atol=1e-5)
    listed = subprocess.run([sys.executable, "-m", "memorag.cli", "cache", "info", "--json"],
                            capture_output=True, text=True, check=True)
    entries = json.loads(listed.stdout)["entries"]
    assert any(e["source"].endswith(source.gguf_file) and e["problem"] is None for e in entries)
