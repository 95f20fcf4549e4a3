"""Numbers written as words: every one in what a reader reads is glued, a name, or a count the code makes."""

import re
from fractions import Fraction

import pytest
from number_words import COUNTS, TERMS, Count, number_words, prose, value
from test_book import BACK_MATTER, CHAPTERS, alt_texts, markdown_of, reader_text

PAGES = [*CHAPTERS, *BACK_MATTER]


def page_text(path) -> str:
    """What a reader reads on the page, and what a screen reader reads in place of its images."""
    markdown = markdown_of(path)
    return "\n\n".join([reader_text(markdown), *alt_texts(markdown)])


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_prose_writes_no_untied_number_word(path):
    assert number_words(page_text(path)) == []


@pytest.mark.parametrize("count", COUNTS, ids=lambda c: c.phrase[:40])
def test_each_counted_word_is_what_the_code_counts(count):
    assert Fraction(count.counted()) == value(count.word), count.why


def test_each_count_and_term_still_occurs_in_the_book():
    pages = [page_text(p) for p in PAGES]
    text = " ".join(prose(page) for page in pages)
    assert [c.phrase for c in COUNTS if not re.search(c.phrase, text, re.IGNORECASE)] == []
    raw = " ".join(" ".join(page.split()) for page in pages)
    assert [term for term in TERMS if not re.search(term, raw, re.IGNORECASE)] == []


def test_value_reads_number_words():
    assert [value(w) for w in ("two", "Nineteen", "seventy-two", "fourfold", "twice", "half", "quarter")] == [
        2,
        19,
        72,
        4,
        2,
        Fraction(1, 2),
        Fraction(1, 4),
    ]


def test_the_finder_catches_the_words_the_issue_found():
    found = number_words(
        "Adam shrinks the states fourfold on nine full nodes, eight cards to run and seventy-two to "
        "fine-tune, instead of trying to download thirteen gigabytes into four small layers for "
        "nineteen quotes.",
        counts=[],
    )
    assert [f.split("'")[1] for f in found] == [
        "fourfold",
        "nine",
        "eight",
        "seventy-two",
        "thirteen",
        "four",
        "nineteen",
    ]
    caption = "```{figure} a.svg\n:alt: two bars\n\nOutliers twenty times the rest.\n```"
    assert [f.split("'")[1] for f in number_words(reader_text(caption), counts=[])] == ["twenty"]


def test_glued_magnitudes_terms_and_counts_pass_and_nothing_else():
    assert number_words("the {glue:text}`n:.1f` billion weights in half precision") == []
    assert number_words("a few hundred kilobytes") != []  # a magnitude word without a glued number
    tied = Count(r"two thin matrices", lambda: 2, "test")
    assert number_words("a product of two thin matrices", [tied]) == []
    assert number_words("a product of two matrices", [tied]) != []
