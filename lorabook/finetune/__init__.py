"""The seed's 8-bit OPT LoRA fine-tune, on today's stack: one pipeline, three profiles.

    python -m lorabook.finetune --profile stand-in       # CPU, offline, minutes (the default)
    python -m lorabook.finetune --profile smollm2        # the real SmolLM2-135M-Instruct, CPU, offline
    python -m lorabook.finetune --profile opt-6.7b       # facebook/opt-6.7b on a CUDA GPU with hub access
    accelerate launch --multi_gpu --num_processes 2 -m lorabook.finetune --profile stand-in     # DDP, CPU too

The steps, in the seed's order: load in 8-bit → prepare for k-bit training → LoRA → count → tokenize the
quotes → Trainer → save the adapter → reload it onto the 8-bit base → generate. transformers 5 dropped
`load_in_8bit=` (use `quantization_config=BitsAndBytesConfig(load_in_8bit=True)`), and peft dropped
`prepare_model_for_int8_training` (use `prepare_model_for_kbit_training`).

The package, by concern: `config` (FinetuneConfig, the profiles, the checks before loading), `steps` (the
seed's steps), `run` (all of them, resumable), `scoring` (exact match and the chapter's tables), `cli` (the
command).
"""

from .adapter import apply_lora, lora_config, lora_model, optimizer  # noqa: F401
from .cli import main  # noqa: F401  (after the names it uses)
from .config import (  # noqa: F401
    ALL_LINEAR,
    HALF,
    METHODS,
    PROFILES,
    SEED_COMPLETION,
    SEED_PROMPT,
    STANDIN_FULL_LR,
    STANDIN_LR,
    VARIANTS,
    EnvironmentNotReady,
    FinetuneConfig,
    key_fields,
    preflight,
    resolve,
)
from .run import bars, run, trainable_model  # noqa: F401
from .scoring import (  # noqa: F401
    comparison,
    completions,
    exact_match,
    heldout_sample,
    quotes_batch,
    quotes_loss,
    split_quote,
    summary,
)
from .steps import (  # noqa: F401
    NF4_CONFIG,
    CastOutputToFloat,
    check_output_dir,
    generate,
    load_base,
    load_quotes,
    load_tokenizer,
    prepare,
    prepare_manually,
    reload,
    resume_point,
    save_adapter,
    saved_dir,
    tokenize,
    train,
    training_arguments,
)
