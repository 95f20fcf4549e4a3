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
