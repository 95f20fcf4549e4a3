"""llama.cpp's block formats, from their definitions: Q4_1 (the real model's layers) and Q8_0 (its embedding).

Q4_1 cuts each row into blocks of 32 weights and stores, per block, an fp16 scale d, an fp16 minimum m and
32 four-bit codes q ∈ {0, …, 15}, two to a byte:

    w = d·q + m,    with d = (max − min)/15 and m = min of the block when it is made,

so the block's range is covered by 16 equally spaced levels from its minimum to its maximum. A block is
2 + 2 + 16 = 20 bytes for 32 weights: 5 bits per weight. Byte j of the codes holds weight j in its low nibble
and weight j + 16 in its high nibble (ggml's `dequantize_row_q4_1`).

Q8_0 is block-wise absmax int8: per block of 32, an fp16 scale d and 32 int8 codes, w = d·q; 34 bytes,
8.5 bits per weight. The real model's token embedding is stored this way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

QK = 32  # weights per block, in both formats
LEVELS = 16  # Q4_1's codes: 0 … 15
BLOCK_BYTES = {"Q4_1": 2 + 2 + QK // 2, "Q8_0": 2 + QK}


def bits_per_weight(kind: str) -> float:
    """Storage per weight, scales included: Q4_1 20·8/32 = 5, Q8_0 34·8/32 = 8.5."""
    if kind not in BLOCK_BYTES:
        raise ValueError(f"kind must be one of {sorted(BLOCK_BYTES)}, got {kind!r}")
    return BLOCK_BYTES[kind] * 8 / QK


def _blocks(raw, kind: str) -> np.ndarray:
    """The row-major bytes of a tensor as one block per row: shape (n_blocks, BLOCK_BYTES[kind])."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    if raw.size % BLOCK_BYTES[kind]:
        raise ValueError(
            f"raw must hold whole {kind} blocks of {BLOCK_BYTES[kind]} bytes, got {raw.size} bytes"
        )
    return raw.reshape(-1, BLOCK_BYTES[kind])


def decode_q4_1(raw, shape) -> np.ndarray:
    """The float32 weights of a Q4_1 tensor: w = d·q + m, block by block (`shape` is the weights' shape)."""
    blocks = _blocks(raw, "Q4_1")
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
    m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
    codes = blocks[:, 4:]
    q = np.concatenate([codes & 0x0F, codes >> 4], axis=1)  # weights 0–15 low nibbles, 16–31 high nibbles
    return (d * q + m).reshape(shape)


def encode_q4_1(w) -> np.ndarray:
    """Q4_1 bytes of `w` (its size a multiple of 32), as llama.cpp's reference quantizer makes them:
    d = (max − min)/15, m = min, q = round((w − m)/d) clipped to 0…15."""
    w = np.asarray(w, dtype=np.float32).reshape(-1, QK)
    lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
    d = (hi - lo) / (LEVELS - 1)
    inv = np.where(d > 0, 1 / np.where(d > 0, d, 1), 0)
    q = np.clip(np.floor((w - lo) * inv + 0.5), 0, LEVELS - 1).astype(np.uint8)
    codes = q[:, : QK // 2] | (q[:, QK // 2 :] << 4)
    header = np.concatenate([d.astype(np.float16), lo.astype(np.float16)], axis=1).view(np.uint8)
    return np.concatenate([header, codes], axis=1).reshape(-1)


def decode_q8_0(raw, shape) -> np.ndarray:
    """The float32 weights of a Q8_0 tensor: w = d·q, q an int8, one fp16 d per block of 32."""
    blocks = _blocks(raw, "Q8_0")
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
    return (d * blocks[:, 2:].view(np.int8)).reshape(shape)


DECODERS = {"Q4_1": decode_q4_1, "Q8_0": decode_q8_0}


def read_tensors(path, names=None) -> dict[str, tuple[str, np.ndarray, tuple]]:
    """name → (kind, raw bytes, weight shape) for the tensors of a GGUF file (all, or those in `names`).

    GGUF lists a shape fastest dimension first; the weight shape here is torch's (rows, columns)."""
    from gguf import GGUFReader

    reader = GGUFReader(Path(path))
    out = {}
    for t in reader.tensors:
        if names is None or t.name in names:
            shape = tuple(int(n) for n in reversed(t.shape.tolist()))
            out[t.name] = (t.tensor_type.name, np.asarray(t.data), shape)
    return out


def decode(kind: str, raw, shape) -> np.ndarray:
    """Any tensor of a GGUF file as float32 (Q4_1, Q8_0, or one stored as F32)."""
    if kind == "F32":
        return np.asarray(raw, dtype=np.float32).reshape(shape)
    if kind not in DECODERS:
        raise ValueError(f"kind must be one of {['F32', *DECODERS]}, got {kind!r}")
    return DECODERS[kind](raw, shape)


# ---------------------------------------------------------------------------- the 4-bit formats compared


def schemes(w) -> list[dict]:
    """Each storage scheme on the same weights `w` (rows × columns): bits per weight, and relative error.

    Q4_1 (encoded here as llama.cpp does), NF4 in blocks of 64 (this library) and of 32 (Q4_1's block, for
    a comparison at equal bits), NF4 with double quantization
    (bitsandbytes' quantize_4bit; its error is NF4's plus the 8-bit rounding of the block scales), and int8
    absmax with one fp32 scale per row, as LLM.int8() stores a weight."""
    from . import nf4
    from .quant import absmax_quantize, relative_error

    w = np.asarray(w, dtype=np.float32)
    packed, state = nf4.bnb_quantize(w, double_quant=True)
    rows = [
        ("Q4_1", bits_per_weight("Q4_1"), decode_q4_1(encode_q4_1(w), w.shape)),
        ("NF4", nf4.bits_per_parameter(), nf4.quantize(w).dequantize()),
        ("NF4, blocks of 32", nf4.bits_per_parameter(block=QK), nf4.quantize(w, block=QK).dequantize()),
        ("NF4 + double quant.", nf4.bits_per_parameter(double_quant=True), nf4.bnb_dequantize(packed, state)),
        ("int8 absmax, per row", 8 + 32 / w.shape[1], absmax_quantize(w, "row").dequantize().numpy()),
    ]
    return [{"scheme": name, "bits": bits, "error": relative_error(approx, w)} for name, bits, approx in rows]
