"""`memorag train`: build-data, build-selfsup, sft, rlgf and pointer on the command line (docs/training.md).

Registered on the `memorag` group by cli.py. Imports nothing heavy until a command runs. The API key of
--generator-url is read from the environment by cli_options.generation_config.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from memorag.cli_errors import fail_cleanly
from memorag.cli_options import (
    BETA,
    COMPRESSOR,
    DEVICE,
    GENERATOR_OPTIONS,
    INDEX_OPTIONS,
    MEMORY_MODEL,
    MEMORY_OPTIONS,
    NO_PROGRESS,
    THREADS,
    WINDOW,
    generation_config,
    options,
    set_threads,
)

TASK_NAMES = ("span", "question", "answer")
BUILD_DATA_INTERRUPTED = "build-data keeps every finished example; run it again to resume"


def _tasks(text: str) -> tuple[str, ...]:
    tasks = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if unknown or not tasks:
        raise click.BadParameter(f"tasks are comma-separated names from {', '.join(TASK_NAMES)}")
    return tasks


@click.group("train", context_settings={"help_option_names": ["-h", "--help"]})
def train_group() -> None:
    """Train the memory model to write better clues: build-data, then sft, then rlgf (needs memorag[train]).

    \b
    memorag train build-data --data qa.jsonl --out runs/train/qa --beta 8
    memorag train build-selfsup --text book.txt --out runs/train/book   (no labels)
    memorag train sft --data runs/train/qa --out runs/adapters/sft
    memorag train rlgf --data runs/train/qa --init-adapter runs/adapters/sft --out runs/adapters/rlgf
    memorag train pointer --data runs/train/book --out runs/adapters/pointer   (for --recall attention)
    memorag memorize book.txt --store stores/book --memory-adapter runs/adapters/rlgf
    """


@train_group.command("build-data")
@click.option("--data", "source", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="LongBench-format JSON lines, or your own lines of {context, question, answers[, id, evidence]}.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Data directory to write (run the same command again to resume).")
@click.option("--held-out", type=float, default=0.5, show_default=True,
              help="Fraction of examples held out from training (by a seeded hash of their ids).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split, the --limit sample and the clue sampling.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use a seeded sample of this many examples.")
@click.option("--candidates", type=click.IntRange(min=2), default=4, show_default=True,
              help="Clue outputs sampled per question and task.")
@click.option("--temperature", type=float, default=0.8, show_default=True, help="Sampling temperature of clues.")
@click.option("--tasks", default="span,question,answer", show_default=True, help="Clue tasks to sample.")
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True, help="Chunks retrieved per query.")
@click.option("--answer-tokens", type=click.IntRange(min=1), default=32, show_default=True,
              help="Tokens the generator may write per answer.")
@click.option("--max-context-chars", type=click.IntRange(min=1), default=None,
              help="Keep only the first N characters of each context (quick runs).")
@MEMORY_MODEL
@click.option("--memory-adapter", default=None, type=click.Path(exists=True, file_okay=False),
              help="Sample clues from this adapter (e.g. after SFT, for a second round of RLGF data).")
@options(BETA, COMPRESSOR, WINDOW)
@click.option("--max-clue-tokens", type=click.IntRange(min=1), default=128, show_default=True,
              help="Most tokens of one sampled clue output.")
@options(INDEX_OPTIONS, GENERATOR_OPTIONS, DEVICE, THREADS, NO_PROGRESS)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@fail_cleanly(BUILD_DATA_INTERRUPTED)
def build_data_command(source: Path, out: Path, held_out: float, seed: int, limit: int | None, candidates: int,
                       temperature: float, tasks: str, top_k: int, answer_tokens: int, max_context_chars: int | None,
                       threads: int | None, no_progress: bool, as_json: bool, **models: Any) -> None:
    """Sample clue sets for the train split of --data, score each by its answer's F1, write SFT and RLGF data."""
    from memorag.training.build import BuildSettings, build_data
    from memorag.training.data import read_qa_examples

    set_threads(threads)
    settings = BuildSettings(candidates=candidates, temperature=temperature, tasks=_tasks(tasks), top_k=top_k,
                             answer_tokens=answer_tokens, held_out=held_out, seed=seed,
                             max_context_chars=max_context_chars)
    examples = read_qa_examples(source, limit, seed)
    memory, retrieval, generation = _configs(top_k=top_k, **models)
    parts = _build_parts(memory, retrieval, generation)
    summary = build_data(source, examples, out, parts, settings, memory, retrieval, generation, not no_progress)
    click.echo(json.dumps(summary, indent=1) if as_json else
               f"{summary['examples']} examples ({summary['errors']} errors): {summary['records']} records, "
               f"{summary['pairs']} preference pairs, {summary['sft_targets']} SFT targets in {out}")


@train_group.command("split")
@click.option("--data", "source", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A QA file (LongBench format, or lines with context, question, answers).")
@click.option("--held-out", type=float, default=0.5, show_default=True, help="Fraction of the contexts held out.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="A seeded sample of this many examples first (as build-data's --limit).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample and of the split.")
@click.option("--side", type=click.Choice(["held-out", "train"]), default="held-out", show_default=True,
              help="Which side's ids to print.")
@click.option("--json", "as_json", is_flag=True, help="Print both sides as JSON instead.")
@fail_cleanly()
def split_command(source: Path, held_out: float, limit: int | None, seed: int, side: str, as_json: bool) -> None:
    """Print the ids of one side of the train/held-out split that build-data and build-selfsup use, comma-separated
    for `memorag eval --ids` (questions about one context stay on one side): choose settings on the train side,
    report on the held-out side."""
    from memorag.training.data import read_qa_examples, split_examples

    train, held = split_examples(read_qa_examples(source, limit, seed), held_out, seed)
    if as_json:
        click.echo(json.dumps({"seed": seed, "held_out_fraction": held_out, "train": train, "held_out": held}))
    else:
        click.echo(",".join(held if side == "held-out" else train))


@train_group.command("build-selfsup")
@click.option("--text", "texts", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="A UTF-8 text file or a folder of them (repeatable); long texts are cut into contexts.")
@click.option("--data", "source", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A QA file (as for build-data): the contexts of its train side are used, its questions not.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Data directory to write (for `memorag train sft --data OUT --tasks span`).")
@click.option("--held-out", type=float, default=0.5, show_default=True,
              help="With --data: the fraction held out (the same split as build-data with the same options).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="With --data: a seeded sample of this many examples (as build-data's --limit).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and of the targets.")
@click.option("--per-context", type=click.IntRange(min=1), default=4, show_default=True,
              help="Target sentences per context.")
@click.option("--context-chars", type=click.IntRange(min=500), default=12_000, show_default=True,
              help="Contexts are cut from the texts at sentence ends, about this many characters each.")
@MEMORY_OPTIONS
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@fail_cleanly()
def build_selfsup_command(texts: tuple[Path, ...], source: Path | None, out: Path, held_out: float,
                          limit: int | None, seed: int, per_context: int, context_chars: int, memory_model: str,
                          beta: str | None, compressor: str, window: int, as_json: bool) -> None:
    """Self-supervised span-recall data from any text: cloze and templated questions about its sentences, the
    sentence the target (no labels, no model). Train with `memorag train sft --data OUT --tasks span`."""
    from memorag.config import MemoryConfig
    from memorag.training.selfsup import SelfSupSettings, build_selfsup, contexts_from_qa, contexts_from_texts

    if not texts and source is None:
        raise click.UsageError("give --text (files or folders) and/or --data (a QA file)")
    settings = SelfSupSettings(per_context=per_context, context_chars=context_chars, seed=seed)
    contexts = contexts_from_texts(list(texts), context_chars) if texts else []
    split: dict[str, Any] = {"seed": seed, "train": [], "held_out": []}
    if source is not None:
        qa_contexts, split = contexts_from_qa(source, limit, held_out, seed, context_chars)
        contexts += qa_contexts
    memory = MemoryConfig(model=memory_model, beta=int(beta) if beta else None, compressor=compressor, window=window)
    summary = build_selfsup(out, contexts, [*texts, *([source] if source else [])], split, settings, memory)
    click.echo(json.dumps(summary, indent=1) if as_json else
               f"{summary['sft_targets']} targets ({summary['cloze']} cloze) from {summary['contexts']} contexts "
               f"in {out}; train: memorag train sft --data {out} --tasks span --out ADAPTER")


def _configs(memory_model: str, memory_adapter: str | None, beta: str | None, compressor: str, window: int,
             max_clue_tokens: int, embedder: str, chunk_tokens: int, chunk_overlap: int, generator: str,
             generator_url: str | None, api_key_env: str, device: str, top_k: int,
             generator_backend: str = "auto") -> tuple[Any, Any, Any]:
    from memorag.config import MemoryConfig, RetrievalConfig

    memory = MemoryConfig(model=memory_model, beta=int(beta) if beta else None, compressor=compressor,
                          window=window, max_clue_tokens=max_clue_tokens, device=device, adapter=memory_adapter)
    retrieval = RetrievalConfig(embedder=embedder, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap,
                                top_k=top_k, device=device)
    return memory, retrieval, generation_config(generator, generator_url, api_key_env, device,
                                                generator_backend=generator_backend)


def _build_parts(memory: Any, retrieval: Any, generation: Any) -> Any:
    from memorag.generation import from_config
    from memorag.models import load_adapted_lm, load_causal_lm
    from memorag.retrieval import make_embedder
    from memorag.training.build import BuildParts

    if memory.adapter:
        model, tokenizer = load_adapted_lm(memory.model, memory.adapter, memory.device, memory.dtype)
    else:
        model, tokenizer = load_causal_lm(memory.model, memory.device, memory.dtype)
    embedder = make_embedder(retrieval.embedder, retrieval.device, retrieval.batch_size)
    return BuildParts(model, tokenizer, embedder, from_config(generation))


def _training_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--data", "data_dir", required=True,
                     type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="A data directory from `memorag train build-data`."),
        click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
                     help="Adapter directory to write (replaced if it exists)."),
        click.option("--init-adapter", default=None, type=click.Path(exists=True, file_okay=False),
                     help="Start from this adapter (e.g. the SFT one for RLGF) instead of a fresh LoRA."),
        click.option("--epochs", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Passes over the training contexts."),
        click.option("--max-steps", type=click.IntRange(min=1), default=None,
                     help="Stop after this many steps (one context each)."),
        click.option("--rank", type=click.IntRange(min=1), default=8, show_default=True,
                     help="LoRA rank of a fresh adapter (an --init-adapter keeps its own)."),
        click.option("--alpha", type=click.IntRange(min=1), default=16, show_default=True,
                     help="LoRA alpha of a fresh adapter."),
        click.option("--max-target-tokens", type=click.IntRange(min=1), default=128, show_default=True,
                     help="Target tokens kept per example."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the step order."),
        DEVICE,
        THREADS,
        NO_PROGRESS,
        click.option("--json", "as_json", is_flag=True, help="Print the adapter's manifest as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@train_group.command("sft")
@_training_options
@click.option("--tasks", default="span,answer", show_default=True,
              help="Tasks whose gold targets are trained (span: answer-bearing sentences; answer: the gold answer).")
@click.option("--chosen-min-f1", type=float, default=None,
              help="Also train on chosen sampled clues whose answer reached this F1 (rejection sampling).")
@click.option("--lr", type=float, default=2e-4, show_default=True, help="AdamW learning rate.")
@fail_cleanly(BUILD_DATA_INTERRUPTED)
def sft_command(tasks: str, chosen_min_f1: float | None, lr: float, **options: Any) -> None:
    """Supervised fine-tuning (LoRA) of the memory model on gold clue targets, read through its memory."""
    from memorag.training.data import sft_examples
    from memorag.training.sft import train_sft

    def train(policy: Any, tokenizer: Any, memory: Any, contexts: Any, train_options: Any, frame: Any) -> Any:
        examples = sft_examples(options["data_dir"], frame, _tasks(tasks), chosen_min_f1)
        if not examples:
            raise ValueError(f"no SFT targets for tasks {tasks} in {options['data_dir']}")
        return train_sft(policy, tokenizer, memory, contexts, examples, train_options, not options["no_progress"])

    _run_stage("sft", train, {"tasks": tasks, "chosen_min_f1": chosen_min_f1}, lr, **options)


@train_group.command("rlgf")
@_training_options
@click.option("--tasks", default="span,question,answer", show_default=True, help="Tasks whose pairs are trained.")
@click.option("--dpo-beta", type=float, default=0.1, show_default=True, help="DPO's beta (strength of the KL anchor).")
@click.option("--sft-weight", type=float, default=0.0, show_default=True,
              help="Weight of the chosen clue's NLL added to the DPO loss.")
@click.option("--rank-by", type=click.Choice(["f1", "evidence"]), default="f1", show_default=True,
              help="Which candidate is chosen/rejected: by answer F1 (then evidence), or by whether the evidence "
                   "holds a gold answer (then F1).")
@click.option("--lr", type=float, default=5e-5, show_default=True, help="AdamW learning rate.")
@fail_cleanly(BUILD_DATA_INTERRUPTED)
def rlgf_command(tasks: str, dpo_beta: float, sft_weight: float, rank_by: str, lr: float, **options: Any) -> None:
    """RLGF: DPO on chosen/rejected clue sets ranked by answer F1; the reference is the adapter-free model."""
    from memorag.training.data import preference_pairs
    from memorag.training.rlgf import train_rlgf

    def train(policy: Any, tokenizer: Any, memory: Any, contexts: Any, train_options: Any, frame: Any) -> Any:
        pairs = preference_pairs(options["data_dir"], frame, _tasks(tasks), rank_by)
        return train_rlgf(policy, tokenizer, memory, contexts, pairs, train_options, dpo_beta, sft_weight,
                          not options["no_progress"])

    settings = {"tasks": tasks, "dpo_beta": dpo_beta, "sft_weight": sft_weight, "rank_by": rank_by}
    _run_stage("rlgf", train, settings, lr, **options)


@train_group.command("pointer")
@_training_options
@click.option("--tasks", default="span", show_default=True,
              help="SFT rows whose targets (sentences of the context) the question's attention should land on.")
@click.option("--lr", type=float, default=2e-4, show_default=True, help="AdamW learning rate.")
@fail_cleanly(BUILD_DATA_INTERRUPTED)
def pointer_command(tasks: str, lr: float, **options: Any) -> None:
    """Train the question's attention over the memory to land on the target sentence (for --recall attention)."""
    from memorag.training.pointer import pointer_examples, train_pointer

    def train(policy: Any, tokenizer: Any, memory: Any, contexts: Any, train_options: Any, frame: Any) -> Any:
        groups = pointer_examples(options["data_dir"], tokenizer, frame, contexts, _tasks(tasks))
        return train_pointer(policy, tokenizer, memory, contexts, groups, train_options, not options["no_progress"])

    _run_stage("pointer", train, {"tasks": tasks}, lr, **options)


def _run_stage(stage: str, train: Callable[..., Any], stage_settings: dict[str, Any], lr: float, data_dir: Path,
               out: Path, init_adapter: str | None, epochs: int, max_steps: int | None, rank: int, alpha: int,
               max_target_tokens: int, seed: int, device: str, threads: int | None, no_progress: bool,
               as_json: bool) -> None:
    """Load the base model (an own copy), add or load the LoRA, train, save the adapter with its manifest."""
    from dataclasses import asdict, replace

    from memorag.config import MemoryConfig, config_from_dict
    from memorag.memory.prompts import prompt_frame
    from memorag.models import load_causal_lm
    from memorag.training import adapters, data
    from memorag.training.loop import TrainOptions

    set_threads(threads)
    adapters.require_peft()
    build = data.read_build(data_dir)
    memory = replace(config_from_dict(MemoryConfig, build["settings"]["memory"]), device=device, adapter=None)
    options = TrainOptions(epochs=epochs, max_steps=max_steps, learning_rate=lr, max_target_tokens=max_target_tokens,
                           seed=seed)
    model, tokenizer = load_causal_lm.__wrapped__(memory.model, memory.device, memory.dtype)  # ours to modify
    lora = adapters.LoraSettings(rank=rank, alpha=alpha)
    policy = (adapters.load_trainable(model, init_adapter, memory.model) if init_adapter
              else adapters.add_lora(model, lora))
    metrics = train(policy, tokenizer, memory, data.read_contexts(data_dir), options, prompt_frame(tokenizer))
    config = policy.peft_config["default"]
    info = {
        "stage": stage,
        "parent": {"path": init_adapter, "fingerprint": adapters.adapter_fingerprint(init_adapter)}
        if init_adapter else None,
        "data": {"dir": str(data_dir), "sha256": data.data_hash(data_dir), "source": build["source"],
                 "train_ids": build["split"]["train"], "held_out_ids": build["split"]["held_out"]},
        "memory": build["settings"]["memory"],
        "hyperparameters": {**asdict(options), **stage_settings, "lora_rank": config.r, "lora_alpha": config.lora_alpha,
                            "lora_dropout": config.lora_dropout, "target_modules": sorted(config.target_modules)
                            if not isinstance(config.target_modules, str) else config.target_modules},
        "metrics": metrics,
    }
    adapters.save_adapter(policy, out, memory.model, info)
    manifest = adapters.read_adapter_manifest(out)
    click.echo(json.dumps(manifest, indent=1) if as_json else
               f"{stage}: {metrics['steps']} steps in {metrics['seconds']}s, loss {metrics.get('loss_first')} -> "
               f"{metrics.get('loss_last')}; adapter at {out} ({manifest['weights']['bytes'] / 1e6:.1f} MB)")
