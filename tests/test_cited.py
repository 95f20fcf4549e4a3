"""Cited numbers: each names a source in references.bib, and those the code also uses agree with it."""

import inspect
import re
from pathlib import Path

import pytest

from lorabook import cited, quant

ROOT = Path(__file__).resolve().parents[1]
ALL = {name: c for name, c in vars(cited).items() if isinstance(c, cited.Cited)}


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_cited_number_names_a_source_in_the_bibliography(name):
    keys = set(re.findall(r"@\w+\{([\w-]+),", (ROOT / "references.bib").read_text()))
    assert ALL[name].source in keys
    assert ALL[name].where and ALL[name].what


def test_the_llm_int8_threshold_is_the_papers_and_transformers_default():
    from transformers import BitsAndBytesConfig

    default = inspect.signature(quant.llm_int8_matmul).parameters["threshold"].default
    assert default == cited.INT8_THRESHOLD.value == BitsAndBytesConfig(load_in_8bit=True).llm_int8_threshold


def test_the_seeds_eight_cards_for_bloom_inference_are_the_weights_floor_rounded_up_to_one_node():
    """The int8 and formats chapters: BLOOM-176B's 16-bit weights need ⌈bytes / 80 GB⌉ A100s; the seed's count
    for inference is that floor rounded up to one whole NVLink node."""
    import math

    from lorabook import models

    bloom_bytes = 2 * models.parameter_count(models.meta_model(models.bloom_config()))
    floor = math.ceil(bloom_bytes / cited.A100_MEMORY.value)
    assert floor < cited.BLOOM_INFERENCE_GPUS.value == cited.A100_PER_NODE.value


def test_the_seeds_completion_is_quoted_whole():
    from lorabook import finetune as F
    from lorabook.seed import SEED

    assert F.SEED_COMPLETION == SEED.completion and SEED.completion.startswith(SEED.prompt)
    assert SEED.completion.count("I'm not sure about the universe") == 2  # the repetition the seed shows
