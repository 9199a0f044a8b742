"""Other ways for the memory model to judge a pool, measured offline on the pools `memorag eval` recorded.

The product's judge scores a passage by the mean log-probability of the question after it (query likelihood,
`ql`: the scores the eval recorded). This re-scores each recorded pool (the same passages, in the retriever's
order) three other ways with the same model (SmolLM2-135M, the memory model):

- `pmi`: how much the question raises the passage's own likelihood, the mean over the passage's tokens of
  log p(token | "Question: q\\nPassage:" + earlier tokens) - log p(token | "Passage:" + earlier tokens): a
  passage that is likely anyway (boilerplate, lists of names) gains nothing.
- `ql_max`: the question's likelihood after each 96-token piece of the passage (every 64 tokens; the product's
  judge on the piece), the best piece: a short answer sentence is not diluted by the rest of its chunk.
- `chat`: the product's query likelihood with the prompt in the model's chat template (the UPR instruction as
  the user's turn, the question as the assistant's), for an instruction-tuned judge such as SmolLM2-Instruct.
- rank fusions: each passage ranked by the sum of its ranks under the named scorings (where all were computed).

`--scorings` picks which of `pmi`, `ql_max` and `chat` to compute (default `pmi ql_max`).

R@3 / R@5: an answer-bearing chunk among the first 3 / 5. Won/lost: per question at R@3 against `ql`, two-sided
exact sign test p. Retrieval only; passages cut to the judge's 192 tokens as the product does.

    python benchmarks/judge_variants.py runs/ev/*-train --method "memorag:kind=none,recall=none,pool=10" \\
        --section judge-variants-train --write

Prints one JSON object; --write puts the table into docs/benchmarks.md between `<!-- evidence:NAME:start -->`
and `<!-- evidence:NAME:end -->`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from heldout_report import emit
from judge_fusion import KS, duel, judged_rows, recall

from memorag.retrieval.judge import judged_order

SCORINGS = ("pmi", "ql_max", "chat")
FUSIONS = {"ql+ql_max": ("ql", "ql_max"), "ql+pmi": ("ql", "pmi"), "ql+pmi+ql_max": ("ql", "pmi", "ql_max"),
           "ql+chat": ("ql", "chat")}
CHAT_INSTRUCTION = "Passage: {passage}\n\nPlease write a question based on this passage."
PIECE, STRIDE = 96, 64


class Rescorer:
    """The memory model's other scorings of a pool (see the module's docstring)."""

    def __init__(self, threads: int | None) -> None:
        import torch

        from memorag.config import JudgeConfig
        from memorag.models import load_causal_lm
        from memorag.retrieval.judge import QueryLikelihoodJudge

        if threads:
            torch.set_num_threads(threads)
        self.model, self.tokenizer = load_causal_lm("smollm2")
        self.judge = QueryLikelihoodJudge(self.model, self.tokenizer, JudgeConfig())
        self._pad = self.tokenizer.pad_token_id
        self._alone: dict[tuple[str, int], Any] = {}  # (store, chunk id) -> log p(passage tokens | "Passage:")

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def target_logprobs(self, rows: Sequence[tuple[list[int], list[int]]]) -> list[Any]:
        """log p(each target token | context and the target's earlier tokens), one tensor per (context, target);
        right-padded batches of the judge's size, so a row's scores do not depend on the others."""
        import torch

        out: list[Any] = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]) + len(rows[i][1]))
        size = self.judge.config.batch_size
        with torch.no_grad():
            for start in range(0, len(order), size):
                batch = order[start : start + size]
                seqs = [rows[i][0] + rows[i][1] for i in batch]
                ids = torch.full((len(seqs), max(map(len, seqs))), self._pad, dtype=torch.long)
                mask = torch.zeros_like(ids)
                for j, seq in enumerate(seqs):
                    ids[j, : len(seq)], mask[j, : len(seq)] = torch.tensor(seq), 1
                logprobs = self.model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
                for j, i in enumerate(batch):
                    context, target = rows[i]
                    positions = torch.arange(len(context) - 1, len(context) + len(target) - 1)
                    out[i] = logprobs[j, positions, torch.tensor(target)]
        return out

    def scores(self, question: str, texts: list[str], keys: list[tuple[str, int]],
               scorings: Sequence[str]) -> dict[str, list[float]]:
        cut = self.judge.config.passage_tokens
        passages = [self.ids(text.strip())[:cut] for text in texts]
        found: dict[str, list[float]] = {}
        if "pmi" in scorings:
            found["pmi"] = self.pmi(question, passages, keys)
        if "ql_max" in scorings:
            found["ql_max"] = self.best_piece(question, passages)
        if "chat" in scorings:
            found["chat"] = self.chat(question, passages)
        return found

    def pmi(self, question: str, passages: list[list[int]], keys: list[tuple[str, int]]) -> list[float]:
        given = self.target_logprobs([(self.ids(f"Question: {question.strip()}\nPassage:"), p) for p in passages])
        missing = [i for i, key in enumerate(keys) if key not in self._alone]
        alone = self.target_logprobs([(self.ids("Passage:"), passages[i]) for i in missing])
        self._alone.update({keys[i]: lp for i, lp in zip(missing, alone)})
        return [float((g - self._alone[key]).mean()) for g, key in zip(given, keys)]

    def best_piece(self, question: str, passages: list[list[int]]) -> list[float]:
        pieces, owners = [], []
        for i, tokens in enumerate(passages):
            for start in range(0, max(len(tokens) - (PIECE - STRIDE), 1), STRIDE):
                pieces.append(self.tokenizer.decode(tokens[start : start + PIECE], skip_special_tokens=True))
                owners.append(i)
        best = [float("-inf")] * len(passages)
        for owner, score in zip(owners, self.judge.score(question, pieces)):
            best[owner] = max(best[owner], score)
        return best

    def chat(self, question: str, passages: list[list[int]]) -> list[float]:
        asked = self.ids(question.strip())
        rows = []
        for tokens in passages:
            turn = [{"role": "user", "content": CHAT_INSTRUCTION.format(
                passage=self.tokenizer.decode(tokens, skip_special_tokens=True).strip())}]
            prompt = self.tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=True,
                                                        return_dict=False)
            rows.append((list(prompt), asked))
        return [float(lp.mean()) for lp in self.target_logprobs(rows)]


def ranks(scores: Sequence[float]) -> list[int]:
    """1 for the highest score; ties keep the pool's order (the judge's own order, `judged_order`)."""
    rank = [0] * len(scores)
    for position, index in enumerate(judged_order(scores), start=1):
        rank[index] = position
    return rank


def hits(scores: Sequence[float], gold: Sequence[bool]) -> dict[str, float]:
    order = judged_order(scores)
    return {k: float(any(gold[i] for i in order[: int(k)])) for k in KS}


def measure(folders: list[Path], method: str, threads: int | None, scorings: Sequence[str]) -> dict[str, Any]:
    from memorag import MemoRAG

    rows = judged_rows(folders, method)
    if not rows:
        raise SystemExit(f"no rows of {method!r} with a recorded pool in {[str(f) for f in folders]}")
    rescorer = Rescorer(threads)
    per_question: dict[str, dict[str, dict[str, float]]] = {}
    seconds: list[float] = []
    stores: dict[Path, dict[int, str]] = {}
    for qid, (folder, row) in rows.items():
        store = folder / row["store"]["dir"]
        if store not in stores:
            stores[store] = {chunk.chunk_id: chunk.text for chunk in MemoRAG.load(store).retriever.chunks}
        pool = row["pool"]
        gold = [bool(answer) for _, _, answer in pool]
        started = time.perf_counter()
        scored = {"ql": [float(score) for _, score, _ in pool], "pool order": [-i for i in range(len(pool))]}
        scored |= rescorer.scores(row["question"], [stores[store][c] for c, _, _ in pool],
                                  [(str(store), c) for c, _, _ in pool], scorings)
        seconds.append(time.perf_counter() - started)
        ranked = {name: ranks(s) for name, s in scored.items()}
        scored |= {name: [-sum(ranked[p][i] for p in parts) for i in range(len(pool))]
                   for name, parts in FUSIONS.items() if all(part in ranked for part in parts)}
        per_question[qid] = {name: hits(s, gold) for name, s in scored.items()}
        print(f"{len(per_question)}/{len(rows)} {qid} {seconds[-1]:.1f} s", file=sys.stderr, flush=True)
    by_scoring = {name: {qid: q[name] for qid, q in per_question.items()} for name in next(iter(per_question.values()))}
    table = [{"scoring": name, "n": len(mine), **recall(mine), "vs ql": duel(mine, by_scoring["ql"])}
             for name, mine in by_scoring.items()]
    return {"method": method, "rows": table, "rescore_s_per_question": round(sorted(seconds)[len(seconds) // 2], 1),
            "per_question": {qid: {n: h["3"] for n, h in q.items()} for qid, q in per_question.items()}}


def markdown(result: dict[str, Any]) -> str:
    head = (f"Pools of `{result['method']}`; re-scoring took {result['rescore_s_per_question']} s per question "
            "(median).")
    lines = [head, "", "| scoring | n | R@3 % | R@5 % | R@3 won/lost (p) vs `ql` |", "|---|---:|---:|---:|---:|"]
    for row in result["rows"]:
        duel = row["vs ql"]
        lines.append(f"| `{row['scoring']}` | {row['n']} | {row['R@3']} | {row['R@5']} | "
                     f"{duel['won']}/{duel['lost']} ({duel['p']:.2f}) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="memorag eval folders whose judged rows recorded pools")
    parser.add_argument("--method", default="memorag:kind=none,recall=none,pool=10",
                        help="the judged method's label, as in the eval's --methods")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--scorings", nargs="+", choices=SCORINGS, default=["pmi", "ql_max"])
    parser.add_argument("--section", default="judge-variants")
    parser.add_argument("--write", type=Path, nargs="?", const=Path("docs/benchmarks.md"), default=None)
    args = parser.parse_args(argv)
    result = measure(args.runs, args.method, args.threads, args.scorings)
    emit(result, markdown(result), "judge_variants.py", args.write, args.section, argv, kind="evidence")


if __name__ == "__main__":
    main()
