"""OpenAIGenerator: any OpenAI-compatible /chat/completions server (vLLM, llama.cpp, OpenAI), stdlib only.

The server's tokenizer is out of reach, so count_tokens is an estimate, ceil(len(text) / 4), and over-long
prompts are cut in the middle on characters by that estimate. Per-message template tokens are estimated too.
Does not stream, retry, or read the API key from the environment (the CLI does that).
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

from memorag.errors import GenerationError
from memorag.generation.base import (
    Messages,
    check_messages,
    estimate_tokens,
    fit_messages,
    prompt_budget,
    truncate_middle,
)

TEMPLATE_TOKENS_PER_MESSAGE = 8  # role markers and separators the server's chat template adds (estimate)
_BODY_CHARS = 500  # how much of an error body goes into an exception message


class OpenAIGenerator:
    """A Generator that POSTs to {base_url}/chat/completions; base_url usually ends in /v1."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        context_window: int = 8192,
        timeout: float = 120.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model_id = model
        self.context_window = context_window
        self.timeout = timeout
        self._api_key = api_key  # kept private so it does not end up in logs of vars(generator)

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def count_tokens(self, text: str) -> int:
        """An estimate, ceil(len(text) / 4): close for English, low for code and non-Latin scripts."""
        return estimate_tokens(text)

    def truncate_middle(self, text: str, max_tokens: int) -> str:
        """Keep the head and tail of `text` within max_tokens estimated tokens; drop the middle."""
        return truncate_middle(text, max_tokens, self.count_tokens)

    def generate(self, messages: Messages, *, max_new_tokens: int = 128, temperature: float = 0.0) -> str:
        """Answer the chat; raises GenerationError naming the URL when the server cannot be used."""
        check_messages(messages)
        if temperature < 0:
            raise ValueError(f"temperature must be at least 0, not {temperature}")
        budget = prompt_budget(self.context_window, max_new_tokens)
        fitted = fit_messages(messages, budget, self._count_prompt, self.count_tokens, self.truncate_middle)
        payload = {
            "model": self.model_id,
            "messages": fitted,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
        }
        return _parse_answer(self.url, self._post(payload))

    def _count_prompt(self, messages: Messages) -> int:
        return sum(self.count_tokens(m["content"]) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)

    def _post(self, payload: dict[str, Any]) -> bytes:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(
            self.url, data=json.dumps(payload).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:  # before URLError: HTTPError is one
            raise GenerationError(_http_error_message(self.url, exc.code, exc.read())) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise GenerationError(self._failure_message(exc.reason)) from exc
            raise GenerationError(
                f"could not reach {self.url} ({exc.reason}); check that the server is running and that "
                "base_url is right (e.g. http://127.0.0.1:8000/v1)"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, truncated bodies
            raise GenerationError(self._failure_message(exc)) from exc

    def _failure_message(self, exc: BaseException) -> str:
        return (
            f"POST {self.url} failed ({exc.__class__.__name__}: {exc}); check that the server is up, "
            f"or raise timeout (now {self.timeout} s) for slow models"
        )


def _http_error_message(url: str, status: int, body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    try:  # OpenAI's envelope: {"error": {"message": ...}}
        detail = json.loads(text)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        detail = text
    detail = str(detail).strip()
    if len(detail) > _BODY_CHARS:
        detail = detail[:_BODY_CHARS] + "..."
    if status in (401, 403):
        hint = "check the API key"
    elif status == 404:
        hint = "check that base_url ends in /v1 and that the model name is one the server serves"
    else:
        hint = "check the server's log and that the request fits its context window"
    return f"POST {url} failed with HTTP {status}: {detail or '(empty body)'}; {hint}"


def _parse_answer(url: str, body: bytes) -> str:
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        snippet = body[:200].decode("utf-8", errors="replace")
        raise GenerationError(
            f"malformed response from {url} ({exc.__class__.__name__}): {snippet!r}; check that base_url "
            "points at an OpenAI-compatible /v1 endpoint"
        ) from exc
    if content is None:
        return ""
    if not isinstance(content, str):
        raise GenerationError(f"malformed response from {url}: message content is {type(content).__name__}")
    return content.strip()
