"""The seed article's recipe, in one place: every setting that means "as the seed does it" reads `SEED`.

The seed fine-tunes facebook/opt-6.7b, loaded in 8-bit, on Abirate/english_quotes with LoRA r = 16, α = 32 and
dropout 0.05 on q_proj and v_proj (no bias), through a Trainer with batch 4, 4 accumulation steps, 100 warm-up
steps, 200 steps at 2e-4 in fp16. `finetune.FinetuneConfig()` is this recipe; the memory estimator's defaults,
the GPU measurement and the LoRA chapter take their LoRA settings from here too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    model: str = "facebook/opt-6.7b"
    dataset: str = "Abirate/english_quotes"  # columns: quote, author, tags
    load_in_8bit: bool = True
    r: int = 16  # rank of each update
    lora_alpha: int = 32  # scaling α / r = 2
    lora_dropout: float = 0.05
    target_modules: tuple = ("q_proj", "v_proj")  # OPT's query and value projections
    bias: str = "none"
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 4  # 4 per device × 4 accumulated = 16 sequences per optimizer step
    warmup_steps: int = 100
    max_steps: int = 200
    learning_rate: float = 2e-4
    fp16: bool = True
    # The sequence length the book budgets the seed's memory for. The seed sets none (its quotes are short);
    # 512 tokens is a common fine-tuning length, and the GPU measurement uses it too.
    seq: int = 512
    # The prompt the seed generates from after training, and the completion its article shows, whole: the
    # article calls it not perfect, for the repeated clause.
    prompt: str = "Two things are infinite:"
    completion: str = (
        "Two things are infinite: the universe and human stupidity; and I'm not sure about the universe."
        " I'm not sure about the universe either."
    )


SEED = Recipe()
