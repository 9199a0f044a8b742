"""Stores and documents on the wire."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_TEXTS = 1000  # texts in one JSON request
MAX_FILES = 100  # files in one multipart upload
MAX_SOURCE = 512  # characters of a document's source name


class CreateStore(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)  # checked against settings.STORE_NAME by the registry (400 with the rule)


class StoreSummary(BaseModel):
    name: str
    status: Literal["ready", "empty"]  # empty: created by POST /v1/stores, no documents (nothing on disk yet)
    documents: int
    chunks: int
    revision: str | None  # the store's current revision id; None while empty


class StoreList(BaseModel):
    stores: list[StoreSummary]


class StoreDeleted(BaseModel):
    deleted: str


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str | None = Field(None, min_length=1, max_length=MAX_SOURCE)  # None: memorag names it text-N
    text: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the text is empty (or only white space): nothing to memorize")
        return text


class AddTexts(BaseModel):
    """POST /v1/stores/{name}/documents with `Content-Type: application/json` (files: multipart, field `files`)."""

    model_config = ConfigDict(extra="forbid")
    texts: list[TextIn] = Field(min_length=1, max_length=MAX_TEXTS)

    @model_validator(mode="after")
    def distinct_sources(self) -> AddTexts:
        named = [t.source for t in self.texts if t.source is not None]
        if len(set(named)) != len(named):
            raise ValueError("two texts have the same source: give each its own (a later one would replace it)")
        return self


class DocumentRow(BaseModel):
    source: str  # as memorag docs list shows it; DELETE .../documents/{source, URL-encoded} forgets it
    chars: int
    pages: int  # pages of a PDF; 0 for texts without pages
    sha256: str


class DocumentList(BaseModel):
    store: str
    documents: list[DocumentRow]
