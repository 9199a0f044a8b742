"""The self-supervised span-recall builder: targets are sentences of the text, questions hide one of their names
or numbers, the QA split keeps held-out contexts out, and the output trains with `memorag train sft`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from memorag.cli import cli
from memorag.config import MemoryConfig
from memorag.training import data
from memorag.training.selfsup import (
    BLANK,
    SelfSupSettings,
    answer_candidates,
    build_selfsup,
    contexts_from_qa,
    make_question,
    names,
    split_text,
    targets_for_context,
)

TEXT = (
    "Quillon is a small fishing port on a windy coast. The harbour master keeps the tide ledger in a green iron "
    "chest. Ferries leave the north quay at dawn. The lighthouse was rebuilt in 1910 by the Admiralty of Quillon. "
    "Orla pilots the night ferry across the bay to Marrow Island. Her boat carries 12 passengers and a dog. "
    "The crossing takes two hours in calm weather. A storm in 1987 sank the old ferry Bright Gull near the reef."
)


def test_every_target_is_a_sentence_of_the_text_and_the_question_hides_its_answer():
    rows = targets_for_context("quillon", TEXT, SelfSupSettings(per_context=6))
    assert len(rows) >= 4
    for row in rows:
        assert row["target"] in TEXT and row["target"] in data.sentences(TEXT)
        assert row["hidden"] in row["target"]
        assert row["hidden"].casefold() not in row["question"].casefold().replace(BLANK, "")
        assert row["task"] == "span" and row["id"] == "quillon"
    cloze = [r for r in rows if r["source"] == "self-supervised:cloze"]
    assert cloze and all(r["question"].count(BLANK) == 1 for r in cloze)
    assert any(r["source"] == "self-supervised:question" for r in rows)
    assert targets_for_context("quillon", TEXT, SelfSupSettings(per_context=6)) == rows  # seeded
    assert targets_for_context("quillon", TEXT, SelfSupSettings(per_context=6, seed=1)) != rows


def test_names_and_numbers_in_several_scripts():
    assert names("A storm in 1987 sank the old ferry Bright Gull near the Bank of England.") == [
        "Bright Gull", "Bank of England"]
    assert ("1987", "year") in answer_candidates("A storm in 1987 sank the old ferry.")
    assert ("12", "number") in answer_candidates("Her boat carries 12 passengers.")
    assert names("Договор подписан в Москве Иваном Петровым.") == ["Москве Иваном Петровым"]
    russian = "Договор подписан в Москве Иваном Петровым в 1998 году. Срок действия договора составляет 5 лет."
    rows = targets_for_context("ru", russian, SelfSupSettings())
    assert len(rows) == 2 and all(r["target"] in russian and r["hidden"] in r["target"] for r in rows)
    assert make_question("Boat has 12.", "12", "number", "question") is None  # one cue word points at nothing


def test_long_texts_are_cut_at_sentence_ends():
    text = " ".join(f"Sentence number {n} ends here." for n in range(400))
    pieces = split_text(text, 1000)
    assert len(pieces) > 5 and all(len(p) <= 1000 for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text


def _qa_file(tmp_path: Path) -> Path:
    rows = [{"id": f"q{n}", "question": "Where?", "answers": ["Quillon"], "context": TEXT + f" Row {n}."}
            for n in range(6)]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_qa_contexts_come_from_the_train_side_only(tmp_path: Path):
    contexts, split = contexts_from_qa(_qa_file(tmp_path), None, 0.5, 0, 12_000)
    train, held = data.split_ids([f"q{n}" for n in range(6)], 0.5, 0)  # build-data's split
    assert (split["train"], split["held_out"]) == (train, held)
    assert sorted(c.rsplit("-", 1)[0] for c, _ in contexts) == sorted(train)


def test_build_writes_sft_data_and_refuses_a_foreign_directory(tmp_path: Path):
    out = tmp_path / "data"
    summary = build_selfsup(out, [("t-0", TEXT)], [], {"seed": 0, "train": [], "held_out": []},
                            SelfSupSettings(), MemoryConfig(beta=8))
    assert summary["sft_targets"] == 4 and summary["contexts"] == 1
    assert data.read_build(out)["settings"]["memory"]["beta"] == 8
    assert data.read_contexts(out) == {"t-0": TEXT}
    assert len(data.read_jsonl(out / data.SFT_FILE)) == 4
    again = build_selfsup(out, [("t-0", TEXT)], [], {"seed": 0, "train": [], "held_out": []},
                          SelfSupSettings(), MemoryConfig(beta=8))
    assert again == summary  # the same command rewrites its own output
    with pytest.raises(data.TrainingDataError, match="other input or settings"):
        build_selfsup(out, [("t-0", TEXT)], [], {"seed": 0, "train": [], "held_out": []},
                      SelfSupSettings(per_context=2), MemoryConfig(beta=8))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(data.TrainingDataError, match="not a training data directory"):
        build_selfsup(foreign, [("t-0", TEXT)], [], {}, SelfSupSettings(), MemoryConfig())
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"
    with pytest.raises(data.TrainingDataError, match="no sentence"):
        build_selfsup(tmp_path / "empty", [("x", "lowercase words only here")], [], {}, SelfSupSettings(),
                      MemoryConfig())
    assert not (tmp_path / "empty").exists() and not (tmp_path / "empty.tmp").exists()


def test_cli_builds_from_texts_and_a_qa_file(tmp_path: Path):
    book = tmp_path / "book.txt"
    book.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "data"
    result = CliRunner().invoke(cli, ["train", "build-selfsup", "--text", str(book), "--data", str(_qa_file(tmp_path)),
                                      "--out", str(out), "--per-context", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["contexts"] == 4 and summary["sft_targets"] == 8  # the book and the 3 train rows
    missing = CliRunner().invoke(cli, ["train", "build-selfsup", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "--text" in missing.output
