"""LocalGenerator (transformers, dequantized float32) against LlamaCppGenerator: llama.cpp on its float16 copy of
the GGUF (the default for small models, memorag.generation.llamacpp "Weights") and on the GGUF file as it is.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/generator_bench.py --threads 2

The same RAG-style prompts for both: three ~200-token passages of the Python Language Reference that ships with
CPython (`pydoc_data.topics`, the one with the answer among them) and a question, greedy, --max-new-tokens each.
Per generator: load time (the first load in this process), time to first token (llama.cpp: the first piece of
stream(); transformers has no stream, so its generate with max_new_tokens=1), whole-answer wall time, and decode
speed, (answer tokens - 1) / (answer time - time to first token), with answer tokens the answer re-tokenized.
Both use --threads threads (torch.set_num_threads; n_threads). A warm-up answer per generator is not timed.
Prints one JSON object, the Markdown table on stderr; --write puts the table into docs/benchmarks.md
("generators").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from heldout_report import emit

# (topic in pydoc_data.topics whose text holds the answer, question)
QUESTIONS = (
    ("nonlocal", "What does the nonlocal statement do?"),
    ("return", "What happens when a return statement leaves a try statement with a finally clause?"),
    ("assert", "What happens when the expression of an assert statement is false?"),
    ("global", "What does the global statement declare?"),
    ("for", "When does the else clause of a for loop run?"),
)  # topics of at least 930 characters, so that each passage is as long as asked
CHARS_PER_TOKEN = 4.15  # SmolLM2 on this text (benchmarks/pipeline_bench.py)
SYSTEM = "Answer the question from the passages, in one or two sentences."


def rag_prompts(count: int, evidence_tokens: int) -> list[list[dict[str, str]]]:
    """Each question after three passages (its own topic in the middle), each cut to evidence_tokens / 3."""
    from pydoc_data.topics import topics

    chars = int(evidence_tokens / 3 * CHARS_PER_TOKEN)
    prompts = []
    for index, (topic, question) in enumerate(QUESTIONS[:count]):
        others = [QUESTIONS[(index + step) % len(QUESTIONS)][0] for step in (1, 2)]
        passages = [topics[name].strip()[:chars] for name in (others[0], topic, others[1])]
        evidence = "\n\n".join(f"Passage {i}: {text}" for i, text in enumerate(passages, 1))
        user = f"{evidence}\n\nQuestion: {question}"
        prompts.append([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}])
    return prompts


def first_token_s(generator: Any, messages: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    if hasattr(generator, "stream"):
        pieces = generator.stream(messages, max_new_tokens=64)
        next(pieces, None)
        pieces.close()  # stops llama.cpp and frees its lock
    else:
        generator.generate(messages, max_new_tokens=1)
    return time.perf_counter() - started


def measure(generator: Any, prompts: list[list[dict[str, str]]], max_new_tokens: int) -> list[dict[str, Any]]:
    generator.generate(prompts[0], max_new_tokens=8)  # warm-up: first-call allocations, not timed
    rows = []
    for messages in prompts:
        ttft = first_token_s(generator, messages)
        started = time.perf_counter()
        answer = generator.generate(messages, max_new_tokens=max_new_tokens)
        answer_s = time.perf_counter() - started
        tokens = generator.count_tokens(answer)
        decode = (tokens - 1) / (answer_s - ttft) if tokens > 1 and answer_s > ttft else None
        rows.append({"ttft_s": round(ttft, 3), "answer_s": round(answer_s, 3), "answer_tokens": tokens,
                     "decode_tokens_per_s": round(decode, 1) if decode else None, "answer": answer})
    return rows


def run(backend: str, model: str, threads: int, prompts: list[list[dict[str, str]]], max_new: int) -> dict[str, Any]:
    from memorag.generation import LlamaCppGenerator, LocalGenerator

    started = time.perf_counter()
    if backend == "local":
        generator: Any = LocalGenerator(model)
    else:  # "llamacpp-float16" or "llamacpp-file"
        generator = LlamaCppGenerator(model, n_threads=threads, weights=backend.split("-", 1)[1])
    load_s = time.perf_counter() - started
    rows = measure(generator, prompts, max_new)
    rates = [r["decode_tokens_per_s"] for r in rows if r["decode_tokens_per_s"]]
    return {
        "load_s": round(load_s, 2),
        "median_ttft_s": round(statistics.median(r["ttft_s"] for r in rows), 3),
        "median_answer_s": round(statistics.median(r["answer_s"] for r in rows), 3),
        "median_decode_tokens_per_s": round(statistics.median(rates), 1) if rates else None,
        "prompt_tokens": [len(generator.prompt_ids(p)) for p in prompts],
        "per_prompt": rows,
    }


def top_token_agreement(model: str, threads: int, messages: list[dict[str, str]]) -> dict[str, float]:
    """Share of the prompt's positions where llama.cpp's most likely next token (float16 copy; GGUF file) is
    transformers' float32 one, on the same token ids."""
    import llama_cpp
    import numpy as np
    import torch

    from memorag.generation.llamacpp import LlamaCppGenerator, runtime_gguf
    from memorag.models import load_causal_lm

    ids = LlamaCppGenerator(model, n_threads=threads).prompt_ids(messages)  # LocalGenerator's ids too (tested)
    with torch.no_grad():
        reference = load_causal_lm(model)[0](torch.tensor([ids])).logits[0].argmax(-1).numpy()
    shares = {}
    for weights in ("float16", "file"):
        llama = llama_cpp.Llama(str(runtime_gguf(model, weights)), n_ctx=len(ids) + 8, n_threads=threads,
                                n_threads_batch=threads, logits_all=True, verbose=False)
        llama.eval(ids)
        shares[weights] = round(float((np.asarray(llama.scores[: len(ids)]).argmax(-1) == reference).mean()), 4)
    return shares


def table(result: dict[str, Any]) -> str:
    header = f"| generator | load s | time to first token s | answer s ({result['max_new_tokens']} new) |"
    rows = [header + " decode tokens/s |", "|---|---:|---:|---:|---:|"]
    for name, r in result["generators"].items():
        rows.append(f"| {name} | {r['load_s']} | {r['median_ttft_s']} | {r['median_answer_s']} | "
                    f"{r['median_decode_tokens_per_s']} |")
    rows.append(f"\n{result['model']}, {result['threads']} threads, medians over {result['prompts']} prompts of "
                f"{result['prompt_tokens']} tokens; the same answer as transformers' (local): "
                + ", ".join(f"{name} {same}" for name, same in result["same_answers"].items())
                + "; the top next token equals transformers' at "
                + ", ".join(f"{share:.1%} (llamacpp-{w})" for w, share in result["top_token_agreement"].items())
                + f" of the first prompt's {result['prompt_tokens'][0]} positions.")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="a GGUF model both backends load")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=4, choices=range(1, len(QUESTIONS) + 1))
    parser.add_argument("--evidence-tokens", type=int, default=600)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--write", nargs="?", type=Path, const=Path("docs/benchmarks.md"), default=None)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    prompts = rag_prompts(args.prompts, args.evidence_tokens)
    load_before = os.getloadavg()[0]
    from memorag.generation.llamacpp import runtime_gguf

    runtime_gguf(args.model, "float16")  # the copy written before anything is timed (a one-time cost)
    generators = {backend: run(backend, args.model, args.threads, prompts, args.max_new_tokens)
                  for backend in ("local", "llamacpp-float16", "llamacpp-file")}
    answers = {name: [r["answer"] for r in g["per_prompt"]] for name, g in generators.items()}
    result = {
        "model": args.model,
        "threads": args.threads,
        "max_new_tokens": args.max_new_tokens,
        "prompts": len(prompts),
        "prompt_tokens": generators["llamacpp-float16"]["prompt_tokens"],
        "same_answers": {name: f"{sum(a == b for a, b in zip(answers['local'], rows))}/{len(prompts)}"
                         for name, rows in answers.items() if name != "local"},  # as transformers' answer
        "top_token_agreement": top_token_agreement(args.model, args.threads, prompts[0]),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after
        "generators": generators,
    }
    emit(result, table(result), "generator_bench.py", args.write, "generators", argv, kind="generators")
    return 0


if __name__ == "__main__":
    sys.exit(main())
