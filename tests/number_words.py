"""Numbers written as words in what a reader reads: "two", "nineteen", "twice", "half", "fourfold".

A number word in the prose is a claim like a digit is, and it can drift from the code just as silently. Each
one the finder meets must be one of:
- glued: a magnitude word ("thousand", "billion") right after a glued number is that number's unit;
- a TERM: a name that contains a number word but counts nothing ("half precision", "double quantization");
- a COUNT: a phrase whose number a test recomputes from the code (tests/test_book.py checks each against its
  function, and that each phrase still occurs in the book);
and anything else is rewritten or glued. "One" is not searched: it is the article and the pronoun far more
often than a count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

UNITS = (
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen"
).split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
VALUES = {word: i for i, word in enumerate(UNITS, start=2)}
VALUES |= {word: 10 * i for i, word in enumerate(TENS, start=2)}
VALUES |= {"hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
VALUES |= {f"{w}s": v for w, v in list(VALUES.items()) if v >= 100}  # "thousands", "billions"
MULTIPLES = {"twice": 2, "double": 2, "doubles": 2, "doubled": 2, "doubling": 2, "triple": 3, "tripled": 3}
MULTIPLES |= {word: Fraction(1, 2) for word in ("half", "halves", "halve", "halved", "halving")}
MULTIPLES |= {"quarter": Fraction(1, 4), "quarters": Fraction(1, 4)}
ONES = "|".join(UNITS[:8])  # two .. nine, for "seventy-two"
WORD = re.compile(
    rf"\b(?:(?:{'|'.join(TENS)})(?:-(?:{ONES}))?|{'|'.join(sorted(VALUES, key=len, reverse=True))}"
    rf"|{'|'.join(MULTIPLES)}|\w+fold|dozens?)\b",
    re.IGNORECASE,
)


def value(word: str) -> Fraction:
    """The number a number word says: "seventy-two" is 72, "half" 1/2, "fourfold" 4."""
    word = word.lower()
    if word in MULTIPLES:
        return Fraction(MULTIPLES[word])
    if word.endswith("fold"):
        return value(word[: -len("fold")])
    if "-" in word:
        return sum((value(part) for part in word.split("-")), Fraction(0))
    return Fraction(VALUES[word])


# Names that contain a number word and count nothing, each with its reason.
TERMS = {
    r"half[- ]precision": "IEEE 754's name for binary16 (FP16)",
    r"double precision": "IEEE 754's name for binary64 (float64)",
    r"double[- ]quantiz\w+|double[- ]quantis\w+": "QLoRA's name for quantizing the quantization constants",
    r"(?:largest |a )?power of two": "the base of a binary exponent, not a count",
    r"thousands separators?": "a typographic name (the comma in 8,388,608)",
}
TERM = re.compile("|".join(TERMS), re.IGNORECASE)

GLUE_ROLE = r"\{glue(?::text)?\}`[^`]*`"
GLUED_MAGNITUDE = re.compile(rf"{GLUE_ROLE}\s+(?:thousand|million|billion|trillion)\b")


@dataclass(frozen=True)
class Count:
    """A phrase whose number word a test recomputes: `phrase` is a regex with one number word in it,
    `counted` returns what the code says that number is, and `why` says what ties them."""

    phrase: str
    counted: Callable[[], object]
    why: str

    @property
    def word(self) -> str:
        return WORD.search(self.phrase).group(0)


# ----------------------------------------------------------------------------------------------- the facts


def three_ways_columns() -> int:
    """The column titles the three-ways diagram draws."""
    from lorabook.plots import diagrams

    fig = diagrams.three_ways()
    return sum(text.get_text() in diagrams.THREE_WAYS for text in fig.axes[0].texts)


def lora_factors() -> int:
    """The trainable matrices LoRA adds beside one frozen linear layer: B and A."""
    from torch import nn

    from lorabook.lora import LoRALinear

    return sum(p.requires_grad for p in LoRALinear(nn.Linear(4, 4), r=1).parameters())


def tied_copies() -> int:
    """How many modules of a tied OPT hold the embedding matrix: the embeddings and the output head."""
    from lorabook import models

    model = models.random_model(models.tiny_opt_config(), seed=0)
    embedding = model.get_input_embeddings().weight
    return sum(m.weight is embedding for m in model.modules() if hasattr(m, "weight"))


def peft_decimals() -> int:
    """Decimals in the trainable% of peft's print_trainable_parameters."""
    import contextlib
    import io

    from peft import LoraConfig, get_peft_model

    from lorabook import models

    model = get_peft_model(models.random_model(models.tiny_opt_config(), seed=0), LoraConfig(r=2))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.print_trainable_parameters()
    return len(re.search(r"trainable%: \d+\.(\d+)", out.getvalue()).group(1))


def seed_targets() -> int:
    from lorabook.seed import SEED

    return len(SEED.target_modules)


def adam_moments() -> int:
    """The state tensors torch's AdamW keeps per parameter, after one step: m and v (and a step counter)."""
    import torch

    w = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([w])
    w.sum().backward()
    optimizer.step()
    return sum(name != "step" for name in optimizer.state[w])


def rules_of_thumb() -> int:
    from lorabook import memory

    return len(memory.RULES)


def bloom_nodes() -> float:
    from lorabook import cited

    return cited.BLOOM_FINETUNE_GPUS.value / cited.A100_PER_NODE.value


def bytes_ratio(fmt: str, of: str = "fp16") -> Fraction:
    from lorabook.sizes import bytes_per

    return Fraction(bytes_per(fmt), bytes_per(of))


def nf4_share_of_fp16() -> Fraction:
    """NF4's code bits against FP16's."""
    from lorabook.sizes import bytes_per

    return Fraction(nf4_bits(), 8 * bytes_per("fp16"))


def exercise_batch_ratio() -> Fraction:
    from lorabook import exercises

    return Fraction(exercises.BATCHES[1], exercises.BATCHES[0])


def formats_of(bits: int) -> int:
    from lorabook import formats

    return sum(f.bits == bits for f in formats.FORMATS.values())


def grad_scaler_backoff() -> float:
    """What torch's GradScaler multiplies the scale by after an overflow."""
    import torch

    return torch.amp.GradScaler("cpu").get_backoff_factor()


def rounding_threshold_in_gaps() -> Fraction:
    """The largest update to 1.0 that FP16 rounds away, in units of FP16's gap at one, found by bisection over
    float64 updates: round-to-nearest drops anything below half the gap (a tie goes to the even 1.0)."""
    import torch

    gap = torch.finfo(torch.float16).eps
    lo, hi = 0.0, gap
    for _ in range(60):
        mid = (lo + hi) / 2
        if torch.tensor(1.0 + mid, dtype=torch.float64).to(torch.float16).item() == 1.0:
            lo = mid
        else:
            hi = mid
    return Fraction(lo / gap).limit_denominator(1000)


def rounding_error_bound() -> Fraction:
    """The largest distance round-to-nearest moves a value, over a grid of quarter steps: half a step."""
    import torch

    x = torch.arange(-512, 513) / 4
    return Fraction((torch.round(x) - x).abs().max().item())


def nf4_levels(sign: int | None = None) -> int:
    """NF4's levels, or those of one sign (+1, -1), from lorabook.nf4's construction."""
    from lorabook import nf4

    code = nf4.nf4_code()
    return len(code) if sign is None else int((code * sign > 0).sum())


def code_levels(code: str) -> int:
    """The distinct levels of one of lorabook.nf4's 4-bit codes (FP4 has a signed zero)."""
    import numpy as np

    from lorabook import nf4

    return len(np.unique(getattr(nf4, code)()))


def nf4_bits() -> int:
    return nf4_levels().bit_length() - 1


def profiles() -> int:
    from lorabook import finetune

    return len(finetune.PROFILES)


def pretraining_threads() -> int:
    """The CPU threads the stand-in's recipe pretrains with (its timing is glued beside)."""
    from lorabook import standin

    return standin.RECIPE.threads


def standin_quotes() -> int:
    from lorabook import standin

    return len(standin.zen_of_python())


def seed_setting(name: str) -> Callable[[], int]:
    def setting() -> int:
        from lorabook.seed import SEED

        return getattr(SEED, name)

    return setting


def sequences_per_step() -> int:
    from lorabook.seed import SEED

    return SEED.per_device_train_batch_size * SEED.gradient_accumulation_steps


def all_linear() -> int:
    from lorabook import lora

    return len(lora.ALL_LINEAR)


def variants() -> int:
    """The fine-tune chapter's other methods, run through the same pipeline."""
    from lorabook import finetune

    return len(finetune.VARIANTS)


def prompt_share() -> Fraction:
    """The share of a quote's words the exact-match test gives as the prompt, on an even-length quote."""
    from lorabook import finetune

    quote = " ".join(f"w{i}" for i in range(12))
    prompt, _ = finetune.split_quote(quote)
    return Fraction(len(prompt.split()), len(quote.split()))


def blocks() -> int:
    from lorabook import standin

    return standin.RECIPE.num_hidden_layers


def qv_matrices() -> int:
    """The query and value matrices of the stand-in: one of each per block."""
    from lorabook import learned

    return blocks() * len(learned.QV)


def attention_matrices() -> int:
    from lorabook import learned

    return len(learned.ATTENTION)


def scaling_rules() -> int:
    from lorabook import learned

    return len(learned.SCALING)


def cited_value(name: str) -> Callable[[], float]:
    def value() -> float:
        from lorabook import cited

        return getattr(cited, name).value

    return value


COUNTS: list[Count] = [
    Count(r"three ways to adapt", three_ways_columns, "the diagram's columns: full, adapter, LoRA"),
    Count(
        r"two (?:thin matrices|thin factors|small matmuls)",
        lora_factors,
        "LoRALinear's trainable matrices, B and A (each is one matmul)",
    ),
    Count(r"counted twice", tied_copies, "the tied embedding and head are one tensor held by two modules"),
    Count(r"four decimals", peft_decimals, "peft's printout, captured"),
    Count(r"two adapted\s+projections", seed_targets, "the seed's target modules, q_proj and v_proj"),
    Count(r"Adam's two (?:moments|states|fp32 states)", adam_moments, "AdamW's exp_avg, exp_avg_sq"),
    Count(r"two rules of thumb", rules_of_thumb, "memory.RULES, which the estimator accepts"),
    Count(r"eight cards to run", cited_value("BLOOM_INFERENCE_GPUS"), "the seed's figure, in lorabook.cited"),
    Count(
        r"seventy-two to fine-tune",
        cited_value("BLOOM_FINETUNE_GPUS"),
        "the seed's figure, in lorabook.cited",
    ),
    Count(r"nine full nodes", bloom_nodes, "the seed's cards over the A100s of one node"),
    Count(r"weights\*\* halve", lambda: bytes_ratio("int8"), "int8 bytes over fp16 bytes"),
    Count(r"and quarter the base", nf4_share_of_fp16, "NF4's code bits over FP16's"),
    Count(r"instead of four", lambda: bytes_ratio("fp32", of="int8"), "an fp32 moment's bytes"),
    Count(r"the two 16-bit formats", lambda: formats_of(16), "formats.FORMATS: FP16 and BF16"),
    Count(r"the two FP8 formats", lambda: formats_of(8), "formats.FORMATS: E4M3 and E5M2"),
    Count(r"it halves\s+whenever", grad_scaler_backoff, "torch GradScaler's backoff factor"),
    Count(r"half (?:the gap|of FP16's gap)", rounding_threshold_in_gaps, "FP16 rounding, bisected"),
    Count(r"byte per weight halves", lambda: bytes_ratio("int8"), "int8 bytes over fp16 bytes"),
    Count(
        r"at most (?:one )?half|within half a step",
        rounding_error_bound,
        "torch.round's error",
    ),
    Count(
        r"fp16\s+size: half|close to half of fp16|int8 halves memory",
        lambda: bytes_ratio("int8"),
        "an int8 weight's bytes over an fp16 weight's (the scales are glued beside it)",
    ),
    Count(r"sixteen (?:NF4 )?levels", nf4_levels, "len(nf4.nf4_code())"),
    Count(r"int4's fifteen", lambda: code_levels("int4_code"), "the distinct values of nf4.int4_code()"),
    Count(r"FP4's fifteen", lambda: code_levels("fp4_code"), "the distinct values of nf4.fp4_code()"),
    Count(
        r"halving at each step|fp16 is half of fp32",
        lambda: bytes_ratio("fp16", of="fp32"),
        "fp16 over fp32 bytes",
    ),
    Count(r"eight positive levels", lambda: nf4_levels(+1), "NF4's positive levels"),
    Count(r"seven negative ones", lambda: nf4_levels(-1), "NF4's negative levels"),
    Count(r"a possible four|the four bits of its code", nf4_bits, "log2 of NF4's number of levels"),
    Count(r"with three profiles", profiles, "finetune.PROFILES: opt-6.7b, stand-in and smollm2"),
    Count(r"with two CPU threads", pretraining_threads, "standin.RECIPE.threads, which pretraining sets"),
    Count(
        r"(?:the|all|stand-in's) nineteen|nineteen (?:aphorisms|quotes|examples)",
        standin_quotes,
        "standin.zen_of_python(), PEP 20's aphorisms",
    ),
    Count(r"means four forward|costs four passes", seed_setting("gradient_accumulation_steps"), "the seed's"),
    Count(
        r"(?:of|only) four sequences",
        seed_setting("per_device_train_batch_size"),
        "the seed's",
    ),
    Count(r"that of sixteen", sequences_per_step, "the seed's batch times its accumulation steps"),
    Count(r"adapter on two of the", seed_targets, "the seed's target modules, q_proj and v_proj"),
    Count(r"(?:the|all) six linear layers", all_linear, "lora.ALL_LINEAR"),
    Count(r"pipeline twice more", variants, "finetune.VARIANTS: all-linear LoRA and full fine-tuning"),
    Count(r"(?:first|second) half", prompt_share, "finetune.split_quote, on an even-length quote"),
    Count(r"fp32, at four", lambda: bytes_ratio("fp32", of="int8"), "an fp32 weight's bytes"),
    Count(r"all six blocks", blocks, "the stand-in's layers, standin.RECIPE"),
    Count(r"(?:the|all) twelve (?:query and value )?matrices", qv_matrices, "blocks times learned.QV"),
    Count(r"the four attention matrices", attention_matrices, "learned.ATTENTION: q, k, v, out"),
    Count(r"three rules", scaling_rules, "learned.SCALING: α/r, α/√r and α = 2r"),
    Count(
        r'"can halve memory|so about half',
        lambda: bytes_ratio("int8"),
        "an int8 weight's bytes over an fp16 weight's (the linear layers' measured ratio is glued beside)",
    ),
    Count(r"not double the first", exercise_batch_ratio, "the exercise's two batches, exercises.BATCHES"),
]


def strip_markup(text: str) -> str:
    """Reader text without code blocks, math, roles, inline code and labels: where both lints, digits
    (tests/test_book.py) and words, look for numbers."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)  # plain code blocks (shell commands)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)  # display math
    text = re.sub(r"\$[^$]+\$", " ", text)  # inline math (math_numbers reads it)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)  # roles: glue, cite, ref, numref, doc, term
    text = re.sub(r"`[^`]*`", " ", text)  # inline code
    # a link's address, not its text: a version and line number there are checked against the installed
    # library (tests/test_pitfalls.py), not read as a claim
    text = re.sub(r"\]\(https?://[^)\s]*\)", "]", text)
    return re.sub(r"^\(.*\)=$", " ", text, flags=re.M)  # labels


def prose(reader_text: str) -> str:
    """The text the finder searches: markup stripped, whitespace collapsed, TERMs blanked out."""
    text = strip_markup(GLUED_MAGNITUDE.sub(" ", reader_text))
    return TERM.sub(lambda m: " " * len(m.group(0)), " ".join(text.split()))


def number_words(reader_text: str, counts: list[Count] | None = None) -> list[str]:
    """The number words in `reader_text` that are neither glued, nor a TERM, nor in the phrase of one of
    `counts` (COUNTS by default), each with a few words of context."""
    text = prose(reader_text)
    counts = COUNTS if counts is None else counts
    spans = [m.span() for c in counts for m in re.finditer(c.phrase, text, flags=re.IGNORECASE)]
    found = []
    for m in WORD.finditer(text):
        if any(a <= m.start() and m.end() <= b for a, b in spans):
            continue
        context = " ".join(text[max(0, m.start() - 30) : m.end() + 30].split())
        found.append(f"{m.group(0)!r} in '…{context}…'")
    return found
