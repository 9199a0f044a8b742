"""`memorag`: the command line, a thin twin of the Python API (see docs/cli.md).

Environment variables are read in cli_options.generation_config only: MEMORAG_API_KEY (or the one --api-key-env
names) for HTTP generators.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from memorag.cli_errors import fail_cleanly
from memorag.cli_options import (
    BETA,
    COMPRESSOR,
    DEVICE,
    GENERATOR_OPTIONS,
    GENERATOR_WINDOW,
    INDEX_OPTIONS,
    MEMORY_MODEL,
    RETRIEVER,
    RETRIEVER_OVERRIDE,
    THREADS,
    WINDOW,
    generation_config,
    options,
    set_threads,
)
from memorag.config import (
    ANSWER_STYLES,
    FUSIONS,
    JUDGE_CONTEXTS,
    MEMORY_KINDS,
    GenerationConfig,
    JudgeConfig,
    MemoryConfig,
    RetrievalConfig,
)
from memorag.durable import DEFAULT_LOCK_TIMEOUT
from memorag.recall.base import STRATEGIES as RECALL_STRATEGIES
from memorag.recall.base import RecallConfig

RECALL_HELP = ("How the memory writes clues: generate (free text), copy (spans copied from the memorized text, "
               "with offsets), attention (chunks the question attends to in memory), multihop (bridges copied "
               "from retrieved evidence, re-queried), none (no clues: the question's pool, judged).")

_judge_options = options(
    click.option("--judge", "judge_model", default=JudgeConfig.model, show_default=True,
                 help="Who re-ranks memorag's candidate pool to --top-k passages by the likelihood of the question "
                      "after each: memory (the memory model), none (no judge: the union of every query's top-k, as "
                      "in the MemoRAG paper, several times the passages), or a causal LM name or path."),
    click.option("--pool", type=int, default=JudgeConfig.pool, show_default=True,
                 help="Candidates the judge reads for the question; each clue adds its top hits from both indexes."),
    click.option("--judge-context", type=click.Choice(JUDGE_CONTEXTS), default=JudgeConfig.context,
                 show_default=True, help="passage: the judge reads each passage alone; memory: after the global "
                                         "memory (kv memories; slower)."),
    click.option("--judge-prior", type=click.FloatRange(min=0), default=JudgeConfig.prior, show_default=True,
                 help="Weight of the retriever's order against the judge's: a passage ranks by its judge rank plus "
                      "this times its rank in the pool (0: the judge alone)."),
)


_generator_options = options(
    GENERATOR_OPTIONS,
    GENERATOR_WINDOW,
    click.option("--max-new-tokens", type=int, default=128, show_default=True, help="Most tokens the generator writes."),
    DEVICE,
)


def _emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else text)


def _answer_text(answer: Any) -> str:
    lines = []
    if answer.clues:
        lines.append("Clues:")
        lines += [f"  [{clue.kind}] {clue.text}" for clue in answer.clues]
    if answer.evidence:
        lines.append(f"Evidence (judged by {answer.judge}):" if answer.judge else "Evidence:")
        for number, passage in enumerate(answer.evidence, 1):  # numbered as the generator saw them: [n] cites
            snippet = " ".join(passage.text.split())[:160]
            lines.append(f"  [{number}] {passage.source} [{passage.chunk.start}:{passage.chunk.end}] {snippet}")
    lines.append(f"Answer: {answer.answer}")
    if answer.citations:
        lines.append("Sources:")
        lines += [f"  [{citation.marker}] {citation.label()}" for citation in answer.citations]
    if answer.dropped_citations:
        count = answer.dropped_citations
        lines.append(f"({count} citations to passages not given were dropped)" if count > 1
                     else "(1 citation to a passage not given was dropped)")
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="memorag")
@click.option("-v", "--verbose", is_flag=True, envvar="MEMORAG_VERBOSE",
              help="Show third-party progress bars, log lines and warnings (hidden by default; memorag's own "
                   "progress and messages always show). Also MEMORAG_VERBOSE=1.")
def cli(verbose: bool) -> None:
    """MemoRAG on your machine: memorize long texts into a compressed global memory and an index, then ask.

    \b
    memorag memorize book.txt --store stores/book
    memorag ask stores/book "How does the story end?"
    memorag --verbose ask stores/book "..."   (everything third-party libraries print, too)
    """
    from memorag.quiet import quiet_libraries

    quiet_libraries(verbose)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--store", required=True, type=click.Path(path_type=Path), help="Directory to write the store to.")
@click.option("--append", is_flag=True,
              help="Add the files to the store at --store (created when absent); concurrent appends queue on the "
                   "store's lock and none is lost.")
@click.option("--force", is_flag=True,
              help="Replace the existing store at --store (it cannot be recovered). Without --append or --force "
                   "an existing store is refused; a folder or file that is not a store is always refused.")
@click.option("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, show_default=True,
              help="Seconds to wait for another process that is writing the same store.")
@MEMORY_MODEL
@click.option("--memory-adapter", default=None, type=click.Path(exists=True, file_okay=False),
              help="A LoRA adapter directory (from `memorag train sft` or `rlgf`) merged into the memory model; "
                   "the store records it. Needs `pip install 'memorag[train]'`.")
@click.option("--memory-kind", type=click.Choice(MEMORY_KINDS), default="kv", show_default=True,
              help="kv: compressed KV cache; gist: the model writes gists of the text and memorizes those "
                   "(MemoRAG-Lite); full: plain KV cache, the text must fit the model window; none: no memory, "
                   "the generator writes clues without the text (HyDE-like baseline).")
@options(BETA, COMPRESSOR, WINDOW)
@click.option("--gist-chunk-tokens", type=int, default=512, show_default=True,
              help="Tokens of text per gist (--memory-kind gist).")
@INDEX_OPTIONS
@RETRIEVER
@click.option("--bm25-weight", type=float, default=RetrievalConfig.bm25_weight, show_default=True,
              help="Weight of the BM25 ranking against the dense one's (1) in --retriever hybrid.")
@click.option("--fusion", type=click.Choice(FUSIONS), default=RetrievalConfig.fusion, show_default=True,
              help="How question and clue hits combine: union of each query's top-k, or the top-k of a "
                   "reciprocal-rank fusion (same evidence budget as the question alone).")
@click.option("--question-weight", type=float, default=RetrievalConfig.question_weight, show_default=True,
              help="Weight of the question against each clue in rrf fusion.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the files.")
@DEVICE
@click.option("--dtype", type=click.Choice(("float32", "float16", "bfloat16")), default="float32", show_default=True,
              help="torch dtype of the memory model (bfloat16 on GPUs); the store records it, so ask reads the "
                   "memory back in it.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", default=None, metavar="[ADDRESS]",
              help="Memorize on a Ray cluster (`pip install 'memorag[ray]'`; memory kinds kv and full): its actors "
                   "read and embed the documents, this process writes the store. ADDRESS: HOST:PORT of the "
                   "cluster's head (`ray start --head`); alone, or `auto`, the cluster this machine started last "
                   "(or RAY_ADDRESS). Give it after FILES, or with a value.")
@click.option("--ray-workers", type=click.IntRange(min=1), default=None,
              help="Ray actors, one CPU each, each loading the models once (with --ray). Default: one per CPU of "
                   "the cluster.")
@click.option("--json", "as_json", is_flag=True, help="Print the timings as JSON.")
@fail_cleanly()
def memorize(files: tuple[Path, ...], store: Path, append: bool, force: bool, lock_timeout: float, memory_model: str, memory_adapter: str | None,
             memory_kind: str, beta: str | None, compressor: str, window: int, gist_chunk_tokens: int, embedder: str,
             chunk_tokens: int, chunk_overlap: int, retriever: str, bm25_weight: float, fusion: str,
             question_weight: float, encoding: str, device: str, dtype: str, ray_address: str | None, ray_workers: int | None,
             as_json: bool) -> None:
    """Read FILES (text, Markdown, HTML, PDF or DOCX files, or folders of them) into a memory and an index saved
    at --store; a folder's files that cannot be read are skipped and listed."""
    from memorag.pipeline import MemoRAG
    from memorag.store import is_store, refuse_non_store

    if append and force:
        raise click.UsageError("--append adds to the store and --force replaces it: give one of them")
    if ray_workers and ray_address is None:
        raise click.UsageError("--ray-workers sets the Ray actors of --ray: give --ray too")
    refuse_non_store(store)  # before any model loads
    if append and is_store(store):  # loaded outside the lock (models take seconds); memorize catches up under it
        rag = MemoRAG.load(store, device=device, memory_adapter=memory_adapter)
    else:
        rag = MemoRAG(
            MemoryConfig(model=memory_model, kind=memory_kind, beta=int(beta) if beta else None,
                         compressor=compressor, window=window, gist_chunk_tokens=gist_chunk_tokens, device=device,
                         dtype=dtype, adapter=memory_adapter),
            RetrievalConfig(embedder=embedder, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap,
                            retriever=retriever, bm25_weight=bm25_weight, fusion=fusion,
                            question_weight=question_weight, device=device),
        )
    ray = {"executor": "ray", "ray_address": ray_address, "workers": ray_workers} if ray_address else {}
    timings = rag.memorize(list(files), store=store, progress=not as_json, encoding=encoding, append=append,
                           overwrite=force, lock_timeout=lock_timeout, **ray)
    info = rag.memory.describe()
    data = {"store": str(store), "timings": timings, "memory": info, "chunks": len(rag.retriever.chunks),
            "skipped": [{"path": s.path, "reason": s.reason} for s in rag.skipped_inputs]}
    for skipped in [] if as_json else rag.skipped_inputs:
        click.echo(f"skipped {skipped.path}: {skipped.reason}", err=True)
    if not timings:
        _emit({**data, "unchanged": True}, as_json, f"nothing to memorize: every file is in {store} already, unchanged")
        return
    _emit(data, as_json, f"memorized {info['tokens_read']} tokens into a {info['kind']} memory of "
                         f"{info['entries']} entries (beta {info['beta']}) and {data['chunks']} chunks at {store} "
                         f"in {sum(timings.values()):.1f}s")


def _open(store: Path, generation: GenerationConfig | None, device: str = "cpu",
          retriever: str | None = None) -> Any:
    from memorag.pipeline import MemoRAG

    return MemoRAG.load(store, generation=generation, device=device, retriever=retriever)  # for this command only


@cli.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("question")
@click.option("--mode", type=click.Choice(["memorag", "rag", "memory", "full"]), default="memorag", show_default=True,
              help="memorag: the memory model's clues widen the question's candidates and its judge keeps the "
                   "top-k; rag: the question alone, top-k (no memory model); memory: the memory model answers "
                   "alone; full: the generator reads the whole text, cut in the middle.")
@click.option("--top-k", type=int, default=None,
              help="Passages handed to the generator (default: the store's, 3); with --judge none, per query.")
@click.option("--recall", "strategy", type=click.Choice(RECALL_STRATEGIES), default=RecallConfig.strategy,
              show_default=True, help=RECALL_HELP)
@_judge_options
@RETRIEVER_OVERRIDE
@click.option("--answer", "answer_style", type=click.Choice(ANSWER_STYLES), default=GenerationConfig.answer,
              show_default=True, help="generate: the generator writes the answer from the evidence; quote: the "
                                      "evidence sentence the judge finds the question most likely after, with its "
                                      "passage number (nothing is made up).")
@_generator_options
@click.option("--json", "as_json", is_flag=True,
              help="Print answer, citations, clues, evidence (with the queries that found each passage and the "
                   "judge's score) and timings as JSON.")
@fail_cleanly()
def ask(store: Path, question: str, mode: str, top_k: int | None, strategy: str, judge_model: str, pool: int,
        judge_context: str, judge_prior: float, retriever: str | None, answer_style: str, as_json: bool,
        **generator: Any) -> None:
    """Answer QUESTION about the texts memorized in STORE."""
    judge = JudgeConfig(model=judge_model, pool=pool, context=judge_context,
                        prior=judge_prior)  # checked before any model loads
    rag = _open(store, generation_config(**generator), generator["device"], retriever)
    answer = rag.ask(question, mode=mode, top_k=top_k, recall=strategy, judge=judge, answer=answer_style)
    _emit(answer.to_dict(), as_json, _answer_text(answer))


@cli.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--points", type=int, default=5, show_default=True, help="Key points the memory lists.")
@_generator_options
@click.option("--json", "as_json", is_flag=True, help="Print summary, key points and evidence as JSON.")
@fail_cleanly()
def summarize(store: Path, points: int, as_json: bool, **generator: Any) -> None:
    """Summarize STORE: key points from memory -> retrieved evidence -> a summary."""
    rag = _open(store, generation_config(**generator), generator["device"])
    answer = rag.summarize(points)
    _emit(answer.to_dict(), as_json, _answer_text(answer))


@cli.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("question")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["span", "question", "answer"]),
              help="Clue kinds to recall with --recall generate (repeatable; default: all three).")
@click.option("--recall", "strategy", type=click.Choice(RECALL_STRATEGIES), default="generate", show_default=True,
              help=RECALL_HELP)
@RETRIEVER_OVERRIDE
@click.option("--json", "as_json", is_flag=True, help="Print the clues as JSON.")
@fail_cleanly()
def recall(store: Path, question: str, kinds: tuple[str, ...], strategy: str, retriever: str | None,
           as_json: bool) -> None:
    """Print the clues the memory recalls for QUESTION (spans, surrogate questions, draft answer, ...)."""
    from dataclasses import asdict

    rag = _open(store, None, retriever=retriever)
    clues = rag.recall(question, strategy, kinds or None)  # none given: all three (RecallConfig.clue_kinds)
    data = {"question": question, "recall": strategy, "clues": [asdict(c) for c in clues]}
    _emit(data, as_json, "\n".join(f"[{c.strategy}/{c.kind}] {c.text}" for c in clues) or "(no clues)")


@cli.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@fail_cleanly()
def info(store: Path, as_json: bool) -> None:
    """Show what STORE holds: documents, memory size, settings and timings (reads no model), and what interrupted
    writes left behind (the next write removes it)."""
    from memorag.store import MANIFEST, data_dir, leftovers, read_manifest

    manifest = read_manifest(store)
    state = manifest["memory_state"]
    folder = data_dir(store, manifest)
    files = [store / MANIFEST, *folder.rglob("*")] if folder != store else list(store.iterdir())  # v1: flat
    size = sum(f.stat().st_size for f in files if f.is_file())
    left = [str(p) for p in leftovers(store)]
    retrieval = manifest["retrieval"]
    text = (f"store {store} ({size / 1e6:.1f} MB), memorag {manifest.get('memorag_version')}\n"
            f"documents: {len(manifest['documents'])}, chunks: {manifest['chunks']}\n"
            f"memory: {state['kind']} {state['model']}, {state['tokens_read']} tokens -> {state['entries']} entries "
            f"(beta {state['beta']}, {state['compressor']}, window {state['window']}), {state['bytes'] / 1e6:.1f} MB"
            f"{_segments_note(state)}\n"
            f"embedder: {retrieval['embedder']}, chunk {retrieval['chunk_tokens']} tokens, "
            f"retriever {retrieval.get('retriever', 'dense')}, fusion {retrieval.get('fusion', 'union')}")
    if left:
        text += "\nleft by interrupted writes (the next write removes them): " + ", ".join(left)
    data: dict[str, Any] = {**manifest, "bytes_on_disk": size, "leftovers": left}
    if state["kind"] == "gist":
        from dataclasses import asdict

        from memorag.memory.gist import read_gists

        gists = read_gists(folder)
        data["gists"] = [asdict(g) for g in gists]
        text += f"\ngists: {len(gists)}\n" + "\n".join(f"  [{g.source} {g.start}:{g.end}] {g.text}" for g in gists)
    _emit(data, as_json, text)


def _segments_note(state: dict[str, Any]) -> str:
    """How the memory is kept per document (absent in stores from before segments)."""
    if "segments" not in state:
        return ""
    routed = ": more than fit the window, each question reads those its hits point to" if state.get("routed") else ""
    return f", {state['segments']} document segments{routed}"


@cli.group()
def docs() -> None:
    """The documents of a store: list them, delete some, or replace one with its new version. Each document has
    its own memory segment, chunks and index entries, so no other document is memorized again (a store
    written before per-document segments is memorized again once, by its first delete)."""


@docs.command("list")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the documents as JSON.")
@fail_cleanly()
def docs_list(store: Path, as_json: bool) -> None:
    """List the documents STORE holds: source, characters, content hash (reads no model)."""
    from memorag.store import read_manifest

    rows = read_manifest(store)["documents"]
    lines = [f"{row['source']}  {row['chars']} chars  {str(row.get('sha256', ''))[:12]}".rstrip() for row in rows]
    _emit({"store": str(store), "documents": rows}, as_json, "\n".join(lines) or "no documents")


@docs.command("delete")
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("sources", nargs=-1, required=True)
@click.option("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, show_default=True,
              help="Seconds to wait for another writer of the store.")
@DEVICE
@click.option("--json", "as_json", is_flag=True, help="Print the timings as JSON.")
@fail_cleanly()
def docs_delete(store: Path, sources: tuple[str, ...], lock_timeout: float, device: str, as_json: bool) -> None:
    """Forget the documents SOURCES (as `memorag docs list` shows them) from STORE: their memory, chunks, vectors
    and BM25 postings, in one atomic write."""
    rag = _open(store, None, device)
    timings = rag.delete(list(sources), store=store, progress=not as_json, lock_timeout=lock_timeout)
    data = {"store": str(store), "deleted": list(sources), "documents": len(rag.documents), "timings": timings}
    _emit(data, as_json, f"deleted {len(sources)} document(s) from {store}: {len(rag.documents)} left "
                         f"({sum(timings.values()):.1f}s)")


@docs.command("replace")
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("source")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the file.")
@click.option("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, show_default=True,
              help="Seconds to wait for another writer of the store.")
@DEVICE
@click.option("--json", "as_json", is_flag=True, help="Print the timings as JSON.")
@fail_cleanly()
def docs_replace(store: Path, source: str, file: Path, encoding: str, lock_timeout: float, device: str,
                 as_json: bool) -> None:
    """Replace the document SOURCE of STORE with FILE (memorized in its place, in one atomic write). Memorizing a
    changed file under its old path with `memorize --append` does the same."""
    rag = _open(store, None, device)
    timings = rag.replace(source, file, store=store, progress=not as_json, encoding=encoding,
                          lock_timeout=lock_timeout)
    data = {"store": str(store), "replaced": source, "by": str(file), "documents": len(rag.documents),
            "timings": timings}
    _emit(data, as_json, f"replaced {source} by {file} in {store} ({sum(timings.values()):.1f}s)")


@cli.group()
def cache() -> None:
    """The converted-weights cache ($MEMORAG_CACHE, default ~/.cache/memorag): GGUF models are dequantized once
    and read from there on later loads."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@fail_cleanly()
def cache_info(as_json: bool) -> None:
    """List the cache's entries, their size and soundness, and what in it is not memorag's."""
    from memorag import weights_cache

    data = weights_cache.info()
    lines = [f"weights cache {data['root']}: {len(data['entries'])} entries, {data['bytes'] / 1e6:.1f} MB"]
    for entry in data["entries"]:
        state = "ok" if entry["problem"] is None else f"unsound ({entry['problem']}): rebuilt on next load"
        lines.append(f"  {entry['path']}  {entry['bytes'] / 1e6:.1f} MB  {entry['dtype']}  {entry['source']}  {state}")
    if data["leftovers"]:
        lines.append("temporary folders (a fill in progress, or left by a killed one: removed by the next fill "
                     "after an hour, or by `cache clear`): "
                     + ", ".join(data["leftovers"]))
    if data["not_ours"]:
        lines.append("not memorag's (left alone): " + ", ".join(data["not_ours"]))
    _emit(data, as_json, "\n".join(lines))


@cache.command("clear")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@fail_cleanly()
def cache_clear(as_json: bool) -> None:
    """Delete every cache entry memorag wrote (models convert again on their next load); nothing else."""
    from memorag import weights_cache

    data = weights_cache.clear()
    text = f"removed {data['removed']} entries ({data['bytes'] / 1e6:.1f} MB) from {data['root']}"
    if data["not_ours"]:
        text += "\nleft alone (not memorag's): " + ", ".join(data["not_ours"])
    _emit(data, as_json, text)


@cli.command()
@click.option("--stores", "stores_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the stores to serve, one store per subfolder (created when absent); the server keeps "
                   "its jobs in DIR/.memorag-server/.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any address but loopback (127.0.0.1, ::1, localhost) needs --api-key.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on; 0 takes a free one (the startup line names it).")
@click.option("--api-key", envvar="MEMORAG_API_KEY", show_envvar=True, default=None,
              help="Key every /v1 request must send as `Authorization: Bearer KEY` (/health and the page at / need "
                   "none). Without it the API is open to every local program: allowed on loopback only.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=50.0, show_default=True,
              help="Largest document upload (one request, JSON or multipart); larger ones get 413. Other requests "
                   "may carry 1 MiB.")
@click.option("--max-jobs", type=click.IntRange(min=1), default=16, show_default=True,
              help="Memorize and delete jobs queued or running at once; more get 429 until some finish.")
@click.option("--ask-timeout", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Seconds an ask, recall or summary may take, waiting for the models included; then 504.")
@THREADS
@DEVICE
@fail_cleanly()
def serve(stores_dir: Path, host: str, port: int, api_key: str | None, max_upload_mb: float, max_jobs: int,
          ask_timeout: float, threads: int | None, device: str) -> None:
    """Serve the stores in --stores over HTTP: upload documents (memorized in background jobs), ask with
    streamed answers and citations, and an OpenAI-compatible /v1/chat/completions (one model per store).

    \b
    memorag serve --stores stores                      (http://127.0.0.1:8000, no key: this machine only)
    memorag serve --stores stores --host 0.0.0.0 --api-key "$(openssl rand -hex 16)"
    curl -H "Authorization: Bearer KEY" http://127.0.0.1:8000/v1/stores

    The models load once and serve every store, one computation at a time. Endpoints, limits, jobs and the
    OpenAI client: docs/server.md. Needs `pip install "memorag[server]"`.
    """
    from memorag.quiet import is_verbose
    from memorag.server.settings import ServerSettings, check_exposure

    settings = ServerSettings(stores=stores_dir, host=host, port=port, api_key=api_key or None,
                              max_upload_mb=max_upload_mb, max_jobs=max_jobs, ask_timeout=ask_timeout, device=device)
    check_exposure(settings)  # before FastAPI, torch or any model loads
    try:
        from memorag.server.app import serve as run_server
    except ImportError as exc:
        raise click.ClickException(f"memorag serve needs FastAPI and uvicorn ({exc}): pip install "
                                   "'memorag[server]'") from exc
    set_threads(threads)
    run_server(settings, verbose=is_verbose())


def _register_eval() -> None:
    from memorag.eval.command import eval_command

    cli.add_command(eval_command)


_register_eval()


def _register_train() -> None:
    from memorag.training.command import train_group

    cli.add_command(train_group)


_register_train()


def main() -> None:
    """Run the command, then leave without the interpreter's teardown: freeing torch's and llama.cpp's objects at
    exit takes about a second, and every write has been fsynced and renamed into place before a command returns
    (durable.py), so nothing is lost by skipping it."""
    import os
    import sys

    try:
        cli.main(standalone_mode=True)
        code: int | str | None = 0
    except SystemExit as leaving:
        code = leaving.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
