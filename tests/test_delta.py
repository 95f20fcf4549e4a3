"""The measures of ΔW (lorabook.delta), each tested on a case whose answer is known in closed form."""

import re
import zlib

import numpy as np
import pytest
import torch

from lorabook import delta as D
from lorabook import svd


def _gaussian(m, n, seed):
    return np.random.default_rng(seed).standard_normal((m, n))


def test_phi_is_one_for_the_same_subspace_and_in_the_unit_interval():
    A = _gaussian(8, 40, 0)
    mixed = (
        _gaussian(8, 8, 1) @ A
    )  # another basis of the same row space: every top-i plane differs, all 8 do not
    phi = D.subspace_similarity(A, A)
    np.testing.assert_allclose(np.diag(phi), 1.0, atol=1e-12)
    assert D.subspace_similarity(A, mixed)[-1, -1] == pytest.approx(1.0, abs=1e-12)
    other = D.subspace_similarity(A, _gaussian(16, 40, 2))
    assert (other >= -1e-12).all() and (other <= 1 + 1e-12).all()


def test_phi_is_zero_for_orthogonal_subspaces_and_symmetric_in_its_arguments():
    eye = np.eye(10)
    assert np.abs(D.subspace_similarity(eye[:3], eye[3:7])).max() < 1e-12
    A1, A2 = _gaussian(4, 30, 3), _gaussian(6, 30, 4)
    np.testing.assert_allclose(D.subspace_similarity(A1, A2), D.subspace_similarity(A2, A1).T, atol=1e-12)


def test_phi_of_random_subspaces_matches_max_i_j_over_k():
    """E φ(i, j) = max(i, j)/k for independent random subspaces, checked by Monte Carlo."""
    k, trials = 32, 4000
    rng = np.random.default_rng(5)
    phi = np.mean(
        [
            D.subspace_similarity(rng.standard_normal((4, k)), rng.standard_normal((8, k)))
            for _ in range(trials)
        ],
        axis=0,
    )
    i, j = np.indices(phi.shape) + 1
    expected = D.random_similarity(i, j, k)
    # each entry is a mean of `trials` values in [0, 1]: its standard error is below 0.5/√trials ≈ 0.008
    np.testing.assert_allclose(phi, expected, atol=0.03)
    assert D.random_similarity(1, 1, 256) == pytest.approx(1 / 256)


def test_random_similarity_rejects_dimensions_outside_one_to_k():
    with pytest.raises(ValueError, match="i and j must be in 1..8"):
        D.random_similarity(9, 1, 8)
    with pytest.raises(ValueError, match="A1 and A2 must have the same number of columns"):
        D.subspace_similarity(np.ones((2, 5)), np.ones((2, 6)))


def test_amplification_is_one_when_delta_is_w0s_own_top_part():
    W0 = _gaussian(20, 30, 6)
    U, S, Vt = np.linalg.svd(W0, full_matrices=False)
    for r in (1, 3, 7):
        top = (U[:, :r] * S[:r]) @ Vt[:r]
        out = D.amplification(top, W0, r)
        assert out["factor"] == pytest.approx(1.0, rel=1e-10)
        assert out["onto_w0"] == pytest.approx(np.sqrt(np.sum(S[:r] ** 2)), rel=1e-10)
        assert out["onto_delta"] == pytest.approx(out["onto_w0"], rel=1e-10)


def test_amplification_grows_as_delta_points_away_from_w0():
    """W₀'s top directions hold the most of W₀ any r-plane can; a ΔW along its weakest ones is amplified."""
    W0 = _gaussian(20, 30, 7)
    U, S, Vt = np.linalg.svd(W0, full_matrices=False)
    weak = np.outer(U[:, -1], Vt[-1])  # unit norm, along W₀'s smallest singular pair
    out = D.amplification(weak, W0, 1)
    assert out["factor"] == pytest.approx(1 / S[-1], rel=1e-10)
    for r in (1, 4):
        o = D.amplification(_gaussian(20, 30, 8), W0, r)
        assert o["onto_w0"] >= max(o["onto_delta"], o["onto_random"]) - 1e-12  # Ky Fan: no plane holds more


def test_amplification_reports_both_norms_and_a_random_reference_drawn_from_its_seed():
    """The chapter prints ‖W₀‖_F and the ratio to random planes: both come from these entries."""
    W0, delta = _gaussian(20, 30, 11), _gaussian(20, 30, 12)
    for seed in (0, 5):
        out = D.amplification(delta, W0, 3, seed=seed)
        assert out["delta_norm"] == pytest.approx(np.sqrt(np.sum(delta**2)), rel=1e-12)
        assert out["w0_norm"] == pytest.approx(np.sqrt(np.sum(W0**2)), rel=1e-12)
        # the left and right planes are two independent draws, from seed and seed + 1
        left, right = D.random_orthonormal(20, 3, seed), D.random_orthonormal(30, 3, seed + 1)
        assert out["onto_random"] == pytest.approx(np.linalg.norm(left.T @ W0 @ right), rel=1e-12)
    # without a seed, seed 0: the chapter's numbers are the same on every run
    assert D.amplification(delta, W0, 3) == D.amplification(delta, W0, 3, seed=0)


def test_random_orthonormal_is_orthonormal_and_seeded():
    Q = D.random_orthonormal(12, 5, seed=3)
    np.testing.assert_allclose(Q.T @ Q, np.eye(5), atol=1e-12)
    np.testing.assert_array_equal(Q, D.random_orthonormal(12, 5, seed=3))
    assert not np.allclose(Q, D.random_orthonormal(12, 5, seed=4))
    # the draw is the Gaussian of its own stream (the seed and the CRC-32 of its name), orthonormalised by
    # QR with the signs that make R's diagonal positive: chapter 9's random planes are this draw anywhere
    G = np.random.default_rng([3, zlib.crc32(b"random_orthonormal")]).standard_normal((12, 5))
    np.testing.assert_allclose(Q @ (Q.T @ G), G, atol=1e-12)  # Q spans G's columns
    assert np.all(np.diag(Q.T @ G) > 0)  # R = QᵀG has a positive diagonal
    assert abs(D.random_orthonormal(1, 1, seed=0)[0, 0]) == pytest.approx(1.0)  # a line in one dimension


def test_random_orthonormal_names_k_and_r_and_their_range():
    for k, r, message in (
        (0, 1, "k must be >= 1, got 0"),
        (5, 0, "r must be in 1..5, got 0"),
        (5, 6, "r must be in 1..5, got 6"),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            D.random_orthonormal(k, r)


def test_lora_delta_has_rank_at_most_r_and_its_energy_is_exhausted_at_r():
    rng = np.random.default_rng(9)
    for r in (1, 4, 16):
        dW = 2.0 * rng.standard_normal((64, r)) @ rng.standard_normal((r, 48))
        S = D.singular_values(dW)
        assert np.linalg.matrix_rank(dW) == r
        assert svd.energy_captured(S)[r] == pytest.approx(1.0, abs=1e-12)
        assert svd.rank_for_energy(S, 1.0) <= r


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="delta and W0 must have the same shape"):
        D.amplification(np.ones((3, 4)), np.ones((4, 3)), 1)
    with pytest.raises(ValueError, match="r must be in 1..3"):
        D.amplification(np.ones((3, 4)), np.ones((3, 4)), 4)
    for r in (0, 4):  # a matrix of 3 rows has 3 singular directions
        with pytest.raises(ValueError, match=rf"^r must be in 1\.\.3, got {r}$"):
            D.top_directions(np.ones((3, 4)), r)


def test_intruder_dimensions_are_new_strong_directions():
    W0 = _gaussian(40, 30, 10)
    assert D.intruder_dimensions(W0, W0) == 0
    assert D.intruder_dimensions(W0, 1.5 * W0) == 0  # re-weighting W₀'s own directions adds none
    U0, S0, _ = np.linalg.svd(W0, full_matrices=False)
    new = np.linalg.qr(np.c_[U0, _gaussian(40, 1, 11)])[0][:, -1]  # orthogonal to every uⁱ of W₀
    spike = 3 * S0[0] * np.outer(new, _gaussian(30, 1, 12)[:, 0] / np.sqrt(30))
    assert D.intruder_dimensions(W0, W0 + spike) == 1
    with pytest.raises(ValueError, match="threshold must be in"):
        D.intruder_dimensions(W0, W0, threshold=0)


def test_intruder_dimensions_name_each_bad_argument_and_its_range():
    W0 = _gaussian(12, 14, 13)
    assert D.intruder_dimensions(W0, W0, top=1) == D.intruder_dimensions(W0, W0, top=12) == 0  # 1..12 allowed
    # a threshold of 1 is allowed: then only a vector with |cos| = 1 is no intruder
    assert 0 <= D.intruder_dimensions(W0, W0, threshold=1) <= 10
    for top in (0, 13):
        with pytest.raises(ValueError, match=rf"^top must be in 1\.\.12, got {top}$"):
            D.intruder_dimensions(W0, W0, top=top)
    for threshold in (0, 1.5):
        with pytest.raises(ValueError, match=rf"^threshold must be in \(0, 1\], got {threshold}$"):
            D.intruder_dimensions(W0, W0, threshold=threshold)
    with pytest.raises(
        ValueError, match=r"^W0 and W must have the same shape, got \(12, 14\) and \(14, 12\)$"
    ):
        D.intruder_dimensions(W0, W0.T)


def test_as_array_takes_a_torch_tensor_as_peft_holds_it():
    """A LoRA factor requires grad, and a bf16 run's weights are in bfloat16: numpy reads neither directly."""
    factor = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    np.testing.assert_array_equal(D.as_array(factor), factor.detach().double().numpy())
    half = D.as_array(factor.detach().to(torch.bfloat16))
    exact = D.as_array(factor)
    assert half.dtype == np.float64 and np.all(np.abs(half - exact) <= 2**-8 * np.abs(exact))  # 8 bits kept
    with pytest.raises(ValueError, match=r"^W must be finite, got nan at index \(0, 1\)$"):
        D.as_array(torch.tensor([[1.0, float("nan")]]))
