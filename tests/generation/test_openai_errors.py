"""OpenAIGenerator's error handling against a tiny stdlib HTTP server on 127.0.0.1 (success: test_llama_server)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from memorag.errors import GenerationError
from memorag.generation import OpenAIGenerator

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
LONG_ERROR = "overloaded " * 200  # 2,200 chars: the message keeps only the start


class FakeServer(BaseHTTPRequestHandler):
    """Answers by the first path segment: /error500, /long500, /unauthorized, /badjson, /nochoices, /slow."""

    def do_POST(self) -> None:  # http.server calls do_<METHOD>
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        case = self.path.strip("/").split("/")[0]
        if case == "error500":
            self._reply(500, json.dumps({"error": {"message": "model exploded", "type": "server_error"}}))
        elif case == "long500":
            self._reply(500, LONG_ERROR)
        elif case == "unauthorized":
            self._reply(401, json.dumps({"error": {"message": "invalid api key"}}))
        elif case == "badjson":
            self._reply(200, "<html>not json</html>")
        elif case == "nochoices":
            self._reply(200, json.dumps({"choices": []}))
        elif case == "slow":
            time.sleep(1.0)
            self._reply(200, "{}")

    def _reply(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output quiet
        pass


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def generate(base_url: str, **kwargs: object) -> str:
    return OpenAIGenerator(base_url, "test-model", **kwargs).generate(QUESTION, max_new_tokens=8)  # type: ignore[arg-type]


def test_http_500_reports_status_url_and_server_message(fake_url: str) -> None:
    url = f"{fake_url}/error500/v1"
    with pytest.raises(GenerationError) as caught:
        generate(url)
    message = str(caught.value)
    assert f"{url}/chat/completions" in message and "HTTP 500" in message and "model exploded" in message


def test_long_error_body_is_truncated(fake_url: str) -> None:
    with pytest.raises(GenerationError, match="HTTP 500: overloaded") as caught:
        generate(f"{fake_url}/long500/v1")
    assert len(str(caught.value)) < 700 and "..." in str(caught.value)


def test_http_401_points_at_the_api_key(fake_url: str) -> None:
    with pytest.raises(GenerationError, match="invalid api key; check the API key"):
        generate(f"{fake_url}/unauthorized/v1", api_key="wrong")


@pytest.mark.parametrize("case", ["badjson", "nochoices"])
def test_malformed_response_names_the_url(fake_url: str, case: str) -> None:
    url = f"{fake_url}/{case}/v1/chat/completions"
    with pytest.raises(GenerationError, match=f"malformed response from {url}"):
        generate(f"{fake_url}/{case}/v1/")  # trailing slash is dropped


def test_timeout_says_how_to_wait_longer(fake_url: str) -> None:
    with pytest.raises(GenerationError, match="timeout") as caught:
        generate(f"{fake_url}/slow/v1", timeout=0.3)
    assert f"{fake_url}/slow/v1/chat/completions" in str(caught.value)


def test_connection_refused_names_the_url() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(GenerationError, match=f"could not reach {url}/chat/completions .*server is running"):
        generate(url)


def test_prompt_that_cannot_fit_fails_before_any_request() -> None:
    generator = OpenAIGenerator("http://127.0.0.1:9/v1", "m", context_window=64)
    with pytest.raises(GenerationError, match="lower max_new_tokens"):
        generator.generate(QUESTION, max_new_tokens=64)


def test_count_tokens_is_a_four_characters_estimate() -> None:
    generator = OpenAIGenerator("http://127.0.0.1:9/v1", "m")
    assert generator.count_tokens("abcdefghi") == 3
    assert generator.truncate_middle("HEAD" + "x" * 32 + "TAIL", 2) == "HEADTAIL"
