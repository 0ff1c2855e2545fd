"""Step vectors of the v5 transformer ops (protocol.md sections 4, 5 and 7): gather, write,
rowop, mul (one output leaf from at most two operand leaves) and reduce (one chunk of the
reduction level). Each random case runs the op on whole random operands, takes the leaves the
step reads from them, and checks that the step gives the whole-tensor output's leaf, so the
vectors pin the step and `run_op` together. Boundary cases come first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from node.program.constants import (
    INT32_MAX,
    INT32_MIN,
    LEAF_ELEMS,
    MAX_K,
    MAX_ROW_SHIFT,
    DType,
    Flag,
    Opcode,
    ReduceKind,
    RowKind,
)
from node.program.merkle import depth_for, multi_proof, tensor_tree
from node.program.ops import Op
from node.program.packing import pack
from node.program.reference import (
    elementwise_leaf_indices,
    group_leaf_indices,
    run_op,
    step_elementwise,
)
from node.program.tensors import TensorSpec
from node.program.transformer_ref import (
    ceil32,
    gather_table_leaf,
    reduce_states,
    step_reduce,
)
from node.program.validation import operand_expectations, validate_op

Rng = np.random.Generator
Case = dict[str, Any]
RANDOM_CASES = 300


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def _i8(rng: Rng, n: int, edge: float = 0.2) -> np.ndarray:
    """Random int8 values with a share of the boundaries -128, -1, 0, 127."""
    v = rng.integers(-128, 128, n)
    mask = rng.random(n) < edge
    v[mask] = rng.choice([-128, -1, 0, 127], int(mask.sum()))
    return v


def _i32(rng: Rng, n: int, lo: int = INT32_MIN, hi: int = INT32_MAX) -> np.ndarray:
    return rng.integers(lo, hi, n, endpoint=True)


def _leaf(values: np.ndarray, dtype: DType, index: int) -> bytes:
    return pack(values.reshape(-1)[index * LEAF_ELEMS : (index + 1) * LEAF_ELEMS], dtype)


def _operand_dtypes(op: Op) -> list[DType]:
    return [o.dtype for o in operand_expectations(op)]


def _validated(op: Op) -> Op:
    """The op as op 0 of a program whose inputs have the shapes it expects."""
    table = [
        TensorSpec(o.dtype, o.numel // LEAF_ELEMS, LEAF_ELEMS) for o in operand_expectations(op)
    ]
    validate_op(op, 0, op.out, table)
    return op


def leaf_case(op: Op, a: np.ndarray, b: np.ndarray, j: int) -> Case:
    """A step case of a gather / write / rowop / mul op on whole operands a, b at leaf j,
    checked against the whole-tensor output."""
    _validated(op)
    n_leaves = op.M * op.N // LEAF_ELEMS
    adt, bdt = _operand_dtypes(op)
    out_dt = op.out_spec.dtype
    a_leaf: bytes | None = None
    b_leaf: bytes | None = None
    ai: int | None = None
    bi: int | None = None
    if j < n_leaves:
        if op.opcode == Opcode.GATHER:
            bi = j * LEAF_ELEMS // op.N
            b_leaf = _leaf(b, bdt, bi)
            ai = gather_table_leaf(op, j, b_leaf)
        else:
            ai, bi = elementwise_leaf_indices(op, j)
            b_leaf = _leaf(b, bdt, bi) if bi is not None else None
        assert ai is not None
        a_leaf = _leaf(a, adt, ai)
    expected = step_elementwise(op, j, n_leaves, a_leaf, b_leaf)
    if j < n_leaves:
        whole = run_op(op, a, b)
        assert expected == _leaf(whole, out_dt, j), (op, j)
    return {
        "enc": hx(op.encode()),
        "leaf_index": j,
        "n_leaves": n_leaves,
        "a_leaf": None if a_leaf is None else hx(a_leaf),
        "a_leaf_index": ai,
        "b_leaf": None if b_leaf is None else hx(b_leaf),
        "b_leaf_index": bi,
        "expected": hx(expected),
    }


def _j(rng: Rng, op: Op, padding_share: float = 0.1) -> int:
    n = op.M * op.N // LEAF_ELEMS
    top = 1 << depth_for(n)
    if top > n and rng.random() < padding_share:
        return int(rng.integers(n, top))
    return int(rng.integers(0, n))


def _mask(rng: Rng, op_m: int, cols: int) -> dict[str, int]:
    if rng.random() < 0.5:
        return {}
    return {
        "flags": Flag.MASK,
        "pos": int(rng.integers(0, cols + 8)),
        "period": int(rng.integers(1, op_m + 2)),
    }


# ---------------------------------------------------------------- gather


def gather_cases(rng: Rng) -> list[Case]:
    cases = []
    edge_ids = [0, -1, INT32_MIN, INT32_MAX, 7, -7]
    for i in range(RANDOM_CASES + 3):
        m = int(rng.integers(1, 6))
        v = [1, 3, 7][i] if i < 3 else int(rng.integers(1, 40))
        n = LEAF_ELEMS * int(rng.integers(1, 4))
        op = Op(Opcode.GATHER, out=2, a=0, b=1, M=m, K=v, N=n)
        table = _i8(rng, v * n)
        ids = _i32(rng, m * LEAF_ELEMS)
        if i < 3 or rng.random() < 0.3:
            ids[::LEAF_ELEMS] = rng.choice(edge_ids, m)
        elif rng.random() < 0.5:
            ids[::LEAF_ELEMS] = rng.integers(-3 * v, 3 * v, m)
        cases.append(leaf_case(op, table, ids, 0 if i < 3 else _j(rng, op)))
    return cases


# ---------------------------------------------------------------- write


def write_cases(rng: Rng) -> list[Case]:
    cases = []
    for i in range(RANDOM_CASES):
        i32 = i % 4 >= 2
        cols = i % 2 == 1
        dt = DType.INT32 if i32 else DType.INT8
        m = int(rng.integers(1, 7))
        n = LEAF_ELEMS * int(rng.integers(1, 5))
        if cols:
            if rng.random() < 0.5:  # aligned block, any width
                pos = LEAF_ELEMS * int(rng.integers(0, n // LEAF_ELEMS))
                k = int(rng.integers(1, n - pos + 1))
            else:  # unaligned, at most 32 wide (a decode step writes 1)
                k = 1 if rng.random() < 0.5 else int(rng.integers(1, min(32, n) + 1))
                pos = int(rng.integers(0, n - k + 1))
            b_shape = m * ceil32(k)
        else:
            k = int(rng.integers(1, m + 1))
            pos = int(rng.integers(0, m - k + 1))
            b_shape = k * n
        flags = (Flag.INT32 if i32 else 0) | (Flag.COLUMNS if cols else 0)
        op = Op(Opcode.WRITE, out=2, a=0, b=1, M=m, K=k, N=n, flags=flags, pos=pos)
        gen = _i32 if i32 else _i8
        a, b = gen(rng, m * n), gen(rng, b_shape)
        del dt
        cases.append(leaf_case(op, a, b, _j(rng, op)))
    return cases


# ---------------------------------------------------------------- rowop


def rowop_cases(rng: Rng) -> list[Case]:
    cases = []
    edges_s = [0, -1, 1, INT32_MIN, INT32_MAX]
    for i in range(RANDOM_CASES + 8):
        kind = RowKind(i % 4 + 1)
        m = int(rng.integers(1, 5))
        n = LEAF_ELEMS * int(rng.integers(1, 4))
        shift = 0 if kind == RowKind.SUB else int(rng.integers(0, MAX_ROW_SHIFT + 1))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        if rng.random() < 0.3:
            lo, hi = -128, 127
        d = int(rng.integers(1, MAX_K + 1)) if rng.random() < 0.2 else int(rng.integers(1, 200))
        mask = _mask(rng, m, n)
        op = Op(
            Opcode.ROWOP, out=2, a=0, b=1, M=m, N=n, kind=int(kind), shift=shift, lo=lo, hi=hi,
            K=d if kind in (RowKind.NORM, RowKind.RMSNORM) else 0, **mask,
        )  # fmt: skip
        x = _i8(rng, m * n)
        stats = _i32(rng, m * LEAF_ELEMS)
        if i < 8 or rng.random() < 0.5:
            # honest statistics of x (a real norm / softmax), or boundary values
            xs = x.reshape(m, n)[:, : min(n, d)] if d else x.reshape(m, n)
            s = xs.sum(axis=1) if kind != RowKind.SUB else xs.max(axis=1)
            if kind == RowKind.DIV:
                s = np.abs(x.reshape(m, n)).sum(axis=1)
            stats.reshape(m, LEAF_ELEMS)[:, 0] = s
            stats.reshape(m, LEAF_ELEMS)[:, 1] = (xs * xs).sum(axis=1)
        elif rng.random() < 0.5:
            stats.reshape(m, LEAF_ELEMS)[:, 0] = rng.choice(edges_s, m)
            stats.reshape(m, LEAF_ELEMS)[:, 1] = rng.choice(edges_s, m)
        cases.append(leaf_case(op, x, stats, 0 if i < 8 else _j(rng, op)))
    return cases


# ---------------------------------------------------------------- mul


def mul_cases(rng: Rng) -> list[Case]:
    cases = []
    for i in range(RANDOM_CASES + 2):
        m = int(rng.integers(1, 5))
        n = LEAF_ELEMS * int(rng.integers(1, 4))
        bc = i % 2 == 1
        op = Op(Opcode.MUL, out=2, a=0, b=1, M=m, N=n, flags=Flag.BROADCAST if bc else 0)
        if i < 2:
            a, b = np.full(m * n, -128), np.full(n if bc else m * n, -128)
            b[::2] = 127
        else:
            a, b = _i8(rng, m * n), _i8(rng, n if bc else m * n)
        cases.append(leaf_case(op, a, b, 0 if i < 2 else _j(rng, op)))
    return cases


# ---------------------------------------------------------------- reduce


def reduce_case(op: Op, x: np.ndarray, row: int, elem: int, chunk: int) -> Case:
    """One chunk of element `elem` of row `row`: prev = the honest P_chunk (the game's word 0
    at chunk 0), next = P_{chunk+1} (the element at the last chunk)."""
    _validated(op)
    dt = DType.INT32 if op.has(Flag.INT32) else DType.INT8
    xr = x.reshape(op.M, op.K)
    states = reduce_states(op, [int(v) for v in xr[row]], row, elem)
    a_leaf = pack(xr[row, chunk * LEAF_ELEMS : (chunk + 1) * LEAF_ELEMS], dt)
    nxt = step_reduce(op, row, elem, chunk, a_leaf, states[chunk])
    assert nxt == states[chunk + 1]
    if chunk == op.K // LEAF_ELEMS - 1:
        assert nxt == int(run_op(op, x, None)[row, elem])
    return {
        "enc": hx(op.encode()),
        "row": row,
        "elem": elem,
        "chunk": chunk,
        "a_leaf": hx(a_leaf),
        "a_leaf_index": (row * op.K + chunk * LEAF_ELEMS) // LEAF_ELEMS,
        "prev": str(states[chunk]),
        "next": str(nxt),
    }


def reduce_cases(rng: Rng) -> list[Case]:
    cases = []
    kmax = MAX_K // LEAF_ELEMS * LEAF_ELEMS
    # moments at K = MAX_K rounded to 32, all -128: the largest sum of squares (< 2^31)
    big = Op(Opcode.REDUCE, out=1, a=0, M=1, K=kmax, N=32, kind=ReduceKind.MOMENTS)
    xb = np.full(kmax, -128)
    last = kmax // LEAF_ELEMS - 1
    for e in (0, 1, 2):
        cases.append(reduce_case(big, xb, 0, e, last))
    # int32 max / argmax at the int32 extremes, ties (lowest index wins), a fully masked row
    for kind in (ReduceKind.MAX, ReduceKind.ARGMAX):
        op = Op(Opcode.REDUCE, out=1, a=0, M=2, K=64, N=32, kind=kind, flags=Flag.INT32)
        x = np.full(128, INT32_MIN)
        x[70] = x[100] = INT32_MAX
        for c in (0, 1):
            cases.append(reduce_case(op, x, 1, 5, c))
        masked = Op(Opcode.REDUCE, out=1, a=0, M=2, K=64, N=32, kind=kind, flags=Flag.MASK,
                    pos=0, period=1)  # fmt: skip
        xm = np.full(128, 7)
        cases.append(reduce_case(masked, xm, 0, 0, 1))
    for _ in range(RANDOM_CASES):
        kind = ReduceKind(int(rng.integers(1, 4)))
        i32 = kind != ReduceKind.MOMENTS and rng.random() < 0.4
        m = int(rng.integers(1, 5))
        k = LEAF_ELEMS * int(rng.integers(1, 9))
        mask = _mask(rng, m, k)
        flags = (Flag.INT32 if i32 else 0) | mask.pop("flags", 0)
        op = Op(Opcode.REDUCE, out=1, a=0, M=m, K=k, N=32, kind=int(kind), flags=flags, **mask)
        x = _i32(rng, m * k) if i32 else _i8(rng, m * k)
        if rng.random() < 0.3:  # many ties
            x = rng.choice([-5, 3, 3], m * k) if not i32 else rng.choice([INT32_MIN, 9], m * k)
        row = int(rng.integers(0, m))
        elem = int(rng.integers(0, 4)) if rng.random() < 0.7 else int(rng.integers(0, 32))
        cases.append(reduce_case(op, x, row, elem, int(rng.integers(0, k // LEAF_ELEMS))))
    return cases


V5_STEP_GENERATORS: dict[str, Callable[[Rng], list[Case]]] = {
    "gather": gather_cases,
    "write": write_cases,
    "reduce": reduce_cases,
    "rowop": rowop_cases,
    "mul": mul_cases,
}


def multiproof_case(op: Op, x: np.ndarray, j: int) -> Case:
    """Output leaf `j` of a one-operand op whose step reads several int8 leaves of `a` under one
    multiproof (gmax, gsum, transpose): the leaves, their indices, the proof and the step's
    expected leaf (a padding leaf takes none)."""
    px = pack(x, DType.INT8)
    tree = tensor_tree(px, DType.INT8)
    n_leaves = op.out_spec.n_leaves
    case: Case = {"enc": hx(op.encode()), "leaf_index": j, "n_leaves": n_leaves}
    if j < n_leaves:
        idx = group_leaf_indices(op, j)
        a_leaf = b"".join(px[32 * k : 32 * k + 32] for k in idx)
        proof = multi_proof(tree, idx)
    else:
        idx, a_leaf, proof = [], b"", []
    expected = step_elementwise(op, j, n_leaves, a_leaf if idx else None, None)
    case.update(
        a_leaf=hx(a_leaf) if idx else None,
        a_leaf_index=idx[0] if idx else None,
        a_leaf_indices=idx,
        a_root=hx(tree.root),
        a_proof=[hx(p) for p in proof],
        b_leaf=None,
        expected=hx(expected),
    )
    return case
