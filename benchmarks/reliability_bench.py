"""Reliability of store writes, with real `memorag memorize` processes: nothing lost, never a mix.

    .venv/bin/python benchmarks/reliability_bench.py --writers 4 8 --kills 12 --reads --write

  parallel     N processes `memorize DOC_i --store S --append` started at once on a store holding one document
               (and on an absent store): documents kept, lost and duplicated afterwards
  kills        SIGKILL one append at a random moment of its run (uniform over its measured duration); after each:
               is the store the old one or the new one, and does MemoRAG.load read it
  reads        a reader loading the store in a loop while appends land: loads, failures, revisions seen
Leftovers (memorag.store.leftovers) are counted after the next clean write. The memory model is a tiny
random-weight Llama with the real MiniLM tokenizer (--model gives another, e.g. smollm2: slower, same code path).
Prints JSON on stdout and the table on stderr; --write puts the table into docs/benchmarks.md ("Reliability").
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from heldout_report import emit

from memorag.store import data_dir, leftovers, read_documents, read_manifest


def tiny_model(folder: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from memorag.models import resolve

    tokenizer = AutoTokenizer.from_pretrained(resolve("minilm").path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class Bench:
    def __init__(self, root: Path, model: str) -> None:
        self.root, self.model = root, model

    def doc(self, name: str, sentences: int = 60) -> Path:
        path = self.root / f"{name}.txt"
        path.write_text(" ".join(f"{name} fact {i} is about the {name} river." for i in range(sentences)))
        return path

    def command(self, store: Path, file: Path, *flags: str) -> list[str]:
        return [sys.executable, "-m", "memorag.cli", "memorize", str(file), "--store", str(store),
                "--memory-model", self.model, "--window", "256", "--json", *flags]

    def run(self, store: Path, file: Path, *flags: str) -> None:
        subprocess.run(self.command(store, file, *flags), check=True, capture_output=True, timeout=900)


def sources(store: Path) -> list[str]:
    return [d.source.rsplit("/", 1)[-1] for d in read_documents(data_dir(store, read_manifest(store)))]


def parallel(bench: Bench, writers: int, start_with_store: bool) -> dict[str, Any]:
    store = bench.root / f"parallel-{writers}-{start_with_store}"
    expected = []
    if start_with_store:
        bench.run(store, bench.doc("base"))
        expected.append("base.txt")
    names = [f"w{writers}-{i}" for i in range(writers)]
    started = time.perf_counter()
    procs = [subprocess.Popen(bench.command(store, bench.doc(n), "--append"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for n in names]
    errors = [p.communicate(timeout=1800)[1].decode("utf-8", "replace").strip() for p in procs]
    codes = [p.returncode for p in procs]
    seen = sources(store)
    expected += [f"{n}.txt" for n, code in zip(names, codes) if code == 0]  # a refused one reported its error
    return {"writers": writers, "start": "existing" if start_with_store else "absent", "exit_0": codes.count(0),
            "kept": sum(1 for e in expected if e in seen), "lost": sum(1 for e in expected if e not in seen),
            "duplicated": len(seen) - len(set(seen)), "leftovers": len(leftovers(store)),
            "seconds": round(time.perf_counter() - started, 1),
            "failures": [e.splitlines()[-1] for e, c in zip(errors, codes) if c != 0 and e]}


def kills(bench: Bench, count: int, seed: int) -> dict[str, Any]:
    from memorag.pipeline import MemoRAG

    rng = random.Random(seed)
    store, big = bench.root / "killed", bench.doc("big", 400)
    base = bench.doc("base")
    bench.run(store, base)
    bench.run(bench.root / "probe", base)
    started = time.perf_counter()
    bench.run(bench.root / "probe", big, "--append")  # how long one whole append takes, start to exit
    duration = time.perf_counter() - started
    old = new = mixed = unloadable = 0
    for _ in range(count):
        proc = subprocess.Popen(bench.command(store, big, "--append"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.1) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            seen = sources(store)
            MemoRAG.load(store)
        except Exception:  # noqa: BLE001 - counted
            unloadable += 1
            continue
        if seen == ["base.txt"]:
            old += 1
        elif seen == ["base.txt", "big.txt"]:
            new += 1
            bench.run(store, base, "--force")
        else:
            mixed += 1
    bench.run(store, bench.doc("after"), "--append")
    return {"kills": count, "append_s": round(duration, 1), "old_store": old, "new_store": new, "mixed": mixed,
            "unloadable": unloadable, "leftovers_after_next_write": len(leftovers(store))}


def reads(bench: Bench, appends: int) -> dict[str, Any]:
    from memorag.pipeline import MemoRAG

    store = bench.root / "read"
    bench.run(store, bench.doc("base"))
    loads, failures, revisions, done = [0], [], set(), threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                revisions.add(MemoRAG.load(store)._origin[1])
                loads[0] += 1
            except Exception as exc:  # noqa: BLE001 - counted
                failures.append(repr(exc))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(appends):
        bench.run(store, bench.doc(f"r{i}"), "--append")
    done.set()
    reader.join()
    return {"appends": appends, "loads": loads[0], "failed_loads": len(failures), "revisions_seen": len(revisions)}


def table(result: dict[str, Any]) -> str:
    rows = ["| check | processes | outcome |", "|---|---:|---|"]
    for p in result["parallel"]:
        rows.append(f"| parallel `--append`, {p['start']} store | {p['writers']} | {p['exit_0']} exited 0; "
                    f"of their documents {p['kept']} kept, {p['lost']} lost, {p['duplicated']} duplicated; "
                    f"{p['leftovers']} leftovers; {p['seconds']} s |")
    k = result["kills"]
    if k:
        rows.append(f"| SIGKILL at a random moment of an append ({k['append_s']} s) | {k['kills']} | "
                    f"old store {k['old_store']}, new store {k['new_store']}, mixed {k['mixed']}, unloadable "
                    f"{k['unloadable']}; leftovers after the next write {k['leftovers_after_next_write']} |")
    r = result["reads"]
    if r:
        rows.append(f"| reader looping `MemoRAG.load` during appends | 1 + {r['appends']} | {r['loads']} loads, "
                    f"{r['failed_loads']} failed, {r['revisions_seen']} revisions seen |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, nargs="*", default=[4])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--reads", type=int, default=3, help="appends during the reader loop (0: skip)")
    parser.add_argument("--model", default=None, help="memory model (default: a tiny random Llama)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", nargs="?", type=Path, const=Path("docs/benchmarks.md"), default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bench = Bench(root, args.model or str(tiny_model(root / "tiny")))
        result = {
            "model": args.model or "tiny random Llama (MiniLM tokenizer)",
            "parallel": [parallel(bench, n, start) for n in args.writers for start in (True, False)],
            "kills": kills(bench, args.kills, args.seed) if args.kills else None,
            "reads": reads(bench, args.reads) if args.reads else None,
        }
    emit(result, table(result), "reliability_bench.py", args.write, "reliability", argv, kind="reliability")
    return 0


if __name__ == "__main__":
    sys.exit(main())
