"""`memorag eval`: score methods on LongBench-format data or on a folder of your own documents (docs/eval.md).

Registered on the `memorag` group by cli.py. Imports nothing heavy until it runs: `memorag --help` stays fast.
Environment variables are read here only (the API key of --generator-url).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from memorag.cli_errors import fail_cleanly
from memorag.cli_options import (
    DEVICE,
    GENERATOR_OPTIONS,
    INDEX_OPTIONS,
    MEMORY_MODEL,
    NO_PROGRESS,
    THREADS,
    generation_config,
    options,
    set_threads,
)
from memorag.config import FUSIONS, MemoryConfig, RetrievalConfig
from memorag.eval.metrics import METRICS

DEFAULT_METHODS = "full,rag,hyde,memorag"


def _default_out(data: Path | None, corpus: Path | None) -> Path:
    source = data if data is not None else corpus
    name = Path(str(source)).resolve().name if source is not None else "run"
    return Path("runs") / "eval" / (Path(name).stem or "run")


def _ids(values: tuple[str, ...]) -> list[str] | None:
    ids = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return ids or None


@click.command("eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    help="A LongBench-format .jsonl file, or a folder of them (each file is a task named by its stem).",
)
@click.option(
    "--corpus",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of your own UTF-8 documents (use with --questions).",
)
@click.option(
    "--questions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON lines of {question, answers, doc?} about --corpus.",
)
@click.option(
    "--methods",
    default=DEFAULT_METHODS,
    show_default=True,
    help="Comma-separated methods: full, rag, hyde, memorag, and the controls random and recency; memorag "
    "takes memory settings and a recall strategy, e.g. memorag:kind=gist, memorag:compressor=mean,beta=16 or "
    "memorag:recall=copy.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (predictions.jsonl, summary.json, table.md, stores/). Default: "
    "runs/eval/<name of --data or --corpus>. Run the same command again to resume.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Examples per task, a seeded sample.")
@click.option("--ids", multiple=True, help="Only these example ids (comma-separated or repeated).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --limit sample.")
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Chunks retrieved per query, for every method.",
)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Tokens the generator may write, for every method. Default: LongBench's budget for its QA tasks "
    "(32 for hotpotqa, 2wikimqa, musique), else 64 for QA and 256 for summaries.",
)
@click.option(
    "--retrieval-only",
    is_flag=True,
    help="Write no answers: report answer R@k and evidence (no F1) in about half the time. The generator still "
    "writes HyDE's passage.",
)
@click.option(
    "--max-context-chars",
    type=click.IntRange(min=1),
    default=None,
    help="Keep only the first N characters of each context (quick trials and tests).",
)
@click.option(
    "--metric",
    type=click.Choice(sorted(METRICS)),
    default=None,
    help="Score every task with this metric. Default: by task name (LongBench's choice).",
)
@options(MEMORY_MODEL, INDEX_OPTIONS)
@click.option(
    "--fusion",
    type=click.Choice(FUSIONS),
    default=RetrievalConfig.fusion,
    show_default=True,
    help="How question and clue (or hypothesis) hits combine: union of each query's top-k, or rrf.",
)
@GENERATOR_OPTIONS
@click.option(
    "--generator-window",
    type=int,
    default=None,
    help="Context window of the generator in tokens (the full method cuts the text to it).",
)
@options(DEVICE, THREADS, NO_PROGRESS)
@click.option("--json", "as_json", is_flag=True, help="Print summary.json instead of the Markdown table.")
@fail_cleanly("every answer written so far is kept; run the same command to resume")
def eval_command(
    data: Path | None,
    corpus: Path | None,
    questions: Path | None,
    methods: str,
    limit: int | None,
    ids: tuple[str, ...],
    seed: int,
    threads: int | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Score methods (full context, RAG, HyDE, MemoRAG and memory variants) on long-context QA and summaries.

    \b
    memorag eval --data ../shared/data/cacheblend --methods full,rag,hyde,memorag --limit 20
    memorag eval --corpus docs/ --questions questions.jsonl --methods rag,memorag
    """
    from memorag.eval.methods import parse_methods
    from memorag.eval.runner import TABLE, load_examples, run_eval

    specs = parse_methods(methods)
    examples = load_examples(data, corpus, questions, limit, _ids(ids), seed)
    settings = _settings(data, corpus, **options)
    set_threads(threads)
    click.echo(f"{len(examples)} examples x {len(specs)} methods -> {settings.out}", err=True)
    summary = run_eval(examples, specs, settings)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        click.echo(Path(settings.out, TABLE).read_text(encoding="utf-8"), nl=False)


def _settings(
    data: Path | None,
    corpus: Path | None,
    out: Path | None,
    device: str,
    memory_model: str,
    embedder: str,
    chunk_tokens: int,
    chunk_overlap: int,
    fusion: str,
    top_k: int,
    max_new_tokens: int | None,
    retrieval_only: bool,
    max_context_chars: int | None,
    metric: str | None,
    no_progress: bool,
    **generator: Any,
) -> Any:
    """The run's EvalSettings from the command's options."""
    from memorag.eval.runner import EvalSettings

    retrieval = RetrievalConfig(
        embedder=embedder,
        chunk_tokens=chunk_tokens,
        chunk_overlap=chunk_overlap,
        fusion=fusion,
        top_k=top_k,
        device=device,
    )
    return EvalSettings(
        out=out or _default_out(data, corpus),
        memory=MemoryConfig(model=memory_model, device=device),
        retrieval=retrieval,
        generation=generation_config(device=device, **generator),
        top_k=top_k,
        max_new_tokens=max_new_tokens,
        max_context_chars=max_context_chars,
        metric=metric,
        answers=not retrieval_only,
        progress=not no_progress,
    )
