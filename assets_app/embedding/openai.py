"""OpenAI-compatible embeddings (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM …).

Request: ``POST {base_url}/embeddings`` with ``{"model", "input": [...]}`` (and
``"dimensions"`` when set); response ``{"data": [{"index", "embedding"}], "usage":
{"prompt_tokens", "total_tokens"}}``. Settings: ``RAGDESK_OPENAI_BASE_URL`` (default
``https://api.openai.com/v1``), ``RAGDESK_OPENAI_API_KEY``, ``RAGDESK_OPENAI_TIMEOUT``
seconds (default 60). Retries and rate caps come with issue 6."""

from __future__ import annotations

import os

import httpx

from . import EmbeddingError, EmbeddingResult


class OpenAICompatibleEmbedder:
    def __init__(self, *, model: str, dimensions: int):
        self.model = model
        self.dimensions = dimensions
        self.base_url = os.environ.get("RAGDESK_OPENAI_BASE_URL", "https://api.openai.com/v1")
        self.api_key = os.environ.get("RAGDESK_OPENAI_API_KEY", "")
        self.timeout = float(os.environ.get("RAGDESK_OPENAI_TIMEOUT", "60"))

    def embed(self, texts: list[str]) -> EmbeddingResult:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body: dict = {"model": self.model, "input": texts}
        if not self.model.startswith("text-embedding-ada"):
            body["dimensions"] = self.dimensions
        try:
            response = httpx.post(
                f"{self.base_url.rstrip('/')}/embeddings",
                json=body,
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"Embedding request failed: {exc}") from exc
        if response.status_code != 200:
            raise EmbeddingError(
                f"Embedding server answered {response.status_code}: {response.text[:300]}"
            )
        payload = response.json()
        data = sorted(payload.get("data", []), key=lambda d: d["index"])
        if len(data) != len(texts):
            raise EmbeddingError("Embedding server returned a different number of vectors.")
        vectors = [d["embedding"] for d in data]
        if any(len(v) != self.dimensions for v in vectors):
            raise EmbeddingError(f"Embedding server returned vectors not of {self.dimensions} dims.")
        usage = payload.get("usage") or {}
        return EmbeddingResult(
            vectors=vectors, billed_tokens=int(usage.get("total_tokens") or 0)
        )
