"""Embedder helpers (no weights) and, marked slow, the real MiniLM embedder end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memorag.config import RetrievalConfig
from memorag.errors import UnknownModelError
from memorag.retrieval import Embedder, Retriever, SentenceTransformerEmbedder
from memorag.retrieval.embedders import check_texts, normalize_rows
from memorag.types import Document


def test_check_texts_refuses_a_bare_string_and_non_strings() -> None:
    assert check_texts(("a", "b")) == ["a", "b"]
    with pytest.raises(TypeError, match="wrap it"):
        check_texts("one text")
    with pytest.raises(TypeError, match="int"):
        check_texts(["fine", 3])  # type: ignore[list-item]


def test_normalize_rows_gives_unit_float32_rows_and_keeps_zeros() -> None:
    rows = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float64))
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


PARAGRAPHS = [
    (
        "Photosynthesis lets plants turn sunlight, water and carbon dioxide into glucose and oxygen. "
        "Chlorophyll in the leaves absorbs mostly red and blue light."
    ),
    (
        "The French Revolution began in 1789 with the storming of the Bastille in Paris. "
        "It ended the monarchy of Louis XVI and spread ideas of citizenship across Europe."
    ),
    (
        "A sourdough starter is a culture of wild yeast and lactic acid bacteria. "
        "Bakers feed it flour and water every day to keep the bread rising."
    ),
    (
        "Black holes form when massive stars collapse; not even light escapes their event horizon. "
        "Astronomers imaged the shadow of one in the galaxy M87 in 2019."
    ),
]


@pytest.mark.slow
def test_minilm_retrieves_the_paragraph_on_topic(tmp_path: Path) -> None:
    embedder = SentenceTransformerEmbedder("minilm")
    assert isinstance(embedder, Embedder) and embedder.dimension == 384 and embedder.max_tokens == 256
    assert SentenceTransformerEmbedder("minilm").model is embedder.model  # loaded once per process
    assert embedder.embed([]).shape == (0, 384)
    vectors = embedder.embed(["hello", "Größe über alles", "你好世界"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)

    retriever = Retriever(embedder, RetrievalConfig())
    retriever.build([Document(f"p{i}", text) for i, text in enumerate(PARAGRAPHS)])
    questions = {
        "How do leaves make sugar from light?": 0,
        "When was the Bastille stormed?": 1,
        "How do I keep my bread starter alive?": 2,
        "What was photographed in galaxy M87?": 3,
    }
    for question, expected in questions.items():
        best = max(retriever.retrieve([question], top_k=1), key=lambda passage: passage.score)
        assert best.chunk.doc_id == expected, question

    with pytest.raises(UnknownModelError, match="could not load embedder"):
        SentenceTransformerEmbedder(str(tmp_path))  # a directory with no model in it


@pytest.mark.slow
def test_the_light_minilm_embedder_equals_sentence_transformers() -> None:
    """make_embedder('minilm') skips sentence-transformers yet gives its vectors and chunking tokenizer."""
    import subprocess
    import sys

    from memorag.retrieval import MeanPoolingEmbedder, make_embedder

    light = make_embedder("minilm", batch_size=3, runtime="torch")
    reference = SentenceTransformerEmbedder("minilm", batch_size=3)
    assert isinstance(light, MeanPoolingEmbedder) and isinstance(light, Embedder)
    assert (light.dimension, light.max_tokens) == (reference.dimension, reference.max_tokens)
    texts = [*PARAGRAPHS, "short", "Größe über alles 你好世界", " ".join(PARAGRAPHS * 6)]  # the last one is cut at 256
    np.testing.assert_allclose(light.embed(texts), reference.embed(texts), atol=2e-5)
    assert light.tokenizer(texts[0])["input_ids"] == reference.tokenizer(texts[0])["input_ids"]
    code = ("import sys; from memorag.retrieval import make_embedder; make_embedder('minilm').embed(['x']); "
            "print('sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_the_onnx_embedder_equals_the_torch_one_and_embeds_a_question_without_torch(tmp_path: Path) -> None:
    """make_embedder's CPU default: onnxruntime on an export in the weights cache, the same vectors, no torch."""
    import subprocess
    import sys

    from memorag.retrieval import MeanPoolingEmbedder, OnnxEmbedder, make_embedder

    onnx, torch_twin = make_embedder("minilm", batch_size=3), make_embedder("minilm", batch_size=3, runtime="torch")
    assert isinstance(onnx, OnnxEmbedder) and isinstance(torch_twin, MeanPoolingEmbedder)
    assert (onnx.dimension, onnx.max_tokens, onnx.special_tokens) == (384, 256, 2)
    texts = [*PARAGRAPHS, "short", "Größe über alles 你好世界", " ".join(PARAGRAPHS * 6)]  # the last one is cut at 256
    np.testing.assert_allclose(onnx.embed(texts), torch_twin.embed(texts), atol=2e-5)
    assert onnx.embed([]).shape == (0, 384)
    assert onnx.tokenizer(texts[0])["input_ids"] == torch_twin.tokenizer(texts[0])["input_ids"]  # chunking's
    code = ("import sys; from memorag.retrieval import make_embedder; v = make_embedder('minilm').embed(['x']); "
            "print(v.shape, 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(1, 384) False False" and out.stderr == ""
    with pytest.raises(ValueError, match="runtime must be one of"):
        make_embedder("minilm", runtime="tensorflow")
