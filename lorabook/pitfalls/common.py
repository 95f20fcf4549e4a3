"""What every pitfall uses: the pinned source's address, a failure caught as a reader reads it, bytes by
dtype, and the seed's 8-bit loading."""

from __future__ import annotations

import importlib.metadata
import inspect
import warnings
from pathlib import Path

import torch

# package -> (GitHub repository, tag of a version, folder of the package in the repository)
REPOS = {
    "peft": ("huggingface/peft", "v{}", "src/"),
    "transformers": ("huggingface/transformers", "v{}", "src/"),
    "torch": ("pytorch/pytorch", "v{}", ""),
    "bitsandbytes": ("bitsandbytes-foundation/bitsandbytes", "{}", ""),
}
TARGETS = ("q_proj", "v_proj")


def source_link(obj, contains: str | None = None) -> str:
    """The GitHub address of `obj`'s source (a module, class or function) in the installed version, at the
    first line that holds `contains` (or at its definition)."""
    obj = inspect.unwrap(obj)
    package = (obj.__name__ if inspect.ismodule(obj) else obj.__module__).split(".")[0]
    if package not in REPOS:
        raise ValueError(f"obj must come from one of {sorted(REPOS)}, got one from {package!r}")
    repo, tag, folder = REPOS[package]
    lines, first = inspect.getsourcelines(obj)
    first = max(first, 1)
    if contains is not None:
        hits = [i for i, line in enumerate(lines) if contains in line]
        if not hits:
            raise ValueError(f"contains: {contains!r} is not in the source of {obj!r}")
        first += hits[0]
    path = Path(inspect.getsourcefile(obj)).as_posix()
    relative = path[path.rindex(f"/{package}/") + 1 :]
    version = importlib.metadata.version(package).split("+")[0]
    return f"https://github.com/{repo}/blob/{tag.format(version)}/{folder}{relative}#L{first}"


# Where each failure comes from, in the pinned libraries: (module, the text of the line)
SOURCES = {
    "upcast": ("peft.utils.other", "param.data = param.data.to(torch.float32)"),
    "reentrant": ("torch.utils.checkpoint", "class CheckpointFunction(torch.autograd.Function)"),
    "reentrant warning": ("torch.utils.checkpoint", "None of the inputs have requires_grad=True"),
    "non-reentrant default": (
        "transformers.modeling_utils",
        'activation_checkpointing_kwargs = {"use_reentrant": False}',
    ),
    "input grads": ("transformers.modeling_utils", "self.enable_input_require_grads()"),
    "merge int8": ("peft.tuners.lora.bnb", "Merge lora module to 8-bit linear may get different generations"),
    "targets": ("peft.tuners.tuners_utils", "not found in the base model"),
    "modules_to_save": ("peft.utils.other", "copy.deepcopy(self.original_module)"),
    "tying": ("peft.tuners.tuners_utils", "but `ensure_weight_tying` is not set to True"),
    "scaling": ("peft.tuners.lora.layer", "self.scaling[adapter_name] = lora_alpha / r"),
    "unscale": ("torch.amp.grad_scaler", "Attempting to unscale FP16 gradients"),
    "autocast": (
        "peft.tuners.tuners_utils",
        "nn.Parameter(param.data.to(torch.float32), requires_grad=param.requires_grad)",
    ),
}


def pinned_source(name: str) -> str:
    """The address of SOURCES[name]'s line in the installed version of its library."""
    if name not in SOURCES:
        raise ValueError(f"name must be one of {sorted(SOURCES)}, got {name!r}")
    module, text = SOURCES[name]
    return source_link(importlib.import_module(module), text)


def caught(fn):
    """(the exception's text, the warnings' texts) of calling fn(), as a reader would read them."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            fn()
            error = None
        except Exception as exc:  # the failure shown on purpose
            error = f"{type(exc).__name__}: {exc}"
    return error, [str(w.message) for w in seen if not issubclass(w.category, FutureWarning)]


def bytes_by_dtype(model) -> dict:
    """{dtype name: bytes} of the model's parameters."""
    out = {}
    for p in model.parameters():
        name = str(p.dtype).removeprefix("torch.")
        out[name] = out.get(name, 0) + p.numel() * p.element_size()
    return out


def load_8bit(path, dtype=torch.float16):
    """A saved causal LM loaded as the seed loads OPT-6.7B: linear layers in int8, the rest in `dtype`."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    return AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, quantization_config=BitsAndBytesConfig(load_in_8bit=True), device_map="cpu"
    ).eval()
