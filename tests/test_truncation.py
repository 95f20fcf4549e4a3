"""The decisive test's machinery (lorabook.truncation), the seeds' summaries (lorabook.spread and
lorabook.thesis) and ΔW's relation to another update (lorabook.delta.relation), each against a second
computation."""

import copy

import numpy as np
import pytest
import torch

from lorabook import delta as D
from lorabook import learned as L
from lorabook import models, spread, thesis
from lorabook import truncation as TR


def tiny():
    return models.random_model(
        models.tiny_opt_config(hidden_size=16, ffn_dim=32, vocab_size=40), seed=0
    ).eval()


def fake_delta(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {n: 0.1 * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()}


def test_truncate_is_eckart_young_against_numpy():
    M = torch.randn(12, 9, generator=torch.Generator().manual_seed(0))
    U, S, Vt = np.linalg.svd(M.double().numpy(), full_matrices=False)
    for r in (0, 1, 4, 9, 20):
        expected = (U[:, :r] * S[:r]) @ Vt[:r]
        np.testing.assert_allclose(TR.truncate(M, r).double().numpy(), expected, atol=1e-5)
        error = np.linalg.norm(M.double().numpy() - TR.truncate(M, r).double().numpy())
        assert error == pytest.approx(np.sqrt(np.sum(S[r:] ** 2)), abs=1e-4)  # what rank r misses
    with pytest.raises(ValueError, match="r must be at least 0, got -1"):
        TR.truncate(M, -1)


def test_truncated_model_is_the_base_plus_the_other_changes_at_zero_and_full_fine_tuning_at_full_rank():
    base = tiny()
    delta = fake_delta(base)
    full = copy.deepcopy(base)
    with torch.no_grad():
        for n, p in full.named_parameters():
            p.add_(delta[n])
    top = TR.truncated_model(base, delta, 16)  # 16 = the hidden size: every matrix's full rank
    zero = dict(TR.truncated_model(base, delta, 0).named_parameters())
    for (name, p), q in zip(top.named_parameters(), full.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-5)
        target = base.get_parameter(name) if TR.is_matrix(name) else q
        torch.testing.assert_close(zero[name], target, rtol=0, atol=1e-6)
    rank1 = dict(TR.truncated_model(base, delta, 1).named_parameters())
    name = next(n for n in rank1 if TR.is_matrix(n))
    assert torch.linalg.matrix_rank(rank1[name] - base.get_parameter(name)).item() == 1


def test_parts_split_the_update_without_overlap_except_attention():
    base = tiny()
    delta = fake_delta(base)
    moved = {}
    for part in TR.PARTS:
        model = TR.part_model(base, delta, part)
        moved[part] = {n for n, p in model.named_parameters() if not torch.equal(p, base.get_parameter(n))}
    everything = {n for n, _ in base.named_parameters()}
    disjoint = ["q,v", "k,o", "MLP fc1,fc2", "embeddings, head, norms, biases"]
    assert set().union(*(moved[p] for p in disjoint)) == everything
    assert sum(len(moved[p]) for p in disjoint) == len(everything)
    assert moved["attention q,k,v,o"] == moved["q,v"] | moved["k,o"]
    assert all(TR.is_matrix(n) == (n not in moved["embeddings, head, norms, biases"]) for n in everything)
    with pytest.raises(ValueError, match="part must be one of"):
        TR.part_model(base, delta, "q")


def test_kept_at_is_the_rank_from_which_every_quote_stays():
    rows = {r: {"exact match": m} for r, m in {0: 0, 1: 2, 2: 9, 4: 7, 8: 9, 16: 9}.items()}
    assert TR.kept_at(rows) == 8  # r = 2 already has 9, but r = 4 loses two again
    assert TR.kept_at(rows, share=0.7) == 2


def test_spread_and_apart():
    s = spread.spread([3, 1, 2])
    assert s == {"median": 2, "min": 1, "max": 3, "n": 3}
    assert spread.described(s) == "2 [1–3]"
    assert spread.described(spread.spread([0.5, 0.26, 0.31])) == "0.31 [0.26–0.50]"  # the median's decimals
    assert spread.described(spread.spread([19, 17.5])) == "18.2 [17.5–19.0]"
    assert spread.described(spread.spread([1e-5, 3e-5])) == "2e-05 [1e-05–3e-05]"
    assert spread.described(spread.spread([1e-5, 1.5e-5, 3e-5])) == "1.5e-05 [1e-05–3e-05]"  # not 5 decimals
    assert spread.in_words(s) == "2 (1 to 3)"
    assert spread.in_words(spread.spread([19, 19])) == "19 at every seed"
    assert spread.in_words(spread.spread([0.5, 0.26]), "{:.1f}") == "0.4 (0.3 to 0.5)"
    assert spread.apart(spread.spread([1, 2]), spread.spread([3, 4]))
    assert not spread.apart(spread.spread([1, 3]), spread.spread([3, 4]))  # touching ranges are noise
    assert not spread.apart(spread.spread([3, 4]), spread.spread([1, 3]))  # in either order
    assert spread.apart(spread.spread([3, 4]), spread.spread([1, 2]))
    with pytest.raises(ValueError, match="^values must hold at least one run.s measurement, got none$"):
        spread.spread([])


def test_relation_of_an_update_to_itself_and_to_an_orthogonal_one():
    g = np.random.default_rng(0)
    a = g.standard_normal((20, 12))
    same = D.relation(a, 3 * a, 4)
    assert same["cosine"] == pytest.approx(1) and same["norm ratio"] == pytest.approx(1 / 3)
    assert same["overlap"] == pytest.approx(1) and same["chance"] == 4 / 20
    Q, _ = np.linalg.qr(g.standard_normal((20, 20)))  # two updates in orthogonal output subspaces
    b, c = Q[:, :4] @ g.standard_normal((4, 12)), Q[:, 4:8] @ g.standard_normal((4, 12))
    other = D.relation(b, c, 4)
    assert abs(other["cosine"]) < 1e-12 and other["overlap"] < 1e-12
    with pytest.raises(ValueError, match="same shape"):
        D.relation(a, a.T, 2)
    for r in (1, 3, 9):  # the overlap is ‖U₁ᵀU₂‖²_F / r: 1 for one subspace at every r, not only at r = 4
        assert D.relation(a, -a, r)["overlap"] == pytest.approx(1)
    with pytest.raises(ValueError, match="r must be"):
        D.relation(a, a, 13)  # beyond the smaller side, 12: no r directions to compare


def test_best_rate_is_the_smallest_that_learns_the_most_and_noise_reads_the_ranges(monkeypatch):
    """A sweep of known results: the best rate is the smallest whose median exact match is the highest, not
    the one with the lowest loss; overlapping ranges are noise."""
    sweep = {"m": {1e-3: ["a", "b"], 1e-2: ["c", "d"], 1e-1: ["e", "f"], 1.0: ["g", "h"]}}
    match = {"a": 3, "b": 5, "c": 19, "d": 17, "e": 19, "f": 18, "g": 19, "h": 19}
    loss = {"a": 2.0, "b": 3.0, "c": 0.5, "d": 2.5, "e": 0.4, "f": 1.2, "g": 0.01, "h": 0.02}
    monkeypatch.setattr(L, "SWEEP", sweep)
    monkeypatch.setattr(
        thesis, "measured", lambda i, results=None: {"exact match": match[i], "quotes loss": loss[i]}
    )
    assert thesis.sweep("m", "quotes loss")[1e-2] == {"median": 1.5, "min": 0.5, "max": 2.5, "n": 2}
    assert (
        thesis.best_rate("m") == 1.0
    )  # median 19; 1e-2 and 1e-1 reach 19 at one seed only (medians 18, 18.5)
    match.update(f=19)
    assert thesis.best_rate("m") == 1e-1  # now the smallest with median 19, though 1.0 has the lower loss
    assert thesis.noise(thesis.sweep("m", "quotes loss")[1e-2], thesis.sweep("m", "quotes loss")[1e-1])
    with pytest.raises(ValueError, match="method must be one of"):
        thesis.sweep("n", "quotes loss")


def test_every_comparison_has_its_seeds_and_every_sweep_rate_two():
    for run_id in L.REPLICATED:
        assert all(i in L.RUNS for i in L.seeds_of(run_id))
    assert {L.config(i).seed for i in L.seeds_of("qv-r4")} == set(L.SEEDS)
    assert len(L.SEEDS) >= 3
    for method, rates in L.SWEEP.items():
        assert len(rates) >= 5, method
        for ids in rates.values():
            assert sorted(L.config(i).seed for i in ids) == sorted(L.SWEEP_SEEDS)
            assert {L.config(i).max_steps for i in ids} == {L.config("qv-r16").max_steps}  # matched steps
    assert {L.config(i).method for ids in L.SWEEP["full"].values() for i in ids} == {"full"}
