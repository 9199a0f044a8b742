"""The OpenAI chat API as far as memorag serves it: /v1/models and /v1/chat/completions (stream or not).

Fields OpenAI clients send that memorag does not use (temperature, top_p, n, stop, tools, user, ...) are
accepted and ignored: the store's generator decodes greedily, one choice. `mode`, `top_k` and `recall` are
memorag's extensions (the openai package sends them with `extra_body={...}`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memorag.server.ask.protocol import MAX_NEW_TOKENS, Mode, Strategy


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None  # a string, or parts such as {"type": "text", "text": ...}


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(max_length=200)  # the store's name (GET /v1/models)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    mode: Mode = "memorag"
    top_k: int | None = Field(None, ge=1, le=20)
    recall: Strategy | None = None


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "memorag"


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


class ChatChoiceMessage(BaseModel):
    role: str = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatChoiceMessage
    finish_reason: str = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    memorag: dict[str, Any]  # extension: the answer's citations and evidence sources
