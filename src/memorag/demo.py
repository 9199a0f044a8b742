"""`make demo` / `python -m memorag.demo`: the whole pipeline on a long real text that ships with CPython.

The text is a slice of about 10k tokens (more than SmolLM2's 8k window) of the Python Language Reference
(`pydoc_data.topics`, written by the Python documentation authors). The demo memorizes it into a store, loads
the store back as a user would, and answers two questions in `memorag` mode, printing the evidence the judge
chose, the generator's answer and the evidence sentence the judge ranks first (the quote answer,
`--answer quote`): with a 135M generator, trust the quote and its passage, and read the generated answer as a
draft.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEMO_QUESTIONS = (
    "What does the nonlocal statement do?",
    "What happens when a pass statement is executed?",
)


def reference_slice(max_chars: int = 45_000, first_topic: str = "import") -> str:
    """Topics of the Language Reference in alphabetical order from `first_topic`, up to `max_chars`."""
    from pydoc_data.topics import topics

    names = sorted(topics)
    parts, size = [], 0
    for name in names[names.index(first_topic) :]:
        if size + len(topics[name]) > max_chars:
            break
        parts.append(topics[name])
        size += len(topics[name]) + 2
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("stores/python-reference"))
    parser.add_argument("--chars", type=int, default=45_000, help="size of the slice in characters")
    args = parser.parse_args()

    from memorag import MemoRAG

    source = args.store.parent / "python-reference.txt"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(reference_slice(args.chars), encoding="utf-8")
    print(f"memorizing {source} ({source.stat().st_size:,} bytes) into {args.store} ...")
    rag = MemoRAG()
    timings = rag.memorize([source], store=args.store, progress=True, overwrite=True)  # the demo's own store
    described = rag.memory.describe()
    print(f"memory: {described['tokens_read']} tokens -> {described['entries']} entries at beta {described['beta']}")
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))

    started = time.perf_counter()
    rag = MemoRAG.load(args.store)
    print(f"loaded the store in {time.perf_counter() - started:.1f}s (models already loaded in this process)")
    from memorag.generation.quote import best_quote, quote_text

    for question in DEMO_QUESTIONS:
        answer = rag.ask(question)
        print(f"\nQ: {question}")
        for clue in answer.clues:
            print(f"  clue [{clue.kind}] {clue.text}")
        for number, passage in enumerate(answer.evidence, 1):
            snippet = " ".join(passage.text.split())[:120]
            print(f"  [{number}] {Path(passage.source).name}[{passage.chunk.start}:{passage.chunk.end}] {snippet}")
        started = time.perf_counter()
        quote = quote_text(best_quote(question, answer.evidence, rag.judge(), [d.text for d in rag.documents]))
        quoted = time.perf_counter() - started
        print(f"quote (the judge's best evidence sentence; trust this): {quote}")
        print(f"generated (SmolLM2-135M; a draft): {answer.answer}")
        print("  (" + ", ".join(f"{k} {v:.1f}s" for k, v in answer.timings.items()) + f", quote {quoted:.1f}s)")


if __name__ == "__main__":
    main()
