"""Documents as first-class (issue 18): what a delete and a replace cost against memorizing the store again, and
how fast each input format is extracted.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/documents_bench.py --write docs/benchmarks.md

Part 1 memorizes `--documents` slices of `--tokens` tokens each of the Python Language Reference (as
pipeline_bench.py) into a store with the embedded defaults (kv memory, SmolLM2-135M, MiniLM), then times, in the
same process on the loaded store: `delete` of one document, `replace` of another by a new file, and what both
cost before per-document segments, memorizing the remaining documents into a new store. Every figure includes
the store write. Part 2 writes a `--pages`-page PDF (fpdf2), a DOCX (python-docx), an HTML page and a Markdown
file of the same text and times `formats.extract` on each (median of 3). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from heldout_report import emit
from pipeline_bench import reference_text


def edits(documents: int, tokens: int) -> dict:
    from memorag import MemoRAG

    text = reference_text(documents * tokens + tokens)
    size = len(text) // (documents + 1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        files = []
        for number in range(documents + 1):
            path = root / f"part-{number}.txt"
            path.write_text(text[number * size : (number + 1) * size], encoding="utf-8")
            files.append(path)
        new_file, files = files[-1], files[:-1]
        store = root / "store"
        started = time.perf_counter()
        MemoRAG().memorize(files, store=store)
        memorize_all = time.perf_counter() - started
        rag = MemoRAG.load(store)
        started = time.perf_counter()
        rag.delete(str(files[1]), store=store)
        delete_s = time.perf_counter() - started
        started = time.perf_counter()
        rag.replace(str(files[2]), new_file, store=store)
        replace_s = time.perf_counter() - started
        remaining = [f for f in files if f not in (files[1], files[2])] + [new_file]
        started = time.perf_counter()
        MemoRAG().memorize(remaining, store=root / "again")
        again_s = time.perf_counter() - started
        segments = len(MemoRAG.load(store).memory.segments)
    return {"documents": documents, "tokens_per_document": tokens, "memorize_all_s": round(memorize_all, 2),
            "delete_s": round(delete_s, 2), "replace_s": round(replace_s, 2),
            "memorize_remaining_again_s": round(again_s, 2), "segments_after": segments}


def sample_files(folder: Path, pages: int) -> dict[str, Path]:
    import docx
    from fpdf import FPDF

    paragraphs = reference_text(pages * 500).split("\n\n")
    per_page = max(1, len(paragraphs) // pages)
    ascii_paragraphs = [p.encode("latin-1", "replace").decode("latin-1") for p in paragraphs]
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, "\n".join(ascii_paragraphs[page * per_page : (page + 1) * per_page])[:2600])
    files = {"pdf": folder / "sample.pdf"}
    pdf.output(str(files["pdf"]))
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    files["docx"] = folder / "sample.docx"
    document.save(str(files["docx"]))
    body = "".join(f"<p>{p}</p>" for p in paragraphs).replace("&", "&amp;")
    files["html"] = folder / "sample.html"
    files["html"].write_text(f"<html><head><title>Reference</title></head><body><article>{body}</article>"
                             "</body></html>", encoding="utf-8")
    files["markdown"] = folder / "sample.md"
    files["markdown"].write_text("# Reference\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    return files


def extraction(pages: int) -> list[dict]:
    from memorag.formats import extract

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, path in sample_files(Path(folder), pages).items():
            seconds = []
            for _ in range(3):
                started = time.perf_counter()
                extracted = extract(path)
                seconds.append(time.perf_counter() - started)
            median = statistics.median(seconds)
            row = {"format": name, "bytes": path.stat().st_size, "chars": len(extracted.text),
                   "seconds": round(median, 4), "chars_per_s": round(len(extracted.text) / median)}
            if extracted.pages:
                row["pages"] = len(extracted.pages)
                row["pages_per_s"] = round(len(extracted.pages) / median, 1)
            rows.append(row)
    return rows


def table(result: dict) -> str:
    e = result["edits"]
    lines = [
        (f"A store of {e['documents']} documents of about {e['tokens_per_document']} tokens each (kv memory, "
         f"SmolLM2-135M, MiniLM, 2 cores), memorized in {e['memorize_all_s']} s. Each row includes the store write."),
        "",
        "| operation | seconds |",
        "|---|---:|",
        f"| delete one document | {e['delete_s']} |",
        f"| replace one document by a new file | {e['replace_s']} |",
        (f"| memorize the remaining {e['documents'] - 1} documents again (a delete before segments) | "
         f"{e['memorize_remaining_again_s']} |"),
        "",
        "Extraction (`memorag.formats.extract`, median of 3):",
        "",
        "| format | file bytes | characters | seconds | characters/s | pages/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["extraction"]:
        lines.append(f"| {row['format']} | {row['bytes']} | {row['chars']} | {row['seconds']} | "
                     f"{row['chars_per_s']} | {row.get('pages_per_s', '')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--skip-edits", action="store_true", help="extraction only (no models)")
    parser.add_argument("--write", type=Path, default=None, help="docs/benchmarks.md: replace its documents table")
    args = parser.parse_args(argv)
    result = {"extraction": extraction(args.pages)}
    if not args.skip_edits:
        result["edits"] = edits(args.documents, args.tokens)
    emit(result, table(result) if "edits" in result else str(result), "documents_bench.py", args.write,
         "documents", argv, kind="bench")


if __name__ == "__main__":
    main()
