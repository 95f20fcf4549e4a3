"""When LoRA training goes wrong: failures practitioners hit, each reproduced on a small model and fixed.

Each function runs the failure on purpose and returns what a reader would see (the symptom: an error's text,
a warning, a number that is silently wrong) next to what the fix gives. `source_link` points at the line of
the pinned library that causes it. `base` holds the failures of the quantized base (the fp32 upcast, reentrant
checkpointing, merging into int8); `adapter` those of the adapter's configuration (target names,
modules_to_save, tied embeddings, α's scaling, fp16 adapters).
"""

from .adapter import (
    alpha_steps,
    embedding_bytes,
    fp16_adapters,
    linear_names,
    partial_targets,
    saved_sizes,
    tied_embeddings,
    wrong_targets,
)
from .base import as_trained, kbit_upcast, merge_into_int8, reentrant_checkpoint, upcast_bytes
from .common import SOURCES, TARGETS, bytes_by_dtype, caught, load_8bit, pinned_source, source_link

__all__ = [
    "SOURCES",
    "as_trained",
    "partial_targets",
    "pinned_source",
    "TARGETS",
    "alpha_steps",
    "bytes_by_dtype",
    "caught",
    "embedding_bytes",
    "fp16_adapters",
    "kbit_upcast",
    "linear_names",
    "load_8bit",
    "merge_into_int8",
    "reentrant_checkpoint",
    "saved_sizes",
    "source_link",
    "tied_embeddings",
    "upcast_bytes",
    "wrong_targets",
]
