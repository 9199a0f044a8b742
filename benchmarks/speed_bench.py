"""Everyday speed on the embedded models, each figure beside its raw operation measured in the same run.

    .venv/bin/python benchmarks/speed_bench.py --tokens 30000 --write docs/benchmarks.md

  load, first     a fresh process with an empty weights cache: `load_causal_lm("smollm2")` (the GGUF converted
                  and written to the cache) beside transformers loading the GGUF itself
  load, cached    a fresh process, import included: `MemoRAG.load(store)` (the memory is read on first use)
                  beside reading the store's JSON and FAISS files without memorag; then the memory's first use
                  (memory + SmolLM2) beside importing torch + transformers and loading the cached SmolLM2
                  folder with transformers alone
  memorize        memory prefill tokens/s beside a raw windowed prefill of the same model on the same text (each
                  window alone, no query capture, no compression), and beside the same windows each read after a
                  prefix as long as the memory was then (the attention work memorize cannot avoid: a window
                  attends to the memory); the whole memorize (embedding, index, save); and the ratio to windows
                  alone that a count of the body's multiply-adds predicts (`--memorize-betas 8 16 32`: this
                  step alone at each beta)
  ask             in one process, per stage, mean over the questions, for `rag` and `memorag` (the defaults)
  CLI             one `memorag ask STORE QUESTION` per mode, wall clock from spawn to exit, median of --repeats

Threads: torch uses what it finds (set OMP_NUM_THREADS to pin). The text is the Python Language Reference that
ships with CPython. Prints one JSON object; --write puts the table into docs/benchmarks.md (section `speed`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from heldout_report import emit
from pipeline_bench import QUESTIONS, reference_text

CLI = [sys.executable, "-m", "memorag.cli"]


def _child(step: str, *args: str, env: dict[str, str] | None = None) -> dict:
    """Run `step` in a fresh process; its last stdout line is JSON; wall_s is spawn to exit."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", step, *args], capture_output=True, text=True, check=False,
                         env={**os.environ, **(env or {})})
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": round(wall, 2)}


# ----- children: each prints one JSON line -------------------------------------------------------------------
def child_load_first() -> dict:
    started = time.perf_counter()
    from memorag.models import load_causal_lm

    load_causal_lm("smollm2")
    return {"s": round(time.perf_counter() - started, 2)}


def child_raw_gguf() -> dict:
    started = time.perf_counter()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from memorag.models import resolve

    hf_logging.disable_progress_bar()
    source = resolve("smollm2")
    AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file)
    return {"s": round(time.perf_counter() - started, 2)}


def child_load_store(store: str) -> dict:
    started = time.perf_counter()
    from memorag import MemoRAG

    rag = MemoRAG.load(store)
    loaded = time.perf_counter() - started
    torch_imported = "torch" in sys.modules
    rag.memory  # noqa: B018 - the memory and its model, read on first use (a memorag question)
    return {"s": round(loaded, 2), "store_only_s": round(rag.timings["load"], 2), "torch_at_load": torch_imported,
            "with_memory_s": round(time.perf_counter() - started, 2)}


def child_raw_store_files(store: str) -> dict:
    """What load cannot skip, without memorag: the manifest, documents and chunks (JSON) and the FAISS index."""
    started = time.perf_counter()
    import faiss

    root = Path(store)
    folder = root / json.loads((root / "manifest.json").read_text(encoding="utf-8"))["data"]
    for name in ("documents.json", "chunks.json"):
        json.loads((folder / name).read_text(encoding="utf-8"))
    faiss.read_index(str(folder / "index.faiss"))
    return {"s": round(time.perf_counter() - started, 2)}


def child_raw_cached(folder: str) -> dict:
    started = time.perf_counter()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    AutoTokenizer.from_pretrained(folder)
    AutoModelForCausalLM.from_pretrained(folder)
    return {"s": round(time.perf_counter() - started, 2)}


def body_macs(config: Any, windows: list[tuple[int, int]]) -> float:
    """Multiply-accumulates of the model body reading `windows`, each (prefix length, window length): the linear
    layers per token (q, k, v, o, the gated MLP) and the attention scores and sums of each query over the prefix
    and the causal part of its own window. Embedding lookups, norms and rotations are left out (small)."""
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", heads)
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    linear = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2 + 3 * hidden * inner
    total = 0.0
    for prefix, n in windows:
        keys_read = n * prefix + n * (n + 1) / 2  # every query: the whole prefix, then its window up to itself
        total += layers * (n * linear + 2 * heads * head_dim * keys_read)
    return total


def child_memorize(text_file: str, store: str, beta: str = "auto") -> dict:
    import torch

    from memorag import MemoRAG
    from memorag.config import MemoryConfig
    from memorag.models import load_causal_lm

    model, tokenizer = load_causal_lm("smollm2")
    window = MemoryConfig().window
    ids = tokenizer(Path(text_file).read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"]
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(ids), window):
            model.model(input_ids=torch.tensor([ids[start : start + window]]), use_cache=True)
    raw_s = time.perf_counter() - started
    rag = MemoRAG(memory=MemoryConfig(beta=None if beta == "auto" else int(beta)))
    started = time.perf_counter()
    timings = rag.memorize([Path(text_file)], store=store)
    total = time.perf_counter() - started
    described = rag.memory.describe()
    tokens, entries = described["tokens_read"], described["entries"]
    # the same windows, each after a prefix as long as the memory it read after (no capture, no compression)
    from transformers import DynamicCache

    from memorag.models import cache_argument

    config = model.config
    heads = getattr(config, "num_key_value_heads", config.num_attention_heads)
    head_dim = getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
    windows = range(0, len(ids), window)
    alone = [(0, len(ids[start : start + window])) for start in windows]
    after = [(entries * index // len(windows), n) for index, (_, n) in enumerate(alone)]  # (prefix, window) lengths
    started = time.perf_counter()
    with torch.no_grad():
        for start, (length, _) in zip(windows, after):
            layers = [(torch.zeros(1, heads, length, head_dim), torch.zeros(1, heads, length, head_dim))
                      for _ in range(config.num_hidden_layers)]
            chunk = ids[start : start + window]
            model.model(input_ids=torch.tensor([chunk]), position_ids=torch.arange(length, length + len(chunk))[None],
                        **cache_argument(model.model, DynamicCache(ddp_cache_data=layers)), use_cache=True)
    prefix_s = time.perf_counter() - started
    return {"flops_ratio": round(body_macs(config, alone) / body_macs(config, after), 3), "entries": entries,
            "tokens": tokens, "raw_prefill_s": round(raw_s, 2), "raw_tok_s": round(len(ids) / raw_s, 1),
            "prefix_prefill_s": round(prefix_s, 2), "prefix_tok_s": round(len(ids) / prefix_s, 1),
            "prefill_s": round(timings["memory_prefill"], 2), "prefill_tok_s": round(tokens / timings["memory_prefill"], 1),
            "memorize_s": round(total, 2), "split_s": {k: round(v, 2) for k, v in timings.items()},
            "beta": rag.memory.describe()["beta"]}


def child_ask(store: str) -> dict:
    from memorag import MemoRAG

    rag = MemoRAG.load(store)
    rag.ask(QUESTIONS[0], mode="rag")  # first call pays the generator's and embedder's warm-up
    result = {}
    for mode in ("rag", "memorag"):
        runs = [rag.ask(q, mode=mode).timings for q in QUESTIONS]
        stages = sorted({k for r in runs for k in r})
        result[mode] = {k: round(statistics.mean(r.get(k, 0.0) for r in runs), 2) for k in stages}
        result[mode]["total"] = round(statistics.mean(sum(r.values()) for r in runs), 2)
    return result


CHILDREN = {"load-first": child_load_first, "raw-gguf": child_raw_gguf, "load-store": child_load_store,
            "raw-cached": child_raw_cached, "raw-store-files": child_raw_store_files, "memorize": child_memorize,
            "ask": child_ask}


# ----- the run ------------------------------------------------------------------------------------------------
def cli_wall(store: Path, mode: str, repeats: int) -> dict:
    walls, stderr = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        out = subprocess.run([*CLI, "ask", str(store), QUESTIONS[0], "--mode", mode], capture_output=True, text=True,
                             check=False)
        walls.append(time.perf_counter() - started)
        if out.returncode != 0:
            raise RuntimeError(f"memorag ask failed:\n{out.stderr[-3000:]}")
        stderr = out.stderr
    return {"median_s": round(statistics.median(walls), 2), "runs_s": [round(w, 2) for w in walls],
            "stderr_chars": len(stderr)}


def median(values: Any) -> float:
    return round(statistics.median(values), 2)


def _header(tokens: int) -> dict:
    return {"tokens_asked": tokens, "threads": os.environ.get("OMP_NUM_THREADS", "all"), "cpus": os.cpu_count()}


def _reference_file(folder: Path, tokens: int) -> Path:
    """About `tokens` tokens of the Python Language Reference, written into `folder`."""
    text = folder / f"reference-{tokens}.txt"
    text.write_text(reference_text(tokens), encoding="utf-8")
    return text


def run(tokens: int, repeats: int, skip_first: bool) -> dict:
    from memorag import weights_cache
    from memorag.models import load_causal_lm, resolve

    result = _header(tokens)
    with tempfile.TemporaryDirectory() as tmp:
        if not skip_first:
            empty = {"MEMORAG_CACHE": str(Path(tmp) / "cache")}
            result["load_first"] = {"memorag": _child("load-first", env=empty), "raw_gguf": _child("raw-gguf")}
        load_causal_lm("smollm2")  # the real cache filled (no-op when it is)
        source = resolve("smollm2")
        folder = weights_cache.weights_dir() / weights_cache.entry_key(source.fingerprint(), "float32")
        text = _reference_file(Path(tmp), tokens)
        store = Path(tmp) / "store"
        result["memorize"] = _child("memorize", str(text), str(store))
        loads = [_child("load-store", str(store)) for _ in range(repeats)]
        raws = [_child("raw-cached", str(folder)) for _ in range(repeats)]
        files = [_child("raw-store-files", str(store)) for _ in range(repeats)]
        result["load_cached"] = {"memorag_s": median(r["s"] for r in loads),
                                 "memorag_wall_s": median(r["wall_s"] for r in loads),
                                 "torch_at_load": any(r["torch_at_load"] for r in loads),
                                 "with_memory_s": median(r["with_memory_s"] for r in loads),
                                 "files_s": median(r["s"] for r in files),
                                 "raw_s": median(r["s"] for r in raws),
                                 "raw_wall_s": median(r["wall_s"] for r in raws)}
        result["ask"] = _child("ask", str(store))
        result["cli"] = {mode: cli_wall(store, mode, repeats) for mode in ("rag", "memorag")}
    return result


def run_betas(tokens: int, betas: list[str]) -> dict:
    """Only the memorize step, once per beta, each in a fresh process on the same text."""
    result = _header(tokens)
    with tempfile.TemporaryDirectory() as tmp:
        text = _reference_file(Path(tmp), tokens)
        result["memorize"] = {beta: _child("memorize", str(text), str(Path(tmp) / f"store-{beta}"), beta)
                              for beta in betas}
    return result


def betas_markdown(r: dict) -> str:
    header = ("| beta | memory entries at the end | memory prefill tokens/s | windows alone tokens/s | ratio | "
              "ratio a count of multiply-adds predicts |")
    rows = [header, "|---:|---:|---:|---:|---:|---:|"]
    for m in r["memorize"].values():
        rows.append(f"| {m['beta']} | {m['entries']} | {m['prefill_tok_s']} | {m['raw_tok_s']} | "
                    f"{ratio(m['prefill_tok_s'], m['raw_tok_s'])} | {m['flops_ratio']:.2f}x |")
    tokens = next(iter(r["memorize"].values()))["tokens"]
    return "\n".join(rows) + f"\n\n{tokens} tokens, {r['cpus']} CPUs, OMP_NUM_THREADS {r['threads']}.\n"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def markdown(r: dict) -> str:
    m, lc = r["memorize"], r["load_cached"]
    rows = ["| operation | memorag | raw operation | ratio |", "|---|---:|---:|---:|"]
    if "load_first" in r:
        first = r["load_first"]
        rows.append(f"| first load of SmolLM2, empty cache (s, fresh process) | {first['memorag']['wall_s']} | "
                    f"{first['raw_gguf']['wall_s']} (transformers reads the GGUF) | "
                    f"{ratio(first['memorag']['wall_s'], first['raw_gguf']['wall_s'])} |")
    torch_note = "torch imported" if lc["torch_at_load"] else "no torch"
    rows.append(f"| `MemoRAG.load` of a {m['tokens']}-token store, import included (s; {torch_note}) | "
                f"{lc['memorag_s']} | {lc['files_s']} (its JSON and FAISS files read without memorag) | "
                f"{ratio(lc['memorag_s'], lc['files_s'])} |")
    rows.append(f"| the same load, then the memory and SmolLM2 read (a memorag question's first step; s; process "
                f"wall) | {lc['with_memory_s']} ({lc['memorag_wall_s']}) | {lc['raw_s']} ({lc['raw_wall_s']}) "
                f"(torch + transformers load the cached SmolLM2 folder) | {ratio(lc['with_memory_s'], lc['raw_s'])} |")
    rows.append(f"| memory prefill (tokens/s, beta {m['beta']}) | {m['prefill_tok_s']} | {m['raw_tok_s']} (windows "
                f"alone, no capture or compression) | {ratio(m['prefill_tok_s'], m['raw_tok_s'])} |")
    rows.append(f"| memory prefill against the same windows after an equally long prefix (tokens/s) | "
                f"{m['prefill_tok_s']} | {m['prefix_tok_s']} (same attention work, no capture or compression) | "
                f"{ratio(m['prefill_tok_s'], m['prefix_tok_s'])} |")
    rows.append(f"| whole memorize (s): {', '.join(f'{k} {v}' for k, v in m['split_s'].items())} | "
                f"{m['memorize_s']} | {m['raw_prefill_s']} | {ratio(m['memorize_s'], m['raw_prefill_s'])} |")
    for mode in ("rag", "memorag"):
        stages = ", ".join(f"{k} {v}" for k, v in r["ask"][mode].items() if k != "total")
        rows.append(f"| `ask` in process, {mode} (s): {stages} | {r['ask'][mode]['total']} | – | – |")
    for mode in ("rag", "memorag"):
        c = r["cli"][mode]
        rows.append(f"| `memorag ask STORE QUESTION --mode {mode}` (s wall, median of {len(c['runs_s'])}; "
                    f"{c['stderr_chars']} chars on stderr) | {c['median_s']} | – | – |")
    return "\n".join(rows) + f"\n\nMachine: {r['cpus']} CPUs, OMP_NUM_THREADS {r['threads']}.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=30000)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per load and CLI figure (median)")
    parser.add_argument("--skip-first-load", action="store_true", help="skip the empty-cache load (40 s)")
    parser.add_argument("--write", type=Path, help="put the table into this Markdown file (section speed)")
    parser.add_argument("--memorize-betas", nargs="+", metavar="BETA",
                        help="only memorize, once per beta (a number or auto), beside windows alone and the ratio "
                             "a count of multiply-adds predicts; --write puts it in section memorize-beta")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        step, *rest = args.child
        print(json.dumps(CHILDREN[step](*rest)))
        return 0
    if args.memorize_betas:
        result = run_betas(args.tokens, args.memorize_betas)
        emit(result, betas_markdown(result), "speed_bench.py", args.write, "memorize-beta", argv, kind="bench")
        return 0
    result = run(args.tokens, args.repeats, args.skip_first_load)
    emit(result, markdown(result), "speed_bench.py", args.write, "speed", argv, kind="bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
