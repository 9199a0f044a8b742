"""Needle benchmark of the global memory: do the memory's clues find evidence the question alone does not?

    .venv/bin/python benchmarks/memory_bench.py --quick --write
    .venv/bin/python benchmarks/memory_bench.py --sources pydoc ../shared/data/longbench/2wikimqa.jsonl \\
        --lengths 4000 8000 16000 32000 64000 --kinds kv,gist,full,none --compressors snapkv,mean,recent \\
        --betas 4,8,16 --models smollm2,gemma3-270m --generate --write

For every haystack source and length, one needle task (memorag.eval.needles: invented single-hop facts and
multi-hop pairs with look-alike distractors planted in a real text) is chunked and indexed once. For every memory
configuration of the grid the text is memorized once; then per question the memory writes its clues
(`memory.clues`, kinds span, question and answer; the "answer" clue is the memory's draft answer), and the question
and every clue query the index (`Retriever.search`, 2 x max k deep). Evidence recall@k, k in --ks, is the share of
questions whose needle chunks are all in the evidence (a multi-hop pair needs both; `share` counts needles):
  question      the question's own top k (standard RAG)
  union         every query's top k together (MemoRAG's union; its mean size is reported: it grows with clues)
  rrf_wW        top k of weighted reciprocal-rank fusion (`fuse_hits`, rank constant 60), question weight W
  clues_union   / clues_rrf: the clues without the question
Answer accuracy: the gold answer, normalized (metrics.normalize_answer), occurs as whole words in the draft answer
(`draft`), and with --generate in the generator's answer from the question-weighted fused top 3 (`answer`) and,
once per task, from the question's own top 3 (`rag_answer`). Models that cannot write clues (the base
gemma3-270m) get only the draft figure, from `memory.answer`, and n/a elsewhere.
Prints one JSON object on stdout and the Markdown table on stderr; --write puts the table in docs/benchmarks.md
between the memory-bench markers. Peak RSS is reset per configuration where Linux allows it (/proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import shlex
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from memorag.eval.report import peak_rss_mb

MARKERS = "<!-- memory-bench:{section}:start -->", "<!-- memory-bench:{section}:end -->"
LEGEND = """Each task plants invented facts in a real text (memorag.eval.needles, seed fixed): single-hop facts, and
multi-hop pairs (fact A names a person, fact B about that person holds the answer; the question names only A's
subject) with {distractors} look-alike B facts per pair. R@k: share of questions whose needle chunks (all of them, for a pair)
are in the evidence: q the question's own top k (standard RAG), union every query's top k together (mean size in
"union size"), rrf_wW the top k of reciprocal-rank fusion with the question weighted W, clues_rrf the clues
alone; with --judge, judge_q the judge's top k of the question's pool (memorag's default) and judge_clues of the
pool the clues widen (JudgeConfig's defaults, the memory model as judge). Needle share: share of a pair's two facts found. Draft acc: the memory's draft answer contains the gold;
answer acc: the generator's answer from the fused top 3 does (only with --generate; n/a otherwise). Models that
cannot write clues (base gemma3-270m) show only the draft figure. Full figures per k and per question: the
script's JSON."""
NO_CLUE_MODELS = {"gemma3-270m"}  # base models: no chat template, cannot follow the clue prompts
ANSWER_K = 3


# ----- measuring -----------------------------------------------------------------------------------------------
def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def contains_answer(prediction: str, gold: str) -> bool:
    from memorag.eval.metrics import normalize_answer

    return f" {normalize_answer(gold)} " in f" {normalize_answer(prediction)} "


def mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


# ----- one task: build, index, RAG baseline ----------------------------------------------------------------------
def build_task(source: str, tokens: int, args: argparse.Namespace, tokenizer: Any) -> Any:
    from memorag.eval.needles import build_task as plant_needles
    from memorag.eval.needles import haystack_text

    name, text = haystack_text(source)
    return plant_needles(text, tokens, args.singles, args.pairs, seed=args.seed, tokenizer=tokenizer,
                         distractors_per_pair=args.distractors, source=name)


def split_documents(source: str, text: str, count: int) -> list[Any]:
    """The haystack as `count` documents for the memory, cut at the paragraph breaks nearest equal shares (the
    index always holds it as one document, so retrieval is the same whatever `count`)."""
    from memorag.types import Document

    cuts, start = [], 0
    for part in range(1, count):
        target = len(text) * part // count
        cut = text.find("\n\n", target)
        if cut <= start:
            continue
        cuts.append(cut)
        start = cut
    bounds = [0, *cuts, len(text)]
    return [Document(f"{source}-{n}.txt" if count > 1 else f"{source}.txt", text[a:b])
            for n, (a, b) in enumerate(itertools.pairwise(bounds), 1) if text[a:b].strip()]


def index_task(task: Any, embedder: Any) -> tuple[Any, float]:
    from memorag.config import RetrievalConfig
    from memorag.retrieval import Retriever
    from memorag.types import Document

    started = time.perf_counter()
    retriever = Retriever(embedder, RetrievalConfig())
    retriever.build([Document(f"{task.source}.txt", task.text)])
    return retriever, time.perf_counter() - started


def generator_answer(generator: Any, question: str, evidence: list[Any]) -> str:
    from memorag.pipeline import answer_messages, evidence_prompt

    return str(generator.generate(answer_messages(question, evidence_prompt(evidence)), max_new_tokens=64))


def rag_answers(task: Any, retriever: Any, generator: Any) -> dict[str, Any]:
    """The generator's answer from the question's own top 3 (no memory), once per task."""
    from memorag.retrieval.evidence import merge_hits

    right: dict[str, list[bool]] = {"single": [], "multi": []}
    for question in task.questions:
        evidence = merge_hits(retriever.search([question.question], ANSWER_K), retriever.chunks, ANSWER_K)
        right[question.kind].append(contains_answer(generator_answer(generator, question.question, evidence),
                                                    question.answer))
    return {kind: mean([float(x) for x in values]) for kind, values in right.items()}


# ----- evidence sets ---------------------------------------------------------------------------------------------
def evidence_sets(per_query: list[Any], chunks: Any, k: int, weights: list[float]) -> dict[str, set[int]]:
    """Chunk ids each retrieval method returns at k, from the question's and clues' ranked hits."""
    from memorag.retrieval.evidence import fuse_hits, merge_hits

    def ids(passages: list[Any]) -> set[int]:
        return {passage.chunk.chunk_id for passage in passages}

    clues = per_query[1:]
    sets = {"question": {cid for cid, _ in per_query[0][1][:k]}, "union": ids(merge_hits(per_query, chunks, k))}
    for weight in weights:
        fused = fuse_hits(per_query, chunks, k, weights=[weight] + [1.0] * len(clues))
        sets[f"rrf_w{weight:g}"] = ids(fused)
    sets["clues_union"] = ids(merge_hits(clues, chunks, k)) if clues else set()
    sets["clues_rrf"] = ids(fuse_hits(clues, chunks, k)) if clues else set()
    return sets


def score_question(question: Any, per_query: list[Any], retriever: Any, args: argparse.Namespace,
                   judged: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Per k and method: (all needles found, share of needles found); and the union's size. `judged`: method ->
    chunk ids best first (a judge's ranking), scored on its top k."""
    from memorag.eval.needles import needle_chunks, needles_found

    holding = needle_chunks(question, retriever.chunks)
    found: dict[str, dict[str, Any]] = {}
    for k in args.ks:
        sets = evidence_sets(per_query, retriever.chunks, k, args.weights)
        sets.update({name: set(ranking[:k]) for name, ranking in (judged or {}).items()})
        found[str(k)] = {name: needles_found(holding, ids) for name, ids in sets.items()}
        found[str(k)]["union_size"] = len(sets["union"])
    return found


# ----- one memory configuration ------------------------------------------------------------------------------------
def judged_rankings(judge: Any, question: str, clues: list[str], retriever: Any) -> dict[str, list[int]]:
    """The judge's rankings (chunk ids, best first) of the question's pool alone (judge_q, memorag's default
    with recall none) and of the pool the clues widen (judge_clues), as `MemoRAG.ask` builds them."""
    rankings = {}
    for name, texts in (("judge_q", []), ("judge_clues", clues)):
        pool = retriever.pool(question, texts, judge.config.pool, judge.config.clue_hits)
        rankings[name] = [p.chunk.chunk_id for p in judge.rerank(question, pool, len(pool))]
    return rankings


def ask_all(memory: Any, task: Any, retriever: Any, generator: Any, clue_model: bool, args: argparse.Namespace,
            strategy: str = "generate", documents: list[Any] | None = None, judge: Any = None
            ) -> list[dict[str, Any]]:
    from memorag.recall import recall_clues
    from memorag.retrieval.evidence import fuse_hits

    results = []
    for question in task.questions:
        row: dict[str, Any] = {"kind": question.kind, "question": question.question, "gold": question.answer}
        started = time.perf_counter()
        if not clue_model:  # a base model: only its extractive reading, the draft answer
            row["draft"] = memory.answer(question.question)
            row["recall_s"] = round(time.perf_counter() - started, 2)
            row["draft_ok"] = contains_answer(row["draft"], question.answer)
            results.append(row)
            continue
        if strategy == "generate":
            clues = memory.clues(question.question)
        else:  # grounded strategies (memorag.recall): no draft answer of their own
            clues = recall_clues(strategy, question.question, memory, documents or [], retriever)
        row["recall_s"] = round(time.perf_counter() - started, 2)
        row["clues"] = [[clue.kind, clue.text] for clue in clues]
        if strategy == "generate":
            row["draft"] = next((clue.text for clue in clues if clue.kind == "answer"), "")
            row["draft_ok"] = contains_answer(row["draft"], question.answer)
        started = time.perf_counter()
        per_query = retriever.search([question.question, *(clue.text for clue in clues)], 2 * max(args.ks))
        row["search_s"] = round(time.perf_counter() - started, 3)
        judged = None
        if judge is not None:
            started = time.perf_counter()
            judged = judged_rankings(judge, question.question, [clue.text for clue in clues], retriever)
            row["judge_s"] = round(time.perf_counter() - started, 2)
        row["found"] = score_question(question, per_query, retriever, args, judged)
        if generator is not None and args.generate:
            weights = [args.answer_weight] + [1.0] * (len(per_query) - 1)
            evidence = fuse_hits(per_query, retriever.chunks, ANSWER_K, weights=weights)
            started = time.perf_counter()
            row["answer"] = generator_answer(generator, question.question, evidence)
            row["generate_s"] = round(time.perf_counter() - started, 2)
            row["answer_ok"] = contains_answer(row["answer"], question.answer)
        results.append(row)
    return results


def summarize(asked: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Recall@k per question kind and method, needle share, union size, accuracies and latencies."""
    summary: dict[str, Any] = {"recall": {}, "share": {}, "union_size": {}}
    scored = [row for row in asked if "found" in row]
    for kind in ("single", "multi"):
        rows = [row for row in scored if row["kind"] == kind]
        summary["recall"][kind] = {k: {m: mean([float(r["found"][k][m][0]) for r in rows]) for m in _methods(rows, k)}
                                   for k in map(str, args.ks)}
        summary["share"][kind] = {k: {m: mean([r["found"][k][m][1] for r in rows]) for m in _methods(rows, k)}
                                  for k in map(str, args.ks)}
    summary["union_size"] = {str(k): mean([float(r["found"][str(k)]["union_size"]) for r in scored]) for k in args.ks}
    summary["clues_per_question"] = mean([float(len(r["clues"])) for r in scored])
    for name in ("draft", "answer"):
        summary[f"{name}_accuracy"] = {
            kind: mean([float(r[f"{name}_ok"]) for r in asked if r["kind"] == kind and f"{name}_ok" in r])
            for kind in ("single", "multi")
        }
    summary["latency_s"] = {stage: mean([r[f"{stage}_s"] for r in asked if f"{stage}_s" in r])
                            for stage in ("recall", "search", "judge", "generate")}
    return summary


def _methods(rows: list[dict[str, Any]], k: str) -> list[str]:
    return [m for m in rows[0]["found"][k] if m != "union_size"] if rows else []


def run_config(config: Any, task: Any, tokens: int, retriever: Any, generator: Any, args: argparse.Namespace,
               judge: Any = None) -> list[dict[str, Any]]:
    """One memorize, then one row per recall strategy (--recall) the memory kind supports."""
    from memorag.errors import MemoRAGError, MemoryBudgetError
    from memorag.memory.registry import make_memory

    row: dict[str, Any] = {"source": task.source, "tokens": tokens, "task_tokens": task.tokens,
                           "model": config.model if config.kind != "none" else f"generator:{args.generator}",
                           "kind": config.kind, "compressor": config.compressor if config.kind in ("kv", "gist") else None,
                           "beta": config.beta, "strategy": "generate"}
    rss_reset = reset_peak_rss()
    clue_model = config.kind == "none" or config.model not in NO_CLUE_MODELS
    try:
        memory = make_memory(config, generator=generator)
        started = time.perf_counter()
        documents = split_documents(task.source, task.text, args.documents)
        split = memory.memorize(documents)
        row["memorize_split_s"] = {key: round(value, 2) for key, value in split.items()}
        row["memorize_s"] = round(time.perf_counter() - started, 2)
    except MemoryBudgetError as exc:
        return [{**row, "status": f"does not fit: {exc}"}]
    except (MemoRAGError, NotImplementedError) as exc:  # memorag[gemma] not installed; a model the kind can't hold
        return [{**row, "status": f"skipped: {exc.__class__.__name__}: {exc}"}]
    row["memory"] = memory.describe()
    strategies = [s for s in args.recall if s == "generate" or (clue_model and config.kind != "none")]
    if config.kind == "gist":
        strategies = [s for s in strategies if s != "attention"]  # attention reads kv/full memories only
    rows = []
    for strategy in strategies:
        asked = ask_all(memory, task, retriever, generator, clue_model, args, strategy, documents, judge)
        rows.append({**row, "strategy": strategy, "status": "ok", "clue_figures": clue_model,
                     **summarize(asked, args), "questions": asked})
        rows[-1]["peak_rss_mb"], rows[-1]["peak_rss_scope"] = peak_rss_mb(), "config" if rss_reset else "process"
    del memory
    gc.collect()
    return rows


# ----- the grid ------------------------------------------------------------------------------------------------
def memory_configs(args: argparse.Namespace) -> list[Any]:
    from memorag.config import MemoryConfig

    configs = []
    for model in args.models:
        for kind in args.kinds:
            if kind == "kv":
                configs += [MemoryConfig(model=model, kind="kv", compressor=c, beta=b)
                            for c in args.compressors for b in args.betas]
            elif kind == "gist" and model not in NO_CLUE_MODELS:  # a base model cannot write gists either
                configs.append(MemoryConfig(model=model, kind="gist", compressor=args.compressors[0]))
            elif kind == "full":
                configs.append(MemoryConfig(model=model, kind="full"))
            elif kind == "none" and model == args.models[0]:  # the generator's clues: once, whatever the model
                configs.append(MemoryConfig(model=model, kind="none"))
    return configs


def run(args: argparse.Namespace) -> dict[str, Any]:
    from memorag.config import GenerationConfig, MemoryConfig
    from memorag.generation import from_config
    from memorag.models import load_causal_lm
    from memorag.retrieval import SentenceTransformerEmbedder

    started = time.perf_counter()
    first = MemoryConfig(model=args.models[0])  # lengths are counted in the first model's tokens; the same
    tokenizer = load_causal_lm(first.model, first.device, first.dtype)[1]  # arguments share its cached load
    embedder = SentenceTransformerEmbedder("minilm")
    needs_generator = args.generate or "none" in args.kinds
    generator = from_config(GenerationConfig(model=args.generator)) if needs_generator else None
    judge = None
    if args.judge:  # the default judge: the first memory model, JudgeConfig's defaults
        from memorag.config import JudgeConfig
        from memorag.retrieval.judge import QueryLikelihoodJudge

        judge = QueryLikelihoodJudge(*load_causal_lm(first.model, first.device, first.dtype), JudgeConfig(),
                                     name=first.model)
    tasks, rows = [], []
    for source in args.sources:
        for tokens in args.lengths:
            task = build_task(source, tokens, args, tokenizer)
            retriever, index_s = index_task(task, embedder)
            info = {"source": task.source, "tokens": tokens, "task_tokens": task.tokens, "chunks": len(retriever.chunks),
                    "index_s": round(index_s, 2), "questions": [asdict(q) for q in task.questions]}
            if args.generate and generator is not None:
                info["rag_answer_accuracy"] = rag_answers(task, retriever, generator)
            tasks.append(info)
            for config in memory_configs(args):
                for row in run_config(config, task, tokens, retriever, generator, args, judge):
                    rows.append(row)
                    print(f"[{time.perf_counter() - started:7.1f}s] {task.source} {tokens} {config.model} "
                          f"{config.kind} {config.compressor} {config.beta} {row.get('strategy')}: {row['status'][:80]}",
                          file=sys.stderr)
    return {"command": command_line(), "seed": args.seed, "threads": args.threads, "singles": args.singles,
            "pairs": args.pairs, "distractors": args.distractors, "tasks": tasks, "rows": rows,
            "wall_s": round(time.perf_counter() - started, 1)}


# ----- output ------------------------------------------------------------------------------------------------------
def command_line() -> str:
    return ".venv/bin/python benchmarks/memory_bench.py " + shlex.join(sys.argv[1:])


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def _recall_cell(row: dict[str, Any], kind: str, k: str, methods: list[str]) -> str:
    if not row.get("clue_figures"):
        return "n/a"
    return " / ".join(_fmt(row["recall"][kind][k].get(m)) for m in methods)


def markdown(result: dict[str, Any], args: argparse.Namespace) -> str:
    k = str(ANSWER_K if ANSWER_K in args.ks else args.ks[0])
    methods = ["question", "union", *(f"rrf_w{w:g}" for w in args.weights), "clues_rrf"]
    if any("judge_s" in q for row in result["rows"] for q in row.get("questions", [])):
        methods += ["judge_q", "judge_clues"]
    head = " / ".join(m.replace("question", "q") for m in methods)
    lines = [(f"| source | tokens | model | memory, recall | entries (MB) | memorize s | single R@{k}: {head} | "
             f"multi R@{k}: {head} | multi needle share@{k}: q / union | union size@{k} | draft acc s / m | "
             "answer acc s / m | recall s/q | peak RSS MB |"), "|" + "---|" * 14]
    for row in result["rows"]:
        memory = f"{row['kind']}" + (f" {row['compressor']} b{row['beta']}" if row["kind"] == "kv" else "")
        memory += f", {row.get('strategy', 'generate')}"
        if row["status"] != "ok":
            lines.append(f"| {row['source']} | {row['tokens']} | {row['model']} | {memory} | {row['status'][:60]} |"
                         + " |" * 9)
            continue
        mem, clue = row["memory"], row.get("clue_figures")
        share = row["share"]["multi"][k] if clue else {}
        lines.append(
            f"| {row['source']} | {row['task_tokens']} | {row['model']} | {memory} | {mem['entries']} "
            f"({mem['bytes'] / 1e6:.1f}) | {row['memorize_s']} | {_recall_cell(row, 'single', k, methods)} | "
            f"{_recall_cell(row, 'multi', k, methods)} | "
            f"{_fmt(share.get('question'))} / {_fmt(share.get('union'))} | "
            f"{_fmt(row['union_size'].get(k)) if clue else 'n/a'} | "
            f"{_fmt(row['draft_accuracy']['single'])} / {_fmt(row['draft_accuracy']['multi'])} | "
            f"{_fmt(row['answer_accuracy']['single'])} / {_fmt(row['answer_accuracy']['multi'])} | "
            f"{_fmt(row['latency_s']['recall'])} | {row['peak_rss_mb']} |"
        )
    for task in result["tasks"]:
        if "rag_answer_accuracy" in task:
            acc = task["rag_answer_accuracy"]
            lines.append(f"\nRAG answer accuracy (question's own top {ANSWER_K}) on {task['source']} "
                         f"{task['task_tokens']} tokens: single {_fmt(acc['single'])}, multi {_fmt(acc['multi'])}.")
    return "\n".join(lines)


def write_section(path: Path, result: dict[str, Any], table: str, section: str) -> None:
    """Replace what lies between this section's memory-bench markers in `path` (appended at the end when absent).

    The legend (LEGEND, also printed with the table) is written once, above the sections, not in each."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = (marker.format(section=section) for marker in MARKERS)
    body = (f"{start}\n### Memory needle benchmark: {section}\n\nCommand (run on {time.strftime('%Y-%m-%d')}, "
            f"{result['wall_s']} s):\n\n    {result['command']}\n\n{table}\n{end}")
    if start in text and end in text:
        text = text[: text.index(start)] + body + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


# ----- command line ----------------------------------------------------------------------------------------------
def _csv(kind: type) -> Any:
    return lambda text: [kind(item) for item in text.split(",") if item]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", nargs="+", default=["pydoc"], help="pydoc, LongBench-format .jsonl, text files")
    parser.add_argument("--lengths", nargs="+", type=int, default=[4000, 8000, 16000, 32000, 64000])
    parser.add_argument("--singles", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--distractors", type=int, default=3, help="look-alike B facts per multi-hop pair")
    parser.add_argument("--kinds", type=_csv(str), default=["kv", "gist", "full", "none"])
    parser.add_argument("--compressors", type=_csv(str), default=["snapkv", "mean", "recent"])
    parser.add_argument("--betas", type=_csv(int), default=[4, 8, 16])
    parser.add_argument("--models", type=_csv(str), default=["smollm2"])
    parser.add_argument("--generator", default="smollm2", help="writes the pipeline answer and kind none's clues")
    parser.add_argument("--ks", type=_csv(int), default=[1, 3, 5])
    parser.add_argument("--weights", type=_csv(float), default=[1.0, 2.0, 3.0], help="question weights for rrf")
    parser.add_argument("--answer-weight", type=float, default=2.0, help="question weight of the answer's evidence")
    parser.add_argument("--recall", type=_csv(str), default=["generate"],
                        help="recall strategies to score on each memory: generate,copy,attention,multihop")
    parser.add_argument("--generate", action="store_true", help="also score the generator's answer (~5 s each)")
    parser.add_argument("--judge", action="store_true",
                        help="also score the judge (JudgeConfig's defaults, the first model) over the question's "
                             "pool (judge_q) and over the pool the clues widen (judge_clues)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--documents", type=int, default=1,
                        help="memorize the haystack as this many documents (paragraph cuts); the index holds one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="pydoc, 8000 tokens, 3 + 3 needles, kv snapkv beta 8 and none (under 5 min on 2 cores)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--write", nargs="?", type=Path, const=Path("docs/benchmarks.md"),
                        help="rewrite the memory-bench section of this Markdown file (default docs/benchmarks.md)")
    parser.add_argument("--section", default="quick",
                        help="name of the section --write replaces (markers memory-bench:NAME:start/end)")
    parser.add_argument("--from-json", type=Path,
                        help="do not run: render (and --write) the result a previous run saved with --out")
    args = parser.parse_args(argv)
    if args.quick:
        args.sources, args.lengths, args.singles, args.pairs = ["pydoc"], [8000], 3, 3
        args.kinds, args.compressors, args.betas, args.models = ["kv", "none"], ["snapkv"], [8], ["smollm2"]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = json.loads(args.from_json.read_text(encoding="utf-8")) if args.from_json else run(args)
    table = markdown(result, args)
    print(json.dumps(result, indent=1))
    print(LEGEND.format(distractors=result["distractors"]) + "\n\n" + table, file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.write:
        write_section(args.write, result, table, args.section)


if __name__ == "__main__":
    main()
