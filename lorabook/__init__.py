"""lorabook: LoRA fine-tuning taught math-first. Each module holds one concept, with the math beside the code.

- `lorabook.rank`: exact and numerical rank; what ΔW = B A costs to store.
- `lorabook.svd`: truncated SVD and the Eckart–Young–Mirsky theorem.
- `lorabook.family`: LoRA's family from scratch (rsLoRA, DoRA, PiSSA and QPiSSA, OLoRA, LoRA+, VeRA),
  each equal to peft's.
- `lorabook.plots`: the figure routines of the chapters, in one style.
- `lorabook.plots.diagrams`: the static diagrams in figures/, drawn by code.
"""

import logging as _logging
import warnings as _warnings

__version__ = "0.1.0"

# Messages from the stack that nobody reading a chapter or running the CLI can act on, silenced once here,
# before any of the libraries that emit them is imported:
# - bitsandbytes warns on every 8-bit matmul that fp32 inputs are cast to fp16 (the int8 chapter shows that
#   cast), and at import that an optional CPU 4-bit kernel package is not installed;
# - transformers 5 deprecates is_gradient_checkpointing, which its own Trainer and peft still call;
# - tqdm.auto warns, when imported in a kernel without ipywidgets, that it falls back to text bars.
_logging.getLogger("bitsandbytes").setLevel(_logging.ERROR)
_warnings.filterwarnings("ignore", ".*is_gradient_checkpointing. is deprecated", FutureWarning)
_warnings.filterwarnings("ignore", "IProgress not found")  # tqdm.TqdmWarning, matched by its text
