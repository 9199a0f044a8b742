"""Training data: reading QA files, the seeded split, SFT targets, and build-data on two examples with the tiny
Llama, a hashing embedder and a scripted generator (records, resume, refusal of other settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memorag.config import GenerationConfig, RetrievalConfig
from memorag.eval.datasets import EvalExample
from memorag.memory.prompts import prompt_frame
from memorag.training import data
from memorag.training.build import BuildParts, BuildSettings, build_data, clues_of
from memorag.training.data import rank_pair

ROWS = [
    {"id": "q1", "question": "Where is the tide ledger kept?", "answers": ["green iron chest"],
     "context": "Quillon is a small port. The harbour master keeps the tide ledger in a green iron chest. "
                "Ferries leave at dawn. The chest is painted every spring."},
    {"id": "q2", "question": "Where was Orla born?", "answers": ["Quillon"],
     "context": "Orla pilots the night ferry. She was born in Quillon in a storm. Her boat is blue.",
     "evidence": ["She was born in Quillon in a storm."]},
    {"id": "q3", "question": "What colour is the boat?", "answers": "blue",
     "context": "The boat is blue. It was built in 1910. Its sails are white."},
    {"id": "q4", "question": "When do ferries leave?", "answers": ["at dawn"],
     "context": "Ferries leave at dawn. The quay is long. Gulls follow the ferries."},
]


@pytest.fixture
def qa_file(tmp_path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return path


def test_user_rows_and_longbench_rows_are_read(qa_file, tmp_path):
    examples = data.read_qa_examples(qa_file)
    assert [e.id for e in examples] == ["q1", "q2", "q3", "q4"] and examples[2].answers == ("blue",)
    assert examples[1].extra["evidence"] == ["She was born in Quillon in a storm."]
    longbench = tmp_path / "musique.jsonl"
    longbench.write_text(json.dumps({"_id": "m1", "input": "Q?", "context": "C.", "answers": ["A"]}) + "\n")
    assert data.read_qa_examples(longbench)[0].question == "Q?"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "Q?", "answers": ["A"]}) + "\n")
    with pytest.raises(data.DatasetFormatError, match="context"):
        data.read_qa_examples(bad)


def test_split_is_seeded_by_id_and_independent_of_order():
    ids = [f"id{i}" for i in range(40)]
    train, held = data.split_ids(ids, 0.25, seed=3)
    assert len(held) == 10 and not set(train) & set(held) and set(train) | set(held) == set(ids)
    _, held_reversed = data.split_ids(ids[::-1], 0.25, seed=3)
    assert set(held_reversed) == set(held)
    assert set(data.split_ids(ids, 0.25, seed=4)[1]) != set(held)
    with pytest.raises(ValueError):
        data.split_ids(ids, 1.0, 0)


def test_questions_about_one_context_stay_on_one_side():
    ids = [f"q{i}" for i in range(30)]
    contexts = [f"document {i // 3}" for i in range(30)]  # ten documents, three questions each
    train, held = data.split_ids(ids, 0.5, 0, contexts)
    assert len(held) == 15 and set(train) | set(held) == set(ids)
    side = {i: i in held for i in ids}
    assert all(side[ids[i]] == side[ids[i - i % 3]] for i in range(30))
    unique = [f"text {i}" for i in range(30)]  # a context each: the split by id, unchanged
    assert data.split_ids(ids, 0.5, 0, unique) == data.split_ids(ids, 0.5, 0)
    with pytest.raises(ValueError, match="groups"):
        data.split_ids(ids, 0.5, 0, contexts[:5])


def test_train_split_prints_the_sides_build_data_uses(tmp_path):
    from click.testing import CliRunner

    from memorag.cli import cli

    rows = [{"id": f"q{i}", "context": f"Document {i // 2}. Some text.", "question": "Q?", "answers": ["A"]}
            for i in range(8)]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    held = CliRunner().invoke(cli, ["train", "split", "--data", str(path)])
    train = CliRunner().invoke(cli, ["train", "split", "--data", str(path), "--side", "train"])
    assert held.exit_code == 0 and train.exit_code == 0, held.output + train.output
    expected = data.split_examples(data.read_qa_examples(path), 0.5, 0)
    assert train.output.strip().split(",") == expected[0] and held.output.strip().split(",") == expected[1]
    assert len(expected[1]) == 4 and all((f"q{2 * n}" in expected[1]) == (f"q{2 * n + 1}" in expected[1]) for n in range(4))


def test_sft_targets_are_answer_sentences_or_given_evidence():
    first, second = (EvalExample(r["id"], r["question"], r["context"], tuple(r["answers"]), "qa", 0,
                                 {"evidence": r["evidence"]} if "evidence" in r else {}) for r in ROWS[:2])
    targets = data.sft_targets(first)
    assert targets[0] == {"id": "q1", "question": ROWS[0]["question"], "task": "span",
                          "target": "The harbour master keeps the tide ledger in a green iron chest.",
                          "source": "answer-sentence"}
    assert targets[1]["task"] == "answer" and targets[1]["target"] == "green iron chest"
    assert data.sft_targets(second)[0]["source"] == "evidence"
    assert data.answer_sentences("No answer here. None.", ["chest"], "Where?") == []


MULTIHOP = (
    "The Glass Harbour is a novel written by Mira Solberg. It sold well in Norway. "
    "Mira Solberg studied at Bergen Cathedral School before moving to Oslo. "
    "The Glass Harbour was adapted for radio in 1990. Oslo is the capital of Norway."
)


def test_the_bridge_sentence_links_the_question_to_the_answer_sentence():
    question = "Where did the author of The Glass Harbour study?"
    assert data.bridge_sentence(MULTIHOP, ["Bergen Cathedral School"], question) == (
        "The Glass Harbour is a novel written by Mira Solberg."  # not the radio sentence: no bridge word
    )
    assert data.bridge_sentence(MULTIHOP, ["nowhere to be found"], question) is None
    example = EvalExample("m1", question, MULTIHOP, ("Bergen Cathedral School",), "musique", 0, {})
    spans = [(t["source"], t["target"]) for t in data.sft_targets(example) if t["task"] == "span"]
    assert spans == [("answer-sentence", "Mira Solberg studied at Bergen Cathedral School before moving to Oslo."),
                     ("bridge-sentence", "The Glass Harbour is a novel written by Mira Solberg.")]


def test_ranking_and_clue_parsing():
    assert rank_pair([{"f1": 0.0, "answer_in_evidence": True}, {"f1": 0.5, "answer_in_evidence": False},
                      {"f1": 0.0, "answer_in_evidence": False}]) == (1, 2)
    assert rank_pair([{"f1": 0.2, "answer_in_evidence": True}] * 3) == (None, None)
    assert rank_pair([{"f1": 0.0, "answer_in_evidence": True}, {"f1": 0.5, "answer_in_evidence": False},
                      {"f1": 0.0, "answer_in_evidence": False}], rank_by="evidence") == (0, 2)
    assert clues_of("- The chest is green.\n- The chest is green.\nok", "span", "Q?") == ["The chest is green."]
    assert clues_of("Quillon\nsecond line", "answer", "Q?") == ["Quillon"]


def test_read_jsonl_drops_a_damaged_last_line_only(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": ')
    assert data.read_jsonl(path) == [{"id": "a"}, {"id": "b"}]
    path.write_text('{"id": \n{"id": "b"}\n')
    with pytest.raises(data.TrainingDataError, match="line 1"):
        data.read_jsonl(path)


@pytest.fixture
def build(tiny, tiny_memory, hashing_embedder, echo_generator, qa_file, tmp_path):
    model, tokenizer = tiny
    parts = BuildParts(model, tokenizer, hashing_embedder, echo_generator)
    retrieval = RetrievalConfig(embedder="hashing", chunk_tokens=16, chunk_overlap=4)
    settings = BuildSettings(candidates=3, temperature=1.0, held_out=0.5, seed=0)
    out = tmp_path / "data"

    def run(**changes):
        chosen = BuildSettings(**{**settings.__dict__, **changes}) if changes else settings
        return build_data(qa_file, data.read_qa_examples(qa_file), out, parts, chosen, tiny_memory, retrieval,
                          GenerationConfig())

    return run, out, parts


def test_build_data_writes_scored_candidates_for_the_train_split_only(build):
    run, out, parts = build
    summary = run()
    info = data.read_build(out)
    train, held = info["split"]["train"], info["split"]["held_out"]
    assert len(train) == len(held) == 2
    assert (out / data.HELD_OUT_FILE).read_text().strip() == ",".join(held)
    assert set(data.read_contexts(out)) == set(train)
    records = data.read_jsonl(out / data.PREFERENCES_FILE)
    assert summary["examples"] == 2 and summary["records"] == len(records) == 6 and summary["errors"] == 0
    for record in records:
        assert record["id"] in train and record["task"] in ("span", "question", "answer")
        assert len(record["candidates"]) == 3
        assert (record["chosen"], record["rejected"]) == rank_pair(record["candidates"])
        assert {"text", "clues", "answer", "f1", "answer_in_evidence", "chunks"} <= set(record["candidates"][0])
        assert record["question_only"]["chunks"]
    sft = data.read_jsonl(out / data.SFT_FILE)
    assert {row["id"] for row in sft} == set(train) and {"span", "answer"} <= {row["task"] for row in sft}
    frame = prompt_frame(parts.tokenizer)
    examples = data.sft_examples(out, frame)
    assert examples and all(e.prompt.startswith(frame.task_suffix("span", question="")[:10]) for e in examples)
    assert len(data.preference_pairs(out, frame)) == summary["pairs"]
    by_evidence = data.preference_pairs(out, frame, rank_by="evidence")
    assert len(by_evidence) == sum(rank_pair(r["candidates"], "evidence")[0] is not None for r in records)
    assert set(records[-1]["seconds"]) == {"memorize", "sample", "answer"}


def test_build_data_resumes_where_it_stopped(build):
    run, out, parts = build
    run()
    records = data.read_jsonl(out / data.PREFERENCES_FILE)
    calls = parts.generator.calls
    assert run()["records"] == 6 and parts.generator.calls == calls  # all done: nothing is redone
    last = records[-1]["id"]  # as if interrupted while writing the second example's records
    kept = [r for r in records if r["id"] != last] + [next(r for r in records if r["id"] == last)]
    (out / data.PREFERENCES_FILE).write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"id": "tr')
    rerun = run()
    assert rerun["records"] == 6 and parts.generator.calls > calls
    again = data.read_jsonl(out / data.PREFERENCES_FILE)
    assert [r["candidates"][0]["text"] for r in again] == [r["candidates"][0]["text"] for r in records]  # seeded
    assert len(data.read_jsonl(out / data.CONTEXTS_FILE)) == 2  # the interrupted example's context once
    assert [(r["id"], r["task"]) for r in again] == [(r["id"], r["task"]) for r in records]


def test_build_data_refuses_a_directory_built_with_other_settings(build):
    run = build[0]
    run()
    with pytest.raises(data.TrainingDataError, match="other input or settings"):
        run(candidates=4)
