"""What memorize costs at scale: a corpus of a million tokens and more, and the figures of docs/scale.md's cost model.

    .venv/bin/python benchmarks/scale_bench.py corpus --tokens 1000000 --out /tmp/corpus-1m
    .venv/bin/python benchmarks/scale_bench.py large --corpus /tmp/corpus-1m --store /tmp/store-1m \
        --json runs/scale/large.json --write docs/scale.md
    .venv/bin/python benchmarks/scale_bench.py workers --tokens 60000 --workers 1 2 \
        --json runs/scale/workers.json --write docs/scale.md
    .venv/bin/python benchmarks/scale_bench.py model --large runs/scale/large.json \
        --workers-json runs/scale/workers.json --write docs/scale.md

  corpus   the sources that ship with CPython (its standard library's .py files, tests left out), whole files in
           path order until the memory model's tokenizer counts --tokens; one document per file
  large    `memorag memorize CORPUS --store STORE` as a user runs it (a fresh process, wall clock), the store's
           bytes per file kind, then `memorag ask` in rag and memorag mode (fresh processes, median of --repeats)
  workers  the same documents memorized in one process without Ray and on a local Ray cluster (started here on
           127.0.0.1) with each worker count, side by side in one run: tokens/s and the ratio to the plain path
  model    the cost model: hours and disk for 1M, 100M and 1B tokens on N workers, from the two JSON files above

Each step prints one JSON object; --write puts its table into the file's section (kind `scale`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from heldout_report import emit

CLI = [sys.executable, "-m", "memorag.cli"]
QUESTIONS = ("How does shutil.rmtree handle errors while removing a tree?",
             "What does the json module do with NaN when allow_nan is false?")
MIN_CHARS, MAX_CHARS = 2_000, 120_000  # whole files only: neither stubs nor generated tables


def memory_tokenizer() -> Any:
    from memorag.models import load_causal_lm

    return load_causal_lm("smollm2")[1]


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idle_test", "site-packages", "lib2to3", "__pycache__"}
    return [path for path in sorted(root.rglob("*.py"))
            if not skip & set(path.relative_to(root).parts)
            and MIN_CHARS <= path.stat().st_size <= MAX_CHARS]


def build_corpus(tokens: int, out: Path) -> dict[str, Any]:
    tokenizer = memory_tokenizer()
    if out.exists():
        raise SystemExit(f"{out} exists: give a new folder")
    out.mkdir(parents=True)
    root = Path(sysconfig.get_paths()["stdlib"])
    total, files = 0, 0
    for path in stdlib_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        name = "__".join(path.relative_to(root).parts)
        (out / name).write_text(text, encoding="utf-8")
        total += len(tokenizer(text, add_special_tokens=False)["input_ids"])
        files += 1
        if total >= tokens:
            break
    return {"corpus": str(out), "files": files, "tokens": total, "source": f"CPython {sys.version.split()[0]} stdlib"}


def corpus_tokens(corpus: Path) -> int:
    tokenizer = memory_tokenizer()
    return sum(len(tokenizer(path.read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"])
               for path in sorted(corpus.iterdir()))


def run_cli(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"memorag {' '.join(args[:3])} failed:\n{out.stderr[-3000:]}")
    return wall, out.stdout


def store_bytes(store: Path) -> dict[str, int]:
    manifest = json.loads((store / "manifest.json").read_text(encoding="utf-8"))
    folder = store / manifest["data"]
    sizes: dict[str, int] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            part = path.relative_to(folder).parts[0]
            sizes[part] = sizes.get(part, 0) + path.stat().st_size
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def ask_latency(store: Path, repeats: int) -> dict[str, float]:
    latency = {}
    for mode in ("rag", "memorag"):
        walls = [run_cli("ask", str(store), QUESTIONS[i % len(QUESTIONS)], "--mode", mode)[0]
                 for i in range(repeats)]
        latency[mode] = round(statistics.median(walls), 2)
    return latency


def run_large(corpus: Path, store: Path, repeats: int, beta: int | None) -> dict[str, Any]:
    tokens = corpus_tokens(corpus)
    wall, _ = run_cli("memorize", str(corpus), "--store", str(store), *(["--force"] if store.exists() else []),
                      *(["--beta", str(beta)] if beta else []))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    manifest = json.loads((store / "manifest.json").read_text(encoding="utf-8"))
    sizes = store_bytes(store)
    total = sum(sizes.values())
    memory_state = manifest.get("memory_state", {})
    return {
        "tokens": tokens, "documents": len(manifest["documents"]), "chunks": manifest["chunks"],
        "memorize_wall_s": round(wall, 1), "tokens_per_s": round(tokens / wall, 1),
        "timings": manifest["timings"], "peak_rss_mb": round(peak),
        "store_bytes": total, "store_bytes_by_file": sizes, "bytes_per_token": round(total / tokens, 1),
        "memory_entries": memory_state.get("entries"), "beta": memory_state.get("beta"),
        "ask_wall_s": ask_latency(store, repeats),
        "cores": len(os.sched_getaffinity(0)),
    }


def start_cluster(cpus: int, temp: Path) -> tuple[str, Path]:
    """A Ray head on 127.0.0.1 with `cpus` CPUs and its files in `temp`; (address, the ray command)."""
    ray = Path(sys.executable).parent / "ray"
    port = _free_port()
    subprocess.run([str(ray), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--num-cpus", str(cpus), "--include-dashboard", "false", "--temp-dir", str(temp),
                    "--disable-usage-stats"], check=True, capture_output=True, text=True)
    return f"127.0.0.1:{port}", ray


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_workers(tokens: int, workers: list[int], corpus: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch:
        root = Path(scratch)
        if corpus is None:
            corpus = root / "corpus"
            build_corpus(tokens, corpus)
        measured = corpus_tokens(corpus)
        rows = []
        plain, _ = run_cli("memorize", str(corpus), "--store", str(root / "plain"))
        rows.append({"path": "plain (one process)", "workers": 0, "wall_s": round(plain, 1),
                     "tokens_per_s": round(measured / plain, 1), "ratio": 1.0})
        documents = len(list(corpus.iterdir()))
        temp = Path(tempfile.mkdtemp(prefix="ray-scale-", dir="/tmp"))  # short: Ray's sockets live there
        address, _ = start_cluster(max(workers), temp)
        try:
            for count in workers:
                wall, _ = run_cli("memorize", str(corpus), "--store", str(root / f"ray-{count}"),
                                  "--ray", address, "--ray-workers", str(count))
                rows.append({"path": f"Ray, {count} worker{'s' if count > 1 else ''}", "workers": count,
                             "wall_s": round(wall, 1), "tokens_per_s": round(measured / wall, 1),
                             "ratio": round(plain / wall, 2)})
        finally:
            stop_cluster(temp)
    return {"tokens": measured, "documents": documents, "cores": len(os.sched_getaffinity(0)), "rows": rows}


def stop_cluster(temp: Path) -> None:
    """Only the cluster started in `temp` (its processes name it; `ray stop` stops every cluster here)."""
    import psutil

    found = [p for p in psutil.process_iter(["cmdline"]) if any(str(temp) in part for part in p.info["cmdline"] or [])]
    processes = {child.pid: child for p in found for child in [p, *p.children(recursive=True)]}
    for process in processes.values():
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(processes.values()), timeout=10)


HOURS = 3600.0


def cost_model(large: dict[str, Any], workers: dict[str, Any]) -> dict[str, Any]:
    """Hours and disk from measured rates: one worker's tokens/s (the plain path of the workers run, on an idle
    machine), the best measured Ray scaling per added worker, and the 1M-token store's bytes per token."""
    per_worker = workers["rows"][0]["tokens_per_s"]
    ray_rows = [row for row in workers["rows"] if row["workers"]]
    efficiency = min(1.0, max(row["ratio"] / row["workers"] for row in ray_rows)) if ray_rows else 1.0
    rows = []
    for tokens in (1e6, 1e8, 1e9):
        for count in (1, 8, 64):
            rate = per_worker * (1 if count == 1 else count * efficiency)
            rows.append({"tokens": tokens, "workers": count, "hours": round(tokens / rate / HOURS, 2),
                         "store_gb": round(tokens * large["bytes_per_token"] / 1e9, 1)})
    return {"per_worker_tokens_per_s": per_worker, "scaling_per_worker": round(efficiency, 2),
            "bytes_per_token": large["bytes_per_token"], "rows": rows}


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def large_table(result: dict[str, Any]) -> str:
    timings = result["timings"]
    lines = ["| figure | measured |", "|---|---|",
             (f"| corpus | {result['tokens']:,} tokens (SmolLM2 tokenizer), {result['documents']} documents, "
             f"{result['chunks']:,} chunks |"),
             (f"| memorize, whole CLI call | {result['memorize_wall_s'] / 60:.1f} min, "
             f"{result['tokens_per_s']:.0f} tokens/s on {result['cores']} cores |"),
             "| of which | " + ", ".join(f"{k} {v:,.0f} s" for k, v in timings.items()) + " |",
             f"| peak RSS | {result['peak_rss_mb']:,} MB |",
             f"| store | {_mb(result['store_bytes'])}, {result['bytes_per_token']:,.0f} bytes per token; "
             + ", ".join(f"{k} {_mb(v)}" for k, v in list(result["store_bytes_by_file"].items())[:5]) + " |",
             (f"| memory | {result['memory_entries']:,} entries, beta {result['beta']} |"
              if result.get("memory_entries") else None),
             (f"| `memorag ask`, fresh process | rag {result['ask_wall_s']['rag']} s, "
             f"memorag {result['ask_wall_s']['memorag']} s |")]
    return "\n".join(line for line in lines if line) + "\n"


def workers_table(result: dict[str, Any]) -> str:
    lines = [f"{result['tokens']:,} tokens, {result['documents']} documents, {result['cores']} cores.", "",
             "| path | wall | tokens/s | ratio to plain |", "|---|---|---|---|"]
    lines += [f"| {row['path']} | {row['wall_s']} s | {row['tokens_per_s']} | {row['ratio']}x |"
              for row in result["rows"]]
    return "\n".join(lines) + "\n"


def model_table(result: dict[str, Any]) -> str:
    lines = [(f"From {result['per_worker_tokens_per_s']:.0f} tokens/s per worker (the plain path, all cores of this machine), "
             f"{result['scaling_per_worker']} of a worker gained per added worker (best Ray figure), "
             f"{result['bytes_per_token']:,.0f} store bytes per token (the 1M-token store)."), "",
             "| tokens | workers | memorize | store |", "|---|---|---|---|"]
    for row in result["rows"]:
        hours = row["hours"]
        shown = f"{hours * 60:.0f} min" if hours < 1 else (f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.0f} days")
        lines.append(f"| {row['tokens']:.0e} | {row['workers']} | {shown} | {row['store_gb']:,} GB |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    corpus = sub.add_parser("corpus")
    corpus.add_argument("--tokens", type=int, default=1_000_000)
    corpus.add_argument("--out", type=Path, required=True)
    large = sub.add_parser("large")
    large.add_argument("--corpus", type=Path, required=True)
    large.add_argument("--store", type=Path, required=True)
    large.add_argument("--repeats", type=int, default=2)
    large.add_argument("--beta", type=int, default=None,
                       help="memorize --beta (default: the smallest that fits each document, often 1 on many small "
                            "files: an uncompressed memory of about 23 KB per token)")
    workers = sub.add_parser("workers")
    workers.add_argument("--tokens", type=int, default=60_000)
    workers.add_argument("--corpus", type=Path, default=None)
    workers.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    model = sub.add_parser("model")
    model.add_argument("--large", type=Path, required=True)
    model.add_argument("--workers-json", type=Path, required=True)
    for step in (large, workers, model):
        step.add_argument("--json", type=Path, default=None, help="also write the result here")
        step.add_argument("--write", nargs="?", type=Path, const=Path("docs/scale.md"), default=None)
    args = parser.parse_args(argv)
    if args.step == "corpus":
        print(json.dumps(build_corpus(args.tokens, args.out), indent=1))
        return 0
    if args.step == "large":
        result = run_large(args.corpus, args.store, args.repeats, args.beta)
        table = large_table(result)
    elif args.step == "workers":
        result = run_workers(args.tokens, args.workers, args.corpus)
        table = workers_table(result)
    else:
        result = cost_model(json.loads(args.large.read_text()), json.loads(args.workers_json.read_text()))
        table = model_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    emit(result, table, "scale_bench.py", args.write, args.step, argv, kind="scale")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
