"""The same int8 computations done by bitsandbytes, so that ours can be checked against them.

`Linear8bitLt(has_fp16_weights=False, threshold=OUTLIER_THRESHOLD)` is the layer transformers puts in place of
nn.Linear when a model is loaded with `BitsAndBytesConfig(load_in_8bit=True)`. Its weight is stored as int8
codes CB (o×h) with one fp32 absmax per output row, SCB, so W ≈ CB · SCB / 127.
bitsandbytes 0.50 on CPU: in eval() the layer runs LLM.int8() (vector-wise int8 with outlier decomposition);
in train() it dequantizes the weight and multiplies in float (`MatMul8bitFp`), i.e. weight-only int8.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from ._checks import as_float_tensor, check_matmul_shapes
from .quant import OUTLIER_THRESHOLD


def linear8bit(W, threshold: float = OUTLIER_THRESHOLD):
    """A bitsandbytes Linear8bitLt for x @ W with W (h×o), quantized from W in fp16 as transformers does."""
    import bitsandbytes as bnb

    W = as_float_tensor(W, "W")
    h, o = W.shape
    layer = bnb.nn.Linear8bitLt(h, o, bias=False, has_fp16_weights=False, threshold=threshold)
    layer.load_state_dict({"weight": W.T.contiguous().half()})
    return layer.to("cpu")  # moving the Int8Params to a device is what quantizes them


def row_scales(layer) -> torch.Tensor:
    """SCB, the fp32 absmax of each output row of a Linear8bitLt: on its weight, or on its state once used."""
    return layer.weight.SCB if layer.weight.SCB is not None else layer.state.SCB


def dequantized_weight(layer) -> torch.Tensor:
    """W ≈ CB · SCB / 127 as an h×o float tensor: what the layer multiplies by in training mode on CPU."""
    CB = layer.weight.data if layer.weight.dtype == torch.int8 else layer.state.CB
    return (CB.float() * (row_scales(layer)[:, None] / 127)).T


def bnb_matmul(
    X, W=None, threshold: float = OUTLIER_THRESHOLD, *, training: bool = False, layer=None
) -> torch.Tensor:
    """X @ W by bitsandbytes (fp16 in and out, returned as fp32), in eval (LLM.int8) or training mode."""
    X = as_float_tensor(X, "X")
    if layer is None:
        W = as_float_tensor(W, "W")
        check_matmul_shapes(X, W)
        layer = linear8bit(W, threshold)
    layer.train(training)
    with torch.no_grad():
        return layer(X.half()).float()


# ---------------------------------------------------------------------------- whole models


def load_in_dtypes(model, dtypes=("fp32", "fp16", "int8")) -> dict:
    """`model` saved, then loaded back once per dtype as transformers would load a checkpoint.

    "int8" is `BitsAndBytesConfig(load_in_8bit=True)` with the rest of the model in fp16 (the seed's recipe).
    """
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs = {
        "fp32": dict(dtype=torch.float32),
        "fp16": dict(dtype=torch.float16),
        "int8": dict(
            dtype=torch.float16,
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),
            device_map="cpu",
        ),
    }
    unknown = set(dtypes) - set(kwargs)
    if unknown:
        raise ValueError(f"dtypes must be among {sorted(kwargs)}, got {sorted(unknown)}")
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(Path(tmp))  # safetensors
        return {name: AutoModelForCausalLM.from_pretrained(tmp, **kwargs[name]) for name in dtypes}


def linear_weight_bytes(model) -> dict:
    """Bytes of the nn.Linear weights in the decoder layers (LoRA's own layers left out), with the int8 or
    4-bit scales counted separately (double-quantized 4-bit: its 8-bit absmax and their fp32 scales)."""
    import bitsandbytes as bnb

    weights = scales = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and ".layers." in name and "lora_" not in name:
            w = module.weight
            weights += w.numel() * w.element_size()
            if isinstance(module, bnb.nn.Linear8bitLt):
                scb = row_scales(module)
                scales += scb.numel() * scb.element_size()
            if isinstance(module, bnb.nn.Linear4bit):
                state = w.quant_state
                parts = [state.absmax] + ([state.state2.absmax] if state.nested else [])
                scales += sum(t.numel() * t.element_size() for t in parts)
    return {"weights": weights, "scales": scales, "total": weights + scales}


def bitsandbytes_version() -> str:
    """The installed bitsandbytes version: its CPU behaviour above is that of this release line."""
    import bitsandbytes

    return bitsandbytes.__version__
