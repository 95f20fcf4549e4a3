"""lorabook: LoRA fine-tuning taught math-first. Each module holds one concept, with the math beside the code.

- `lorabook.rank`: exact and numerical rank; what ΔW = B A costs to store.
- `lorabook.svd`: truncated SVD and the Eckart–Young–Mirsky theorem.
- `lorabook.plots`: the figure routines of the chapters, in one style.
- `lorabook.diagrams`: the static diagrams in figures/, drawn by code.
"""

__version__ = "0.1.0"
