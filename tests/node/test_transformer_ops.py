"""Property tests of the v5 transformer ops (protocol.md section 4) against float references
(LayerNorm, RMSNorm, masked softmax, argmax) with the error each integer formula allows, and the
executor's torch path against the integer reference on edge values (saturation, -128, int32
extremes, long rows, fully masked rows)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from node.compute import transformer_kernels as tk
from node.program.constants import (
    INT32_MAX,
    INT32_MIN,
    LEAF_ELEMS,
    MAX_K,
    Flag,
    Opcode,
    ReduceKind,
    RowKind,
)
from node.program.ops import Op
from node.program.reference import run_op
from node.program.transformer_ref import isqrt_values

SETTINGS = settings(max_examples=40, deadline=None)


def _rows(seed: int, m: int, n: int, spread: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(-spread, spread + 1, (m, n))
    x[rng.random((m, n)) < 0.05] = -128  # the most negative int8
    return np.clip(x, -128, 127)


def _both(op: Op, a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """The reference's output, checked equal to the executor's torch kernel."""
    ref = run_op(op, a, b)
    bt = None if b is None else torch.from_numpy(np.ascontiguousarray(b))
    got = tk.apply(op, torch.from_numpy(np.ascontiguousarray(a)), bt).numpy().astype(np.int64)
    assert (got == ref.reshape(got.shape)).all()
    return ref


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(1, 6),
    n32=st.integers(1, 8),
    spread=st.sampled_from([1, 3, 20, 128]),
    shift=st.integers(0, 7),
    rms=st.booleans(),
)
def test_norms_match_float_layernorm_and_rmsnorm(
    seed: int, m: int, n32: int, spread: int, shift: int, rms: bool
) -> None:
    n = n32 * LEAF_ELEMS
    x = _rows(seed, m, n, spread)
    mom = _both(Op(Opcode.REDUCE, out=1, a=0, M=m, K=n, N=32, kind=ReduceKind.MOMENTS), x, None)
    kind = RowKind.RMSNORM if rms else RowKind.NORM
    op = Op(Opcode.ROWOP, out=2, a=0, b=1, M=m, N=n, K=n, kind=kind, shift=shift, lo=-128, hi=127)
    y = _both(op, x.astype(np.int8), mom.astype(np.int32))
    xf = x.astype(np.float64)
    mean = 0.0 if rms else xf.mean(axis=1, keepdims=True)
    scale = np.sqrt(((xf - mean) ** 2).mean(axis=1, keepdims=True))
    r = isqrt_values(n * mom[:, 1:2] - (0 if rms else mom[:, :1] ** 2))
    for i in range(m):
        if r[i, 0] == 0:  # a constant row (or all zero for rms): defined as 0
            assert (y[i] == 0).all()
            continue
        want = (xf[i] - mean if rms else xf[i] - mean[i]) / scale[i] * 2**shift
        # r = floor(D * scale) >= D * scale - 1: relative error <= 1/r, then rounding, then the
        # clamp (1-Lipschitz)
        tol = 0.5 + np.abs(want) / r[i, 0] + 1e-9
        assert (np.abs(y[i] - np.clip(want, -128, 127)) <= tol).all(), (i, y[i], want)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(1, 6),
    n32=st.integers(1, 4),
    pos=st.integers(0, 130),
    period=st.integers(1, 6),
    spread=st.sampled_from([2, 30, 128]),
)
def test_masked_softmax_matches_float(
    seed: int, m: int, n32: int, pos: int, period: int, spread: int
) -> None:
    """reduce max (masked) -> rowop sub (masked) -> lut exp -> reduce moments -> rowop div is
    the float softmax of the visible scores (x / 16) within the exp table's rounding; masked
    columns get 0 (column 0 is always visible: pos >= 0)."""
    n = n32 * LEAF_ELEMS
    s = _rows(seed, m, n, spread)
    mask = {"flags": Flag.MASK, "pos": pos, "period": period}
    mx = _both(Op(Opcode.REDUCE, out=1, a=0, M=m, K=n, N=32, kind=ReduceKind.MAX, **mask), s, None)
    d = _both(
        Op(Opcode.ROWOP, out=2, a=0, b=1, M=m, N=n, kind=RowKind.SUB, lo=-128, hi=0, **mask),
        s.astype(np.int8),
        mx.astype(np.int32),
    )
    table = np.round(127 * np.exp(np.arange(-128, 128) / 16.0)).clip(0, 127)
    table[0] = 0
    e = table[d + 128].astype(np.int64)  # the lut op
    sums = _both(Op(Opcode.REDUCE, out=1, a=0, M=m, K=n, N=32, kind=ReduceKind.MOMENTS), e, None)
    op = Op(Opcode.ROWOP, out=2, a=0, b=1, M=m, N=n, kind=RowKind.DIV, shift=7, lo=0, hi=127)
    p = _both(op, e.astype(np.int8), sums.astype(np.int32))
    for i in range(m):
        vis = np.arange(n) <= pos + i % period
        assert (p[i, ~vis] == 0).all()
        z = s[i, vis].astype(np.float64) / 16.0
        f = np.exp(z - z.max())
        f /= f.sum()
        # each e is 127*exp rounded (+-0.5), or 0 below -128; the sum carries n of those errors
        den = np.exp(z - z.max()).sum()
        tol = 1 / 128 + (0.5 / 127) / den + f * (n * 0.5 / 127) / den + math.exp(-8) + 1e-9
        assert (np.abs(p[i, vis] / 128 - f) <= tol).all(), (i, p[i, vis] / 128, f)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(1, 4),
    k32=st.sampled_from([1, 2, 5, 64, MAX_K // LEAF_ELEMS]),
    wide=st.booleans(),
    masked=st.booleans(),
    ties=st.booleans(),
)
def test_argmax_and_max_match_numpy_first_occurrence(
    seed: int, m: int, k32: int, wide: bool, masked: bool, ties: bool
) -> None:
    """Greedy decoding's tie rule: the lowest index, among the visible columns only; int32
    logits at their extremes; rows up to MAX_K."""
    k = k32 * LEAF_ELEMS
    rng = np.random.default_rng(seed)
    if wide:
        x = (
            rng.choice([INT32_MIN, -1, INT32_MAX], (m, k))
            if ties
            else rng.integers(INT32_MIN, INT32_MAX, (m, k))
        )
    else:
        x = rng.choice([-128, 5, 127], (m, k)) if ties else rng.integers(-128, 128, (m, k))
    mask = {"flags": Flag.MASK, "pos": int(rng.integers(0, 40)), "period": 2} if masked else {}
    flags = (Flag.INT32 if wide else 0) | mask.pop("flags", 0)
    for kind in (ReduceKind.MAX, ReduceKind.ARGMAX):
        op = Op(Opcode.REDUCE, out=1, a=0, M=m, K=k, N=32, kind=kind, flags=flags, **mask)
        got = _both(op, x.astype(np.int32 if wide else np.int8), None)
        for i in range(m):
            vis = np.arange(k) <= (mask["pos"] + i % 2 if mask else k)
            xv = np.where(vis, x[i], np.iinfo(np.int64).min)
            want = (int(x[i][vis].max()) if vis.any() else INT32_MIN) if kind == ReduceKind.MAX \
                else (int(np.argmax(xv)) if vis.any() else 0)  # fmt: skip
            assert (got[i] == want).all(), (kind, i)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), k32=st.sampled_from([1, 3, MAX_K // 32])
)
def test_moments_are_exact_sums(seed: int, m: int, k32: int) -> None:
    """Sums and sums of squares are exact (|sum x^2| <= MAX_K * 2^14 < 2^31): all -128 too."""
    k = k32 * LEAF_ELEMS
    x = _rows(seed, m, k, 128)
    x[0] = -128
    got = _both(Op(Opcode.REDUCE, out=1, a=0, M=m, K=k, N=32, kind=ReduceKind.MOMENTS), x, None)
    assert (got[:, 0] == x.sum(axis=1)).all() and (got[:, 1] == (x * x).sum(axis=1)).all()
    assert (got[:, 2:] == 0).all() and got.max() <= INT32_MAX


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(1, 5),
    v=st.integers(1, 50),
    n32=st.integers(1, 3),
)
def test_gather_takes_rows_by_id_mod_v_and_mul_is_the_exact_product(
    seed: int, m: int, v: int, n32: int
) -> None:
    rng = np.random.default_rng(seed)
    n = n32 * LEAF_ELEMS
    table = rng.integers(-128, 128, (v, n))
    ids = rng.integers(INT32_MIN, INT32_MAX, (m, 32), endpoint=True)
    ids[0, 0] = INT32_MIN
    got = _both(
        Op(Opcode.GATHER, out=2, a=0, b=1, M=m, K=v, N=n),
        table.astype(np.int8),
        ids.astype(np.int32),
    )
    assert (got == table[ids[:, 0] % v]).all()
    a, b = rng.choice([-128, -1, 0, 127], (m, n)), rng.integers(-128, 128, (1, n))
    op = Op(Opcode.MUL, out=2, a=0, b=1, M=m, N=n, flags=Flag.BROADCAST)
    prod = _both(op, a.astype(np.int8), b.astype(np.int8))
    assert (prod == a.astype(np.float64) * b).all()  # exact: |product| <= 2^14


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1), m=st.integers(1, 6), n32=st.integers(1, 4), cols=st.booleans()
)
def test_write_replaces_exactly_the_block(seed: int, m: int, n32: int, cols: bool) -> None:
    rng = np.random.default_rng(seed)
    n = n32 * LEAF_ELEMS
    a = rng.integers(-128, 128, (m, n))
    if cols:
        k = int(rng.integers(1, min(32, n) + 1))
        pos = int(rng.integers(0, n - k + 1))
        b = rng.integers(-128, 128, (m, 32))
        want = a.copy()
        want[:, pos : pos + k] = b[:, :k]
    else:
        k = int(rng.integers(1, m + 1))
        pos = int(rng.integers(0, m - k + 1))
        b = rng.integers(-128, 128, (k, n))
        want = a.copy()
        want[pos : pos + k] = b
    op = Op(
        Opcode.WRITE, out=2, a=0, b=1, M=m, K=k, N=n, pos=pos, flags=Flag.COLUMNS if cols else 0
    )
    assert (_both(op, a.astype(np.int8), b.astype(np.int8)) == want).all()


@settings(max_examples=200, deadline=None)
@given(v=st.one_of(st.integers(0, 2**62), st.integers(0, 2**31).map(lambda r: r * r + r % 3 - 1)))
def test_isqrt_is_the_exact_floor(v: int) -> None:
    got = int(isqrt_values(np.array([v]))[0])
    assert got == math.isqrt(max(v, 0))
    assert int(tk.isqrt(torch.tensor([v], dtype=torch.int64))[0]) == got


def test_rowop_is_total_on_any_row_values() -> None:
    """Division by zero or a negative sum, a negative variance term: defined, never an error."""
    x = np.tile(np.array([-128, -1, 0, 1, 127, 64, -64, 3]), (4, 4))
    st_ = np.zeros((4, 32), dtype=np.int64)
    st_[:, 0] = [0, -5, INT32_MIN, INT32_MAX]
    st_[:, 1] = [INT32_MIN, -1, 0, INT32_MAX]
    for kind in RowKind:
        op = Op(Opcode.ROWOP, out=2, a=0, b=1, M=4, N=32, kind=kind, lo=-100, hi=100,
                shift=0 if kind == RowKind.SUB else 24, K=0 if kind < RowKind.NORM else MAX_K)  # fmt: skip
        y = _both(op, x.astype(np.int8), st_.astype(np.int32))
        assert ((-100 <= y) & (y <= 100)).all()
