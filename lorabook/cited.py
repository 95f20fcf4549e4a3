"""Numbers the book cites rather than measures, each with its source, so the prose can glue them.

A figure that needs weights or hardware we do not have offline (a 6.7B model's activations, an RTX 8000, a
cluster of A100s) is quoted here once, with the paper and the place in it, and the chapters glue it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cited:
    """A number from the literature and where it comes from."""

    value: float
    source: str  # bibtex key in references.bib
    where: str  # section, table or figure
    what: str


# ------------------------------------------------------------------------ LLM.int8() (Dettmers et al. 2022)

INT8_OUTLIERS_EMERGE_AT = Cited(
    6.7e9, "dettmers2022llmint8", "§4, Fig. 3", "parameters at which outliers emerge"
)
INT8_MAX_OUTLIER_DIMS = Cited(7, "dettmers2022llmint8", "§4.1", "most outlier feature dimensions up to 13B")
INT8_MAX_OUTLIER_DIMS_UP_TO = Cited(13e9, "dettmers2022llmint8", "§4.1", "model size that bound holds up to")
INT8_SHARE_IN_8BIT = Cited(
    0.999, "dettmers2022llmint8", "abstract, §3.2", "share of values multiplied in 8-bit"
)
INT8_SPEED_6_7B = Cited(
    0.86, "dettmers2022llmint8", "appendix, inference speed table", "LLM.int8() speed ÷ fp16 speed at 6.7B"
)
INT8_THRESHOLD = Cited(6.0, "dettmers2022llmint8", "§3.2", "outlier threshold τ")

# ---------------------------------------------------------------------------- QLoRA (Dettmers et al. 2023)

QLORA_GPU_MEMORY = Cited(
    48e9, "dettmers2023qlora", "abstract", "GPU memory QLoRA fine-tunes a 65B model in, bytes"
)
QLORA_MODEL_PARAMS = Cited(65e9, "dettmers2023qlora", "abstract", "parameters of that model (LLaMA-65B)")
QLORA_NF4_OFFSET = Cited(0.9677083, "dettmers2023qlora", "§3, and bitsandbytes' create_normal_map", "NF4's δ")

# ---------------------------------------------------------------------------- GPT-3 and LoRA (Hu et al. 2021)

GPT3_PARAMS = Cited(175e9, "brown2020gpt3", "Table 2.1", "GPT-3 175B parameters")
GPT3_LAYERS = Cited(96, "brown2020gpt3", "Table 2.1", "GPT-3 175B layers")
GPT3_D_MODEL = Cited(12288, "brown2020gpt3", "Table 2.1", "GPT-3 175B d_model")
LORA_GPT3_RANK = Cited(4, "hu2021lora", "§4.2", "rank used on Wq and Wv for GPT-3")
LORA_GPT3_CHECKPOINT_FULL = Cited(350e9, "hu2021lora", "§4.2", "GPT-3 checkpoint, bytes")
LORA_GPT3_CHECKPOINT_LORA = Cited(35e6, "hu2021lora", "§4.2", "GPT-3 LoRA checkpoint at r=4 on q, v, bytes")
LORA_PARAM_REDUCTION = Cited(10_000, "hu2021lora", "abstract", "times fewer trainable parameters than GPT-3")
LORA_GPT3_VRAM_FULL = Cited(1.2e12, "hu2021lora", "§4.2", "GPT-3 training VRAM, full fine-tune, bytes")
LORA_GPT3_VRAM_LORA = Cited(350e9, "hu2021lora", "§4.2", "GPT-3 training VRAM with LoRA, bytes")

LORA_AMPLIFICATION_R4 = Cited(21.5, "hu2021lora", "§7.3, Table 7", "‖ΔWq‖_F / ‖Uᵀ Wq Vᵀ‖_F at r=4, layer 48")
LORA_WITHOUT_REGRET_LR_RATIO = Cited(
    10, "schulman2025lorawithoutregret", "§ on learning rates", "LoRA's best rate over full fine-tuning's"
)
LORA_TOP_PHI = Cited(0.5, "hu2021lora", "§7.2", "φ above which A_r=8's and A_r=64's top direction is shared")
LORA_PHI_LAYER = Cited(48, "hu2021lora", "§7.2, Fig. 3", "the GPT-3 layer whose φ the paper shows")

# Table 1 of the LoRA paper: GPT-2 medium, one forward pass, NVIDIA Quadro RTX8000, averaged over 100 trials.
LORA_TABLE1_SEQ = Cited(128, "hu2021lora", "Table 1", "sequence length of the batch-1 row")
LORA_TABLE1_BASE_MS = Cited(19.8, "hu2021lora", "Table 1", "batch 1, seq 128: base (Fine-Tune/LoRA), ms")
LORA_TABLE1_ADAPTER_L_MS = Cited(23.9, "hu2021lora", "Table 1", "batch 1, seq 128: AdapterL, ms")
LORA_TABLE1_ADAPTER_H_MS = Cited(25.8, "hu2021lora", "Table 1", "batch 1, seq 128: AdapterH, ms")

# ---------------------------------------------------------------------------- memory (the memory chapter)

SEED_TRAINABLE_PCT = Cited(
    12.5, "kuo2023lora", "the seed article", "share of OPT-6.7B it says LoRA trains, %"
)
SEED_GPT3_MEMORY_REDUCTION = Cited(3, "kuo2023lora", "the seed article", "GPU memory cut it quotes for GPT-3")
BLOOM_INFERENCE_GPUS = Cited(8, "kuo2023lora", "the seed article", "A100s to run BLOOM-176B inference")
BLOOM_SEQ = Cited(2048, "bigscience2022bloom", "§3.5", "training sequence length")
BLOOM_FINETUNE_GPUS = Cited(72, "kuo2023lora", "the seed article", "A100-80GBs said to fine-tune BLOOM-176B")
ZERO_BYTES_PER_PARAM = Cited(16, "rajbhandari2020zero", "§3.1", "mixed-precision Adam: 2+2+12 bytes/param")
ZERO_K = Cited(12, "rajbhandari2020zero", "§3.1", "K: optimizer-state bytes per parameter (fp32 copy, m, v)")
HF_BYTES_PER_PARAM = Cited(18, "hf2023anatomy", "Anatomy of the model's memory", "6 + 4 + 8 bytes/param")
A100_MEMORY = Cited(80e9, "nvidia2020a100", "specifications", "A100 80GB memory, bytes")
A100_PER_NODE = Cited(8, "nvidia2020a100", "DGX A100 / HGX A100", "A100s in one NVLink node")
# Memory sizes of the GPUs a reader is likely to have, bytes (vendor data sheets; T4: Colab's free GPU)
GPU_SIZES = {
    "16 GB (T4)": 16e9,
    "24 GB (RTX 4090, A10)": 24e9,
    "40 GB (A100)": 40e9,
    "80 GB (A100, H100)": 80e9,
}
