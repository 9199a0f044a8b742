"""OpenAIGenerator against a real llama-cpp-python OpenAI-compatible server serving the embedded SmolLM2 GGUF."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from memorag.errors import GenerationError
from memorag.generation import OpenAIGenerator
from memorag.models import resolve

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 60.0
N_CTX = 2048


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> float:
    """Poll GET {url}/models until it answers; return the seconds it took, or fail with the server's log."""
    start = time.monotonic()
    while time.monotonic() - start < START_TIMEOUT_S:
        if server.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                json.load(response)
                return time.monotonic() - start
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"llama_cpp.server did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not importable: pip install 'llama-cpp-python[server]' (the dev extra)")
    source = resolve("smollm2")
    assert source.gguf_file is not None
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(Path(source.path) / source.gguf_file),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(N_CTX), "--n_threads", "1", "--verbose", "False",
    ]  # fmt: skip
    # one decoding thread: llama.cpp's threads spin; on a busy 2-core machine 2 threads made a short answer
    # take 60 s instead of under 1 s
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            took = wait_until_up(url, server, log)
            print(f"llama_cpp.server answered after {took:.1f} s")  # shown with pytest -s
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def test_answers_through_the_openai_api(llama_server: str) -> None:
    generator = OpenAIGenerator(llama_server, "smollm2", context_window=N_CTX, timeout=60)
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    answer = generator.generate(messages, max_new_tokens=16)
    assert "Paris" in answer
    assert generator.generate(messages, max_new_tokens=16) == answer  # temperature 0


def test_long_prompt_is_cut_to_the_server_window(llama_server: str) -> None:
    filler = "The weather report said nothing new. " * 400  # ~2,850 real tokens: over the 2,048 window
    messages = [{"role": "user", "content": f"{filler}\nWhat is the capital of France? Answer in one word."}]
    uncut = OpenAIGenerator(llama_server, "smollm2", context_window=100_000)
    with pytest.raises(GenerationError, match="HTTP 400: This model's maximum context length is 2048"):
        uncut.generate(messages, max_new_tokens=16)
    generator = OpenAIGenerator(llama_server, "smollm2", context_window=N_CTX, timeout=60)
    assert "Paris" in generator.generate(messages, max_new_tokens=16)  # the question at the end survives
