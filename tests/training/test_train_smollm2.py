"""End to end on the embedded SmolLM2 and MiniLM through the CLI: build-data on two tiny examples, a few SFT steps,
an adapter that loads into the pipeline and is recorded in the store; self-supervised data from a text trains the
same way (about a minute each on one CPU thread)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from memorag.cli import cli

pytestmark = pytest.mark.slow

ROWS = [
    {"id": "harbour", "question": "Where does the harbour master keep the tide ledger?", "answers": ["green iron chest"],
     "context": "Quillon is a small fishing port on a windy coast. The harbour master keeps the tide ledger in a "
                "green iron chest. Ferries leave the north quay at dawn. The lighthouse was rebuilt in 1910."},
    {"id": "ferry", "question": "Where was Orla the ferry pilot born?", "answers": ["Quillon"],
     "context": "Orla pilots the night ferry across the bay. She was born in Quillon during a winter storm. "
                "Her boat is painted blue and carries twelve passengers. The crossing takes two hours."},
]


def test_build_data_then_sft_gives_an_adapter_the_pipeline_uses(tmp_path):
    source = tmp_path / "qa.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    data_dir, adapter, store = tmp_path / "data", tmp_path / "adapter", tmp_path / "store"
    runner = CliRunner()
    built = runner.invoke(cli, [
        "train", "build-data", "--data", str(source), "--out", str(data_dir), "--held-out", "0",
        "--candidates", "2", "--tasks", "span,answer", "--max-clue-tokens", "12", "--answer-tokens", "8",
        "--chunk-tokens", "24", "--chunk-overlap", "4", "--no-progress", "--json",
    ])
    assert built.exit_code == 0, built.output
    summary = json.loads(built.stdout)
    assert summary["examples"] == 2 and summary["records"] == 4 and summary["errors"] == 0
    sft_rows = [json.loads(line) for line in (data_dir / "sft.jsonl").read_text().splitlines()]
    assert "The harbour master keeps the tide ledger in a green iron chest." in [r["target"] for r in sft_rows]

    trained = runner.invoke(cli, ["train", "sft", "--data", str(data_dir), "--out", str(adapter), "--max-steps", "2",
                                  "--rank", "4", "--no-progress", "--json"])
    assert trained.exit_code == 0, trained.output
    manifest = json.loads(trained.stdout)
    assert manifest["stage"] == "sft" and manifest["metrics"]["steps"] == 2
    assert manifest["base_model"]["name"] == "smollm2" and manifest["base_model"]["fingerprint"].startswith("sha256:")
    assert 0 < manifest["weights"]["bytes"] < 20_000_000

    from memorag import MemoRAG, MemoryConfig
    from memorag.store import read_manifest

    rag = MemoRAG(MemoryConfig(max_clue_tokens=12), memory_adapter=adapter)
    rag.memorize(ROWS[0]["context"], store=store)
    recorded = read_manifest(store)["models"]["memory_adapter"]
    assert recorded == {"name": str(adapter), "fingerprint": manifest["fingerprint"]}
    loaded = MemoRAG.load(store)
    assert loaded.memory_config.adapter == str(adapter)
    assert loaded.memory.answer(ROWS[0]["question"]) == rag.memory.answer(ROWS[0]["question"])


def test_self_supervised_data_trains_an_adapter_without_labels(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text(" ".join(row["context"] for row in ROWS), encoding="utf-8")
    data_dir, adapter = tmp_path / "selfsup", tmp_path / "adapter"
    runner = CliRunner()
    built = runner.invoke(cli, ["train", "build-selfsup", "--text", str(book), "--out", str(data_dir),
                                "--per-context", "3", "--json"])
    assert built.exit_code == 0, built.output
    rows = [json.loads(line) for line in (data_dir / "sft.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(row["target"] in book.read_text() for row in rows)  # 2 sentences hold a name or year
    trained = runner.invoke(cli, ["train", "sft", "--data", str(data_dir), "--tasks", "span", "--out", str(adapter),
                                  "--epochs", "2", "--rank", "4", "--no-progress", "--json"])
    assert trained.exit_code == 0, trained.output
    manifest = json.loads(trained.stdout)
    assert manifest["metrics"]["steps"] == 2 and manifest["data"]["source"]["kind"] == "self-supervised"

    from memorag import MemoRAG, MemoryConfig
    from memorag.recall import RecallConfig

    short = RecallConfig(spans=1, beam_width=2, max_span_tokens=8)  # one short span: the point is that it runs
    rag = MemoRAG(MemoryConfig(max_clue_tokens=12), memory_adapter=adapter, recall=short)
    rag.memorize(ROWS[1]["context"])
    assert rag.recall(ROWS[1]["question"], strategy="copy")  # the adapted model drives grounded recall too

    pointer = tmp_path / "pointer"
    trained = runner.invoke(cli, ["train", "pointer", "--data", str(data_dir), "--out", str(pointer),
                                  "--max-steps", "1", "--rank", "4", "--no-progress", "--json"])
    assert trained.exit_code == 0, trained.output
    manifest = json.loads(trained.stdout)
    assert manifest["stage"] == "pointer" and 0.0 < manifest["metrics"]["target_mass_first"] < 1.0
    rag = MemoRAG(memory_adapter=pointer)
    rag.memorize(ROWS[1]["context"])
    assert rag.recall(ROWS[1]["question"], strategy="attention")
