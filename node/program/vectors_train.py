"""Step vectors of the v6 training ops (protocol.md sections 4, 5 and 7, issue 15): transpose
(one output leaf from 32 input leaves under one multiproof, as gmax's) and update (one output
leaf from the weights' and the gradient's leaves and 32 values of the generator). Each case runs
the op on whole random operands and checks that the step gives the whole output's leaf.
Boundary cases come first: the largest multiplier and shifts 1 and 32, int32 gradients at their
extremes, the clamp at both ends, int16-range masters, seeds and steps of 2^32 - 1."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from node.program.constants import INT32_MAX, INT32_MIN, LEAF_ELEMS, DType, Flag, Opcode
from node.program.ops import Op
from node.program.packing import pack
from node.program.reference import run_op
from node.program.tensors import TensorSpec
from node.program.vectors_v5 import (
    RANDOM_CASES,
    Case,
    Rng,
    _i8,
    _i32,
    _j,
    hx,
    leaf_case,
    multiproof_case,
)

U32_MAX = 2**32 - 1


def transpose_case(op: Op, x: np.ndarray, j: int) -> Case:
    """gmax's multiproof case, and the step checked against the whole output's leaf."""
    case = multiproof_case(op, x, j)
    if j < op.out_spec.n_leaves:
        whole = pack(run_op(op, x, None), DType.INT8)
        assert case["expected"] == hx(whole[32 * j : 32 * j + 32]), (op, j)
    return case


def transpose_cases(rng: Rng) -> list[Case]:
    cases = []
    # boundary: a single leaf square, all -128; a tall and a wide one; the last leaf
    for m, n, fill, j in (
        (32, 32, -128, 0),
        (32, 96, 127, 2),
        (96, 32, None, 2),
        (64, 64, None, 3),
    ):
        op = Op(Opcode.TRANSPOSE, out=1, a=0, M=m, N=n)
        x = np.full(m * n, fill) if fill is not None else _i8(rng, m * n)
        cases.append(transpose_case(op, x, j))
    for i in range(RANDOM_CASES):
        # mostly one or two leaves per row of a (the file stays small), every 10th up to 8
        m = LEAF_ELEMS * int(rng.integers(1, 3 if i % 10 else 9))
        n = LEAF_ELEMS * int(rng.integers(1, 3))
        op = Op(Opcode.TRANSPOSE, out=1, a=0, M=m, N=n)
        cases.append(transpose_case(op, _i8(rng, m * n), _j(rng, op)))
    return cases


def _update_op(m: int, n: int, *, master: bool, **kw: int) -> Op:
    base = dict(mult=3, shift=12, lo=-127, hi=127, pos=0, period=0)
    base.update(kw)
    return Op(Opcode.UPDATE, out=2, a=0, b=1, M=m, N=n, flags=Flag.INT32 if master else 0, **base)


def _weights(rng: Rng, n: int, master: bool) -> np.ndarray:
    if master:
        v = rng.integers(-(2**15), 2**15, n)
        v[rng.random(n) < 0.1] = 127 * 256
        return v
    return _i8(rng, n)


def update_cases(rng: Rng) -> list[Case]:
    cases = []
    extremes = np.array([INT32_MIN, INT32_MAX, 0, -1, 1, 1 << 20, -(1 << 20), 5] * 4)
    for master in (False, True):
        for mult, shift in ((INT32_MAX, 1), (INT32_MAX, 32), (1, 32), (1, 1), (12345, 17)):
            op = _update_op(1, 32, master=master, mult=mult, shift=shift, pos=U32_MAX,
                            period=U32_MAX)  # fmt: skip
            cases.append(leaf_case(op, _weights(rng, 32, master), extremes, 0))
        op = _update_op(2, 32, master=master, lo=-3, hi=3)  # the clamp at both ends
        cases.append(leaf_case(op, _weights(rng, 64, master), _i32(rng, 64, -5000, 5000), 1))
    for _ in range(RANDOM_CASES):
        master = bool(rng.random() < 0.5)
        m, n = int(rng.integers(1, 5)), LEAF_ELEMS * int(rng.integers(1, 3))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        op = _update_op(
            m, n, master=master, lo=lo, hi=hi,
            mult=int(rng.integers(1, INT32_MAX, endpoint=True)),
            shift=int(rng.integers(1, 33)),
            pos=int(rng.integers(0, U32_MAX, endpoint=True)),
            period=int(rng.integers(0, U32_MAX, endpoint=True)),
        )  # fmt: skip
        g = _i32(rng, m * n) if rng.random() < 0.5 else _i32(rng, m * n, -(1 << 16), 1 << 16)
        cases.append(leaf_case(op, _weights(rng, m * n, master), g, _j(rng, op)))
    return cases


TRAIN_STEP_GENERATORS: dict[str, Callable[[Rng], list[Case]]] = {
    "transpose": transpose_cases,
    "update": update_cases,
}


def train_bases() -> list[tuple[str, Op, int, int, dict[str, TensorSpec]]]:
    """Valid v6 ops (protocol.md section 4) with their operand specs (validation.json)."""
    i8, i32 = DType.INT8, DType.INT32
    return [
        ("transpose", Op(Opcode.TRANSPOSE, out=1, a=0, M=64, N=96), 1, 0,
         {"a": TensorSpec(i8, 96, 64)}),
        ("update", _update_op(4, 64, master=False, pos=9, period=U32_MAX), 2, 0,
         {"a": TensorSpec(i8, 4, 64), "b": TensorSpec(i32, 4, 64)}),
        ("update int32 masters", _update_op(4, 64, master=True, shift=32, mult=INT32_MAX), 2, 0,
         {"a": TensorSpec(i32, 4, 64), "b": TensorSpec(i32, 4, 64)}),
    ]  # fmt: skip


def train_invalid(bad: Callable[..., None]) -> None:
    """One case per v6 rule (rules 3, 6, 7, 11, 12, 14 for transpose and update)."""
    bad("transpose M = 48", "transpose", M=48)
    bad("K set on transpose", "transpose", K=32)
    bad("b set on transpose", "transpose", b=0)
    bad("flags 1 on transpose", "transpose", flags=1)
    bad("pos set on transpose", "transpose", pos=1)
    bad("mult set on transpose", "transpose", mult=1)
    bad("update b = 0xFFFF", "update", b=0xFFFF)
    bad("flags 2 on update", "update", flags=2)
    bad("K set on update", "update", K=32)
    bad("update shift 0", "update", shift=0)
    bad("update shift 33", "update int32 masters", shift=33)
    bad("update lo > hi", "update", lo=5, hi=4)
    bad("update mult 0", "update", mult=0)
    bad("update mult 2^31", "update", mult=2**31)
    bad("update zp set", "update", zp=1)
    bad("update padv set", "update", padv=1)
    bad("update mult2 set", "update", mult2=1)
    bad("update kind set", "update", kind=1)
