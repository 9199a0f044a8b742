"""SFT on a tiny random Llama: a few steps change the LoRA weights and lower the loss; the saved adapter reloads to
identical logits, merges into a plain model, and is refused for another base model or an unknown format."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from memorag.memory.prompts import prompt_frame
from memorag.training.adapters import (
    ADAPTER_FORMAT,
    MANIFEST_FILE,
    WEIGHTS_FILE,
    AdapterError,
    AdapterMismatchError,
    LoraSettings,
    adapter_fingerprint,
    add_lora,
    apply_adapter,
    load_trainable,
    read_adapter_manifest,
    save_adapter,
)
from memorag.training.loop import TrainOptions, step_order
from memorag.training.memory_forward import MemoryExample
from memorag.training.sft import train_sft

CONTEXTS = {
    "a": "The harbour master keeps the tide ledger in a green iron chest near the north quay. " * 2,
    "b": "Orla the ferry pilot was born in Quillon and sails the night crossing every Tuesday. " * 2,
}


def examples(tokenizer) -> list[MemoryExample]:
    frame = prompt_frame(tokenizer)
    return [
        MemoryExample("a", frame.task_suffix("span", question="Where is the tide ledger?"), "a green iron chest"),
        MemoryExample("a", frame.task_suffix("answer", question="Who keeps it?"), "the harbour master"),
        MemoryExample("b", frame.task_suffix("answer", question="Where was Orla born?"), "Quillon"),
    ]


def lora_state(policy) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in policy.named_parameters() if "lora_" in name}


@pytest.fixture
def trained(tiny, tiny_memory):
    model, tokenizer = tiny
    policy = add_lora(model, LoraSettings(rank=4, alpha=8, dropout=0.0))
    before = lora_state(policy)
    metrics = train_sft(policy, tokenizer, tiny_memory, CONTEXTS, examples(tokenizer),
                        TrainOptions(epochs=4, learning_rate=5e-3, seed=1))
    return policy, tokenizer, before, metrics


def test_a_few_sft_steps_change_the_adapter_and_lower_the_loss(trained):
    policy, _, before, metrics = trained
    after = lora_state(policy)
    assert metrics["steps"] == 8 and metrics["contexts"] == 2 and metrics["examples"] == 3
    assert any(not torch.equal(before[name], after[name]) for name in before)
    assert metrics["loss_last"] < metrics["loss_first"]
    base_weights = [p for name, p in policy.named_parameters() if "lora_" not in name]
    assert not any(p.requires_grad for p in base_weights)  # only LoRA weights train


def test_step_order_is_seeded_per_epoch_and_cut_at_max_steps():
    options = TrainOptions(epochs=3, max_steps=5, seed=7)
    order = step_order(["a", "b", "c"], options)
    assert len(order) == 5 and order == step_order(["a", "b", "c"], options)
    assert sorted(order[:3]) == ["a", "b", "c"]


def logits_of(model, ids=(5, 6, 7, 8, 9, 10)) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([list(ids)])).logits[0]


def test_saved_adapter_reloads_to_identical_logits(trained, tiny_llama, tmp_path):
    policy, _, _, metrics = trained
    out = save_adapter(policy, tmp_path / "adapter", "tiny-llama", {"stage": "sft", "metrics": metrics})
    manifest = read_adapter_manifest(out)
    assert manifest["format"] == ADAPTER_FORMAT and manifest["base_model"] == {
        "name": "tiny-llama", "fingerprint": "id:tiny-llama"}
    assert manifest["fingerprint"] == adapter_fingerprint(out) and manifest["metrics"]["steps"] == 8
    assert sorted(p.name for p in out.iterdir()) == sorted(["adapter_config.json", MANIFEST_FILE, WEIGHTS_FILE])
    expected = logits_of(policy)
    reloaded = load_trainable(copy.deepcopy(tiny_llama[0]), out, "tiny-llama")
    assert torch.equal(logits_of(reloaded), expected)
    merged = apply_adapter(copy.deepcopy(tiny_llama[0]), out, "tiny-llama")
    assert not any("lora_" in name for name, _ in merged.named_parameters())  # a plain model again
    assert torch.allclose(logits_of(merged), expected, atol=1e-5)
    assert not torch.allclose(logits_of(tiny_llama[0]), expected, atol=1e-4)  # and not the base


def test_an_adapter_for_another_base_model_or_format_is_refused(trained, tiny_llama, tmp_path):
    policy = trained[0]
    out = save_adapter(policy, tmp_path / "adapter", "tiny-llama", {"stage": "sft"})
    with pytest.raises(AdapterMismatchError, match="trained on 'tiny-llama'"):
        apply_adapter(copy.deepcopy(tiny_llama[0]), out, "other-llama")
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    (out / MANIFEST_FILE).write_text(json.dumps({**manifest, "format": "memorag-adapter v9"}))
    with pytest.raises(AdapterError, match="v9"):
        load_trainable(copy.deepcopy(tiny_llama[0]), out, "tiny-llama")
    with pytest.raises(AdapterError, match="no manifest.json"):
        read_adapter_manifest(tmp_path)


def test_saving_again_replaces_the_adapter_whole(trained, tmp_path):
    policy = trained[0]
    out = save_adapter(policy, tmp_path / "adapter", "tiny-llama", {"stage": "sft"})
    (out / "stray.txt").write_text("left over")
    save_adapter(policy, out, "tiny-llama", {"stage": "rlgf"})
    assert not (out / "stray.txt").exists() and read_adapter_manifest(out)["stage"] == "rlgf"
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # no temporary directories left


def test_a_folder_that_is_not_an_adapter_is_refused_untouched(trained, tmp_path):
    from memorag.errors import NotOursError

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    with pytest.raises(NotOursError, match="not a memorag adapter"):
        save_adapter(trained[0], folder, "tiny-llama", {"stage": "sft"})
    assert [p.name for p in folder.iterdir()] == ["thesis.txt"] and sorted(p.name for p in tmp_path.iterdir()) == [
        "mine"]


def test_training_data_is_never_written_into_a_folder_that_is_not_a_build(tmp_path):
    from memorag.errors import NotOursError
    from memorag.training.build import prepare

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "held_out_ids.txt").write_text("the user's own list")
    with pytest.raises(NotOursError, match="not a training data folder"):
        prepare(folder, {}, ["span"])
    assert (folder / "held_out_ids.txt").read_text() == "the user's own list" and len(list(folder.iterdir())) == 1
