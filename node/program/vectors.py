"""Test vectors of protocol.md section 7, generated from the reference semantics.

    python -m node.program.vectors [--out tests/vectors]

Deterministic (fixed seed): regenerating gives byte-identical files, which a test checks."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from node.program.constants import (
    INT32_MAX,
    INT32_MIN,
    LEAF_ELEMS,
    MAX_GROUP,
    MAX_K,
    MAX_ROW_SHIFT,
    MAX_SLOTS,
    MAX_TENSOR_ELEMS,
    NO_SLOT,
    DType,
    Flag,
    Opcode,
    ReduceKind,
    RowKind,
)
from node.program.errors import ProgramError
from node.program.merkle import (
    MerkleTree,
    depth_for,
    input_spec_tree,
    ops_tree,
    program_root,
    slot_tree,
    tensor_tree,
)
from node.program.ops import Op, group_op, im2col_op, qadd_op, requant_op
from node.program.packing import pack, unpack
from node.program.reference import (
    elementwise_leaf_indices,
    matmul_leaf_indices,
    step_elementwise,
    step_matmul,
)
from node.program.samples import random_im2col_window
from node.program.tensors import TensorSpec
from node.program.validation import (
    FIELD_OFFSET,
    encoding_violation,
    opening_violation,
    validate_op,
)
from node.program.vectors_train import TRAIN_STEP_GENERATORS, train_bases, train_invalid
from node.program.vectors_v5 import (
    RANDOM_CASES,
    V5_STEP_GENERATORS,
    Case,
    Rng,
    _i8,
    _i32,
    hx,
    multiproof_case,
)

SEED = 20261126


RANDOM_TABLE_CASES = 100
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "tests" / "vectors"


def _checked(op: Op, table: list[TensorSpec], n_inputs: int) -> Op:
    # Every vector's op is a valid op of some program: inputs then this op at index 0.
    validate_op(op, 0, n_inputs, table)
    return op


# ---------------------------------------------------------------- merkle.json


def _with_proofs(tree: MerkleTree, key: str) -> dict[str, Any]:
    """The tree's root and the sibling path of every leaf position (`key`: what a position is
    called in the vector file)."""
    return {
        "root": hx(tree.root),
        "proofs": [
            {key: i, "siblings": [hx(s) for s in tree.proof(i)]} for i in range(1 << tree.depth)
        ],
    }


def merkle_vectors(rng: Rng) -> dict[str, Any]:
    tensors = []
    for dt, rows, cols in [
        (DType.INT8, 1, 32),
        (DType.INT8, 3, 32),
        (DType.INT8, 5, 64),
        (DType.INT8, 2, 96),
        (DType.INT32, 1, 32),
        (DType.INT32, 3, 64),
        (DType.INT32, 4, 32),
    ]:
        vals = _i8(rng, rows * cols) if dt == DType.INT8 else _i32(rng, rows * cols)
        data = pack(vals, dt)
        tree = tensor_tree(data, dt)
        n = rows * cols // LEAF_ELEMS
        idxs = sorted(set(range(min(n, 4))) | {n - 1} | set(range(n, 1 << tree.depth)))
        proofs = []
        for j in idxs:
            leaf = (
                data[j * dt.leaf_bytes : (j + 1) * dt.leaf_bytes] if j < n else bytes(dt.leaf_bytes)
            )
            proofs.append(
                {"leaf_index": j, "leaf_hex": hx(leaf), "siblings": [hx(s) for s in tree.proof(j)]}
            )
        tensors.append(
            {
                "dtype": dt.label,
                "rows": rows,
                "cols": cols,
                "data_hex": hx(data),
                "root": hx(tree.root),
                "proofs": proofs,
            }
        )
    states = []
    for n_slots, n_set in [(1, 1), (3, 2), (5, 5), (9, 6)]:
        slots = [rng.bytes(32) if i < n_set else bytes(32) for i in range(n_slots)]
        tree = slot_tree(slots)
        states.append({"slots": [hx(s) for s in slots], **_with_proofs(tree, "slot")})
    programs = []
    extra = [TensorSpec(DType.INT32, 1, 64), TensorSpec(DType.INT8, 1, 256)] * 2
    for n_inputs, n_ops in ((1, 1), (3, 3), (5, 6)):
        specs = [TensorSpec(DType.INT8, 4, 64), *extra[: n_inputs - 1]]
        encs = [_relu_chain(n_inputs, i) for i in range(n_ops)]
        ops, table = ops_tree(encs), input_spec_tree([s.spec_leaf() for s in specs])
        ops_part = _with_proofs(ops, "index")
        spec_part = _with_proofs(table, "index")
        programs.append(
            {
                "ops": [hx(e) for e in encs],
                "ops_root": ops_part["root"],
                "proofs": ops_part["proofs"],
                "inputs": [_spec_json(s) for s in specs],
                "spec_leaves": [hx(s.spec_leaf()) for s in specs],
                "input_spec_root": spec_part["root"],
                "spec_proofs": spec_part["proofs"],
                "program_root": hx(program_root(ops.root, table.root)),
            }
        )
    return {"version": 2, "tensors": tensors, "states": states, "programs": programs}


def _relu_chain(n_inputs: int, i: int) -> bytes:
    # A valid program: input slot 0 int8 [4, 64] (other inputs unread), op i = relu of the
    # previous op's output (op 0: of slot 0).
    a = 0 if i == 0 else n_inputs + i - 1
    return Op(Opcode.RELU, out=n_inputs + i, a=a, M=4, N=64).encode()


# ---------------------------------------------------------------- elementwise steps


def _ew_case(op: Op, j: int, a_leaf: bytes | None, b_leaf: bytes | None) -> Case:
    n_leaves = op.M * op.N // LEAF_ELEMS
    ai, _ = elementwise_leaf_indices(op, j) if j < n_leaves else (None, None)
    if j >= n_leaves:
        a_leaf = b_leaf = None
    expected = step_elementwise(op, j, n_leaves, a_leaf, b_leaf)
    return {
        "enc": hx(op.encode()),
        "leaf_index": j,
        "n_leaves": n_leaves,
        "a_leaf": None if a_leaf is None else hx(a_leaf),
        "a_leaf_index": ai if a_leaf is not None else None,
        "b_leaf": None if b_leaf is None else hx(b_leaf),
        "expected": hx(expected),
    }


def _leaf_index(rng: Rng, op: Op, padding_share: float = 0.1) -> int:
    n = op.M * op.N // LEAF_ELEMS
    top = 1 << depth_for(n)
    if top > n and rng.random() < padding_share:
        return int(rng.integers(n, top))
    return int(rng.integers(0, n))


def _shape(rng: Rng) -> tuple[int, int]:
    return int(rng.integers(1, 6)), LEAF_ELEMS * int(rng.integers(1, 5))


def add_cases(rng: Rng) -> list[Case]:
    cases = []
    for i in range(RANDOM_CASES + 4):
        m, n = _shape(rng)
        bc = i % 2 == 1
        op = _checked(
            Op(Opcode.ADD, out=2, a=0, b=1, M=m, N=n, flags=Flag.ADD_BROADCAST if bc else 0),
            [TensorSpec(DType.INT32, m, n), TensorSpec(DType.INT32, 1 if bc else m, n)],
            2,
        )
        if i < 4:  # wrap-around edges
            a = np.full(LEAF_ELEMS, INT32_MAX if i % 2 == 0 else INT32_MIN)
            b = np.full(LEAF_ELEMS, 1 if i % 2 == 0 else -1)
            b[::2] = INT32_MAX if i % 2 == 0 else INT32_MIN
            j = 0
        else:
            a, b, j = _i32(rng, LEAF_ELEMS), _i32(rng, LEAF_ELEMS), _leaf_index(rng, op)
        cases.append(_ew_case(op, j, pack(a, DType.INT32), pack(b, DType.INT32)))
    # v7: the last op again with slot ids past 16 bits (op i = 0 of a program of 0x10002 inputs):
    # the verifier decodes the wide encoding, and the leaf does not depend on the slots
    wide_op = replace(op, out=0x10002, a=0x10001, b=0x10000)
    cases.append(_ew_case(wide_op, j, pack(a, DType.INT32), pack(b, DType.INT32)))
    return cases


def requant_cases(rng: Rng) -> list[Case]:
    cases = []

    def emit(op: Op, x: np.ndarray, mults: np.ndarray | None, j: int = 0) -> None:
        per = mults is not None
        table = [TensorSpec(DType.INT32, op.M, op.N)] + (
            [TensorSpec(DType.INT32, 1, op.N)] if per else []
        )
        _checked(op, table, len(table))
        cases.append(
            _ew_case(
                op, j, pack(x, DType.INT32), None if mults is None else pack(mults, DType.INT32)
            )
        )

    def rq(m: int, n: int, per: bool, mult: int, shift: int, zp: int, lo: int, hi: int) -> Op:
        return requant_op(
            2 if per else 1,
            0,
            M=m,
            N=n,
            shift=shift,
            mult=mult,
            mults=1 if per else None,
            zp=zp,
            lo=lo,
            hi=hi,
        )

    # rounding ties, both signs: (x * 1 + 2^(s-1)) >> s with x = (2k+1) * 2^(s-1)
    for shift in (1, 2, 5, 31, 62):
        half = 1 << (shift - 1)
        ks = np.arange(-16, 16)
        x = np.clip((2 * ks + 1) * half, INT32_MIN, INT32_MAX) if shift <= 31 else ks
        mult = 1 if shift <= 31 else (1 << 31) - 1
        emit(rq(1, 32, False, mult, shift, 0, -128, 127), x, None)
    # clamp edges and extreme products
    x = np.array([INT32_MIN, INT32_MAX, -1, 0, 1] * 6 + [INT32_MIN + 1, INT32_MAX - 1])
    for mult, shift, zp, lo, hi in [
        (INT32_MAX, 62, 0, -128, 127),
        (INT32_MAX, 1, 0, -128, 127),
        (1, 1, 127, -128, 127),
        (1, 1, -128, -128, 127),
        (12345, 20, 5, 0, 127),
        (1 << 30, 31, -3, -5, -5),
    ]:
        emit(rq(1, 32, False, mult, shift, zp, lo, hi), x, None)
    emit(rq(1, 32, True, 0, 62, 0, -128, 127), x, np.full(32, INT32_MAX))
    for i in range(RANDOM_CASES):
        m, n = _shape(rng)
        per = i % 2 == 1
        shift = int(rng.integers(1, 63))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        if rng.random() < 0.5:
            lo, hi = -128, 127
        mult = int(rng.integers(1, INT32_MAX, endpoint=True))
        op = rq(m, n, per, mult, shift, int(rng.integers(-128, 128)), lo, hi)
        # scale x so that the product lands near the output range often
        mag = (
            max(1, min(INT32_MAX, (1 << shift) // mult * 200)) if rng.random() < 0.7 else INT32_MAX
        )
        x = _i32(rng, LEAF_ELEMS, -mag, mag)
        mults = rng.integers(1, INT32_MAX, LEAF_ELEMS, endpoint=True) if per else None
        j = _leaf_index(rng, op)
        emit(op, x, mults, j)
    return cases


def relu_cases(rng: Rng) -> list[Case]:
    cases = []
    for i in range(RANDOM_CASES + 2):
        m, n = _shape(rng)
        wide = i % 2 == 1
        dt = DType.INT32 if wide else DType.INT8
        op = _checked(
            Op(Opcode.RELU, out=1, a=0, M=m, N=n, flags=Flag.RELU_INT32 if wide else 0),
            [TensorSpec(dt, m, n)],
            1,
        )
        if i < 2:
            vals = (
                np.array([-128, 127, 0, -1, 1] * 6 + [-128, 127])
                if not wide
                else np.array([INT32_MIN, INT32_MAX, 0, -1, 1] * 6 + [INT32_MIN, INT32_MAX])
            )
            j = 0
        else:
            vals = _i8(rng, LEAF_ELEMS) if not wide else _i32(rng, LEAF_ELEMS)
            j = _leaf_index(rng, op)
        cases.append(_ew_case(op, j, pack(vals, dt), None))
    # v7: slot ids past 16 bits, b = 0xFFFFFFFF (op 0 of a program of 0x12345 inputs)
    cases.append(_ew_case(replace(op, out=0x12345, a=0x12344), j, pack(vals, dt), None))
    return cases


def lut_cases(rng: Rng) -> list[Case]:
    cases = []
    for i in range(RANDOM_CASES + 1):
        m, n = _shape(rng)
        op = _checked(
            Op(Opcode.LUT, out=2, a=0, b=1, M=m, N=n),
            [TensorSpec(DType.INT8, m, n), TensorSpec(DType.INT8, 1, 256)],
            2,
        )
        table = _i8(rng, 256, 0.05)
        x = np.arange(-128, -96) if i == 0 else _i8(rng, LEAF_ELEMS)
        x[-1] = 127 if i == 0 else x[-1]
        j = 0 if i == 0 else _leaf_index(rng, op)
        cases.append(_ew_case(op, j, pack(x, DType.INT8), pack(table, DType.INT8)))
    return cases


def im2col_cases(rng: Rng) -> list[Case]:
    cases = []
    for i in range(RANDOM_CASES):
        win = random_im2col_window(rng)
        padv = int(rng.choice([0, -128, 127, int(rng.integers(-128, 128))]))
        spec = TensorSpec(DType.INT8, win["B"] * win["H"] * win["W"], win["C"])
        op = _checked(im2col_op(1, 0, padv=padv, **win), [spec], 1)
        n_leaves = op.M * op.N // LEAF_ELEMS
        # prefer padded positions in a third of the cases when the op has any
        j = _leaf_index(rng, op)
        if op.P and i % 3 == 0:
            pads = [k for k in range(n_leaves) if elementwise_leaf_indices(op, k)[0] is None]
            j = int(rng.choice(pads)) if pads else j
        src = elementwise_leaf_indices(op, j)[0] if j < n_leaves else None
        a_leaf = pack(_i8(rng, LEAF_ELEMS), DType.INT8) if src is not None else None
        cases.append(_ew_case(op, j, a_leaf, None))
    return cases


def qadd_cases(rng: Rng) -> list[Case]:
    """Random qadd steps, after boundary cases: saturation both ways with the largest
    multipliers, -128 everywhere, rounding ties (the exact sum an odd multiple of 2^(shift-1))
    and the largest shift."""
    cases = []
    big = INT32_MAX
    edges: list[tuple[dict[str, int], np.ndarray, np.ndarray]] = [
        ({"mult": big, "mult2": big, "shift": 1}, np.full(32, -128), np.full(32, -128)),
        ({"mult": big, "mult2": big, "shift": 1}, np.full(32, 127), np.full(32, 127)),
        ({"mult": big, "mult2": big, "shift": 62}, np.full(32, -128), np.full(32, 127)),
        # ties: (x + y + 1) >> 1 with x + y odd rounds half up (towards +inf)
        ({"mult": 1, "mult2": 1, "shift": 1}, np.arange(-16, 16), np.arange(16, -16, -1) - 1),
        ({"mult": 3, "mult2": 5, "shift": 2, "zp": -7, "lo": -20, "hi": 20},
         np.arange(-128, 128, 8), np.arange(127, -128, -8)),
    ]  # fmt: skip
    for i in range(RANDOM_CASES + len(edges)):
        m, n = _shape(rng)
        if i < len(edges):
            kw, x, y = edges[i]
            op = qadd_op(2, 0, 1, M=m, N=n, **kw)
            j = 0
        else:
            lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
            shift = int(rng.integers(1, 63))
            mult, mult2 = (
                int(v)
                for v in rng.integers(1, min(INT32_MAX, 1 << min(shift + 2, 31)), 2, endpoint=True)
            )
            op = qadd_op(
                2, 0, 1, M=m, N=n, mult=mult, mult2=mult2, shift=shift,
                zp=int(rng.integers(-128, 128)), lo=lo, hi=hi,
            )  # fmt: skip
            x, y, j = _i8(rng, LEAF_ELEMS), _i8(rng, LEAF_ELEMS), _leaf_index(rng, op)
        _checked(op, [TensorSpec(DType.INT8, m, n)] * 2, 2)
        cases.append(_ew_case(op, j, pack(x, DType.INT8), pack(y, DType.INT8)))
    return cases


def _group_cases(rng: Rng, opcode: Opcode, n_cases: int) -> list[Case]:
    """Whole random inputs, so that each case carries the G leaves' multiproof against the
    input root (protocol.md section 5): G = 1 and G = MAX_GROUP first, all -128 and all 127."""
    cases = []
    for i in range(n_cases):
        # mostly small G (the file stays small), every 10th up to MAX_GROUP
        top = MAX_GROUP if i % 10 == 0 else 16
        g = [1, MAX_GROUP, MAX_GROUP, 2][i] if i < 4 else int(rng.integers(1, top + 1))
        m, n = int(rng.integers(1, 4)), LEAF_ELEMS * int(rng.integers(1, 4))
        op = group_op(opcode, 1, 0, groups=g, M=m, N=n)
        spec = TensorSpec(DType.INT8, m, g * n)
        _checked(op, [spec], 1)
        fill = {1: -128, 2: 127}.get(i)
        x = np.full(spec.numel, fill) if fill is not None else _i8(rng, spec.numel)
        j = 0 if i < 4 else _leaf_index(rng, op)
        cases.append(multiproof_case(op, x, j))
    return cases


def gmax_cases(rng: Rng) -> list[Case]:
    return _group_cases(rng, Opcode.GMAX, RANDOM_CASES)


def gsum_cases(rng: Rng) -> list[Case]:
    return _group_cases(rng, Opcode.GSUM, RANDOM_CASES)


# ---------------------------------------------------------------- matmul steps


def matmul_cases(rng: Rng) -> list[Case]:
    cases = []

    def emit(
        m: int, k: int, n: int, j: int, e: int, c: int, a: np.ndarray, w: np.ndarray, prev: int
    ) -> None:
        op = _checked(
            Op(Opcode.MATMUL, out=2, a=0, b=1, M=m, K=k, N=n),
            [TensorSpec(DType.INT8, m, k), TensorSpec(DType.INT8, n, k)],
            2,
        )
        ai, wi = matmul_leaf_indices(op, j, e, c)
        al, wl = pack(a, DType.INT8), pack(w, DType.INT8)
        nxt = step_matmul(al, wl, prev)
        assert INT32_MIN <= nxt <= INT32_MAX
        cases.append(
            {
                "enc": hx(op.encode()),
                "leaf_index": j,
                "elem": e,
                "chunk": c,
                "a_leaf": hx(al),
                "a_leaf_index": ai,
                "w_leaf": hx(wl),
                "w_leaf_index": wi,
                "prev": prev,
                "next": nxt,
            }
        )

    kmax = MAX_K // LEAF_ELEMS * LEAF_ELEMS
    last = kmax // LEAF_ELEMS - 1
    full = LEAF_ELEMS * 128 * 128
    # K = MAX_K rounded to 32 at its last chunk: the largest and smallest reachable sums
    emit(1, kmax, 32, 0, 31, last, np.full(32, -128), np.full(32, -128), last * full)
    emit(1, kmax, 32, 0, 0, last, np.full(32, -128), np.full(32, 127), -last * 32 * 128 * 127)
    emit(2, kmax, 64, 3, 17, last, np.full(32, 127), np.full(32, 127), last * 32 * 127 * 127)
    emit(1, 32, 32, 0, 0, 0, np.full(32, -128), np.full(32, -128), 0)
    for _ in range(RANDOM_CASES):
        m = int(rng.integers(1, 9))
        k = LEAF_ELEMS * int(rng.integers(1, 65)) if rng.random() < 0.9 else kmax
        n = LEAF_ELEMS * int(rng.integers(1, 5))
        n_leaves = m * n // LEAF_ELEMS
        j, e, c = (
            int(rng.integers(0, n_leaves)),
            int(rng.integers(0, 32)),
            int(rng.integers(0, k // 32)),
        )
        bound = c * LEAF_ELEMS * 127 * 128
        prev = int(rng.integers(-bound, bound, endpoint=True)) if c else 0
        emit(m, k, n, j, e, c, _i8(rng, 32), _i8(rng, 32), prev)
    return cases


# ---------------------------------------------------------------- validation.json


def _spec_json(spec: TensorSpec) -> list[Any]:
    return [spec.dtype.label, spec.rows, spec.cols]


def _num(v: int) -> int | str:
    return v if abs(v) < 1 << 53 else str(v)


def _patch(enc: bytes, name: str, value: int, size: int) -> bytes:
    """`enc` with field `name` (at its byte offset, `size` bytes) set to `value` (unsigned)."""
    off = {**FIELD_OFFSET, "out_hi": 56, "a_hi": 58, "b_hi": 60}[name]
    return enc[:off] + value.to_bytes(size, "big") + enc[off + size :]


def _context(
    name: str, enc: bytes, n_inputs: int, index: int, operands: dict[str, TensorSpec] | None
) -> Case:
    case: Case = {"name": name, "enc": hx(enc), "n_inputs": n_inputs, "index": index}
    if operands is not None:
        case["operands"] = {k: _spec_json(v) for k, v in operands.items()}
    return case


def _invalid(name: str, enc: bytes, n_inputs: int, index: int) -> Case:
    v = encoding_violation(enc, index, n_inputs)
    assert v is not None, f"{name}: {enc.hex()} breaks no op rule"
    return {
        **_context(name, enc, n_inputs, index, None),
        "python": v.error.__name__,
        "error": v.chain_error,
        "args": {k: _num(x) for k, x in v.chain_args.items()},
    }


def _table(n_inputs: int, index: int, operands: dict[str, TensorSpec], op: Op) -> list[TensorSpec]:
    """Slots 0 .. out-1: the operand specs at slots a and b, a filler elsewhere."""
    table = [TensorSpec(DType.INT8, 1, LEAF_ELEMS)] * (n_inputs + index)
    for k, spec in operands.items():
        table[getattr(op, k)] = spec
    return table


def _table_error(op: Op, n_inputs: int, index: int, operands: dict[str, TensorSpec]) -> str | None:
    try:
        validate_op(op, index, n_inputs, _table(n_inputs, index, operands, op))
    except ProgramError as exc:
        return type(exc).__name__
    return None


# A valid op of each kind with its context: (name, op, n_inputs, index, operand specs).
def _valid_bases() -> list[tuple[str, Op, int, int, dict[str, TensorSpec]]]:
    i8, i32 = DType.INT8, DType.INT32
    rq = requant_op(1, 0, M=2, N=32, shift=4, mult=3, zp=1, lo=-100, hi=100)
    rq_pc = requant_op(2, 0, M=2, N=64, shift=62, mults=1, zp=-3, lo=-128, hi=0)
    win = im2col_op(1, 0, B=2, H=3, W=4, C=32, KH=2, KW=3, S=1, P=1, padv=-7)
    kmax = MAX_K // LEAF_ELEMS * LEAF_ELEMS
    big = MAX_TENSOR_ELEMS // LEAF_ELEMS
    return [
        ("matmul", Op(Opcode.MATMUL, out=2, a=0, b=1, M=2, K=64, N=32), 2, 0,
         {"a": TensorSpec(i8, 2, 64), "b": TensorSpec(i8, 32, 64)}),
        ("matmul K = MAX_K rounded to 32", Op(Opcode.MATMUL, out=3, a=1, b=0, M=1, K=kmax, N=32),
         2, 1, {"a": TensorSpec(i8, 1, kmax), "b": TensorSpec(i8, 32, kmax)}),
        ("add", Op(Opcode.ADD, out=2, a=0, b=1, M=3, N=64), 2, 0,
         {"a": TensorSpec(i32, 3, 64), "b": TensorSpec(i32, 3, 64)}),
        ("add broadcast", Op(Opcode.ADD, out=2, a=0, b=1, M=3, N=64, flags=Flag.ADD_BROADCAST),
         2, 0, {"a": TensorSpec(i32, 3, 64), "b": TensorSpec(i32, 1, 64)}),
        ("requant per-tensor", rq, 1, 0, {"a": TensorSpec(i32, 2, 32)}),
        ("requant mult = 2^31-1", replace(rq, mult=INT32_MAX, shift=62), 1, 0,
         {"a": TensorSpec(i32, 2, 32)}),
        ("requant per-channel, multipliers an input", rq_pc, 2, 0,
         {"a": TensorSpec(i32, 2, 64), "b": TensorSpec(i32, 1, 64)}),
        # F3: multipliers computed by an earlier op (op 0 = relu of an int32 input) are valid
        # on both sides, and every step of them is defined (validation.json "requant_steps")
        ("requant per-channel, multipliers computed by op 0",
         requant_op(3, 0, M=2, N=64, shift=8, mults=2), 2, 1,
         {"a": TensorSpec(i32, 2, 64), "b": TensorSpec(i32, 1, 64)}),
        ("relu int8", Op(Opcode.RELU, out=1, a=0, M=4, N=32), 1, 0, {"a": TensorSpec(i8, 4, 32)}),
        ("relu int32", Op(Opcode.RELU, out=1, a=0, M=4, N=32, flags=Flag.RELU_INT32), 1, 0,
         {"a": TensorSpec(i32, 4, 32)}),
        ("relu of 2^31 elements", Op(Opcode.RELU, out=1, a=0, M=big, N=32), 1, 0,
         {"a": TensorSpec(i8, big, 32)}),
        ("relu writing slot MAX_SLOTS - 1", Op(Opcode.RELU, out=MAX_SLOTS - 1, a=MAX_SLOTS - 2, M=1, N=32),
         MAX_SLOTS - 1, 0, {"a": TensorSpec(i8, 1, 32)}),
        ("lut", Op(Opcode.LUT, out=2, a=0, b=1, M=1, N=32), 2, 0,
         {"a": TensorSpec(i8, 1, 32), "b": TensorSpec(i8, 1, 256)}),
        ("im2col", win, 1, 0, {"a": TensorSpec(i8, 2 * 3 * 4, 32)}),
        ("im2col kernel = padded image", im2col_op(1, 0, B=1, H=1, W=1, C=64, KH=3, KW=3, S=2, P=1),
         1, 0, {"a": TensorSpec(i8, 1, 64)}),
        ("qadd", qadd_op(2, 0, 1, M=2, N=64, mult=3, mult2=INT32_MAX, shift=30, zp=-2, lo=-90,
                         hi=90), 2, 0, {"a": TensorSpec(i8, 2, 64), "b": TensorSpec(i8, 2, 64)}),
        ("gmax", group_op(Opcode.GMAX, 1, 0, groups=9, M=2, N=32), 1, 0,
         {"a": TensorSpec(i8, 2, 9 * 32)}),
        ("gsum G = MAX_GROUP", group_op(Opcode.GSUM, 2, 1, groups=MAX_GROUP, M=3, N=64), 2, 0,
         {"a": TensorSpec(i8, 3, MAX_GROUP * 64)}),
        ("gmax input of 2^31 elements", group_op(Opcode.GMAX, 1, 0, groups=MAX_GROUP,
                                                 M=big // MAX_GROUP, N=32), 1, 0,
         {"a": TensorSpec(i8, big // MAX_GROUP, MAX_GROUP * 32)}),
        # v7: slot ids beyond 16 bits (high halves at bytes 56..61); a an op output, b an input
        ("add of wide slots", Op(Opcode.ADD, out=0x1F456, a=0x1EFFF, b=0x10000, M=2, N=32),
         0x10001, 0x1F456 - 0x10001, {"a": TensorSpec(i32, 2, 32), "b": TensorSpec(i32, 2, 32)}),
        ("relu of wide slot 0x10000", Op(Opcode.RELU, out=0x10001, a=0x10000, M=1, N=32),
         0x10001, 0, {"a": TensorSpec(i8, 1, 32)}),
    ] + _v5_bases() + train_bases()  # fmt: skip


def _v5_bases() -> list[tuple[str, Op, int, int, dict[str, TensorSpec]]]:
    """Valid v5 ops (protocol.md section 4) with their operand specs."""
    i8, i32 = DType.INT8, DType.INT32
    kmax = MAX_K // LEAF_ELEMS * LEAF_ELEMS
    mask = {"flags": Flag.MASK, "pos": 5, "period": 3}
    return [
        ("gather", Op(Opcode.GATHER, out=2, a=0, b=1, M=3, K=50, N=64), 2, 0,
         {"a": TensorSpec(i8, 50, 64), "b": TensorSpec(i32, 3, 32)}),
        ("write rows", Op(Opcode.WRITE, out=2, a=0, b=1, M=64, K=1, N=64, pos=63), 2, 0,
         {"a": TensorSpec(i8, 64, 64), "b": TensorSpec(i8, 1, 64)}),
        ("write columns int32", Op(Opcode.WRITE, out=2, a=0, b=1, M=4, K=40, N=128, pos=64,
                                   flags=Flag.INT32 | Flag.COLUMNS), 2, 0,
         {"a": TensorSpec(i32, 4, 128), "b": TensorSpec(i32, 4, 64)}),
        ("write one column", Op(Opcode.WRITE, out=2, a=0, b=1, M=4, K=1, N=96, pos=77,
                                flags=Flag.COLUMNS), 2, 0,
         {"a": TensorSpec(i8, 4, 96), "b": TensorSpec(i8, 4, 32)}),
        ("reduce moments", Op(Opcode.REDUCE, out=1, a=0, M=2, K=kmax, N=32,
                              kind=ReduceKind.MOMENTS), 1, 0, {"a": TensorSpec(i8, 2, kmax)}),
        ("reduce max masked", Op(Opcode.REDUCE, out=1, a=0, M=6, K=64, N=32,
                                 kind=ReduceKind.MAX, **mask), 1, 0,
         {"a": TensorSpec(i8, 6, 64)}),
        ("reduce argmax int32", Op(Opcode.REDUCE, out=1, a=0, M=1, K=96, N=32,
                                   kind=ReduceKind.ARGMAX, flags=Flag.INT32), 1, 0,
         {"a": TensorSpec(i32, 1, 96)}),
        ("rowop sub masked", Op(Opcode.ROWOP, out=2, a=0, b=1, M=6, N=64, kind=RowKind.SUB,
                                lo=-128, hi=0, **mask), 2, 0,
         {"a": TensorSpec(i8, 6, 64), "b": TensorSpec(i32, 6, 32)}),
        ("rowop div", Op(Opcode.ROWOP, out=2, a=0, b=1, M=6, N=64, kind=RowKind.DIV, shift=7,
                         lo=0, hi=127), 2, 0,
         {"a": TensorSpec(i8, 6, 64), "b": TensorSpec(i32, 6, 32)}),
        ("rowop norm", Op(Opcode.ROWOP, out=2, a=0, b=1, M=2, N=64, K=60, kind=RowKind.NORM,
                          shift=MAX_ROW_SHIFT, lo=-128, hi=127), 2, 0,
         {"a": TensorSpec(i8, 2, 64), "b": TensorSpec(i32, 2, 32)}),
        ("rowop rmsnorm", Op(Opcode.ROWOP, out=2, a=0, b=1, M=2, N=64, K=MAX_K,
                             kind=RowKind.RMSNORM, shift=5, lo=-128, hi=127), 2, 0,
         {"a": TensorSpec(i8, 2, 64), "b": TensorSpec(i32, 2, 32)}),
        ("mul", Op(Opcode.MUL, out=2, a=0, b=1, M=3, N=64), 2, 0,
         {"a": TensorSpec(i8, 3, 64), "b": TensorSpec(i8, 3, 64)}),
        ("mul broadcast", Op(Opcode.MUL, out=2, a=0, b=1, M=3, N=64, flags=Flag.BROADCAST), 2, 0,
         {"a": TensorSpec(i8, 3, 64), "b": TensorSpec(i8, 1, 64)}),
    ]  # fmt: skip


def _v5_invalid(bad: Callable[..., None], raw: Callable[..., None]) -> None:
    """One case per v5 rule (rules 6, 7, 9, 11, 12, 14, 15 for the new ops)."""
    bad("b = 0xFFFFFFFF (gather needs b)", "gather", b=NO_SLOT)
    bad("b set on reduce", "reduce moments", b=0)
    for base, flags in [("gather", 1), ("write rows", 8), ("reduce moments", 2),
                        ("rowop div", 1), ("mul", 8), ("mul", 1)]:  # fmt: skip
        bad(f"flags {flags:#x} on {base}", base, flags=flags)
    bad("reduce N = 64", "reduce moments", N=64)
    bad("reduce K = 0", "reduce max masked", K=0)
    bad("reduce K = 48", "reduce max masked", K=48)
    bad("reduce K = MAX_K rounded up to 32", "reduce moments",
        K=(MAX_K // LEAF_ELEMS + 1) * LEAF_ELEMS)  # fmt: skip
    bad("gather K = 0", "gather", K=0)
    bad("gather table of 2^31 + 64 elements", "gather", K=MAX_TENSOR_ELEMS // 64 + 1)
    bad("write K = 0", "write rows", K=0)
    bad("rowop norm K = 0", "rowop norm", K=0)
    bad("rowop norm K = MAX_K + 1", "rowop rmsnorm", K=MAX_K + 1)
    bad("K set on rowop div", "rowop div", K=32)
    bad("K set on mul", "mul", K=32)
    bad("rowop shift 25", "rowop norm", shift=MAX_ROW_SHIFT + 1)
    bad("rowop sub shift 1", "rowop sub masked", shift=1)
    bad("rowop lo > hi", "rowop div", lo=5, hi=4)
    bad("rowop mult set", "rowop div", mult=1)
    bad("rowop zp set", "rowop div", zp=-1)
    bad("rowop B set", "rowop div", B=1)
    bad("mult2 set on rowop", "rowop norm", mult2=1)
    bad("shift set on gather", "gather", shift=1)
    bad("reduce kind 0", "reduce moments", kind=0)
    bad("reduce kind 4", "reduce max masked", kind=4)
    bad("reduce int32 moments", "reduce argmax int32", kind=ReduceKind.MOMENTS)
    bad("rowop kind 0", "rowop div", kind=0)
    bad("rowop kind 5", "rowop div", kind=5)
    bad("kind set on mul", "mul", kind=1)
    bad("kind set on write", "write rows", kind=1)
    bad("mask period 0", "reduce max masked", period=0)
    bad("pos set without mask", "rowop div", pos=1)
    bad("period set without mask", "reduce moments", period=1)
    bad("period set on write", "write rows", period=1)
    bad("write rows past M", "write rows", K=2)
    bad("write columns past N", "write columns int32", K=65)
    bad("write unaligned columns wider than 32", "write one column", K=33, pos=33)
    raw("write pos 2^32-1", "write rows", "pos", (1 << 32) - 1, 4)
    raw("gather period 2^32-1", "gather", "period", (1 << 32) - 1, 4)


def _named_invalid() -> list[Case]:
    """One case per op rule (protocol.md section 4), each breaking that rule alone."""
    bases = {name: (op, n, i) for name, op, n, i, _ in _valid_bases()}
    cases: list[Case] = []

    def bad(name: str, base: str, **change: Any) -> None:
        op, n, i = bases[base]
        cases.append(_invalid(name, replace(op, **change).encode(), n, i))

    def raw(name: str, base: str, field: str, value: int, size: int) -> None:
        op, n, i = bases[base]
        cases.append(_invalid(name, _patch(op.encode(), field, value, size), n, i))

    enc = bases["add"][0].encode()
    for length in (0, 63, 65):
        cases.append(_invalid(f"length {length}", (enc * 2)[:length], 2, 0))
    for at in (62, 63):
        cases.append(_invalid(f"reserved byte {at} set", enc[:at] + b"\x01" + enc[at + 1 :], 2, 0))
    for code in (0, 17, 255):
        raw(f"opcode {code}", "add", "opcode", code, 1)
    bad("out beyond nInputs + index", "add", out=3)
    bad("out below nInputs + index", "matmul K = MAX_K rounded to 32", out=2)
    cases.append(
        _invalid("out = MAX_SLOTS",
                 Op(Opcode.RELU, out=MAX_SLOTS, a=0, M=1, N=32).encode(), MAX_SLOTS, 0)
    )  # fmt: skip
    bad("a = out", "relu int8", a=1)
    bad("a = 0xFFFFFFFF", "add", a=NO_SLOT)
    bad("b = out (matmul)", "matmul", b=2)
    bad("b = 0xFFFFFFFF (lut needs b)", "lut", b=NO_SLOT)
    bad("b = 0xFFFFFFFF (per-channel requant needs b)", "requant per-channel, multipliers an input",
        b=NO_SLOT)  # fmt: skip
    bad("b set on relu", "relu int8", b=0)
    bad("b set on per-tensor requant", "requant per-tensor", b=0)
    bad("b set on im2col", "im2col", b=0)
    bad("b set on gmax", "gmax", b=0)
    bad("b = 0xFFFFFFFF (qadd needs b)", "qadd", b=NO_SLOT)
    bad("b = out (qadd)", "qadd", b=2)
    # v7: 32-bit slot ids; a v6 "no operand" (0xFFFF, high half zero) is slot 65535
    bad("b = 0xFFFF on relu (the v6 no-operand)", "relu int8", b=0xFFFF)
    bad("out high half set", "add of wide slots", out=0x1F456 + 0x10000)
    bad("a = out (wide)", "add of wide slots", a=0x1F456)
    bad("b beyond out (wide)", "add of wide slots", b=0x1F457)
    bad("b = 0xFFFFFFFF (wide add needs b)", "add of wide slots", b=NO_SLOT)
    bad("b high half set on wide relu", "relu of wide slot 0x10000", b=0x1FFFF)
    raw("out high half 0xFFFF", "add of wide slots", "out_hi", 0xFFFF, 2)
    raw("a high half 0xFFFF", "add of wide slots", "a_hi", 0xFFFF, 2)
    raw("b high half 0x0000 on relu", "relu of wide slot 0x10000", "b_hi", 0, 2)
    for base, flags in [("matmul", 1), ("add", 1), ("add", 4), ("requant per-tensor", 2),
                        ("relu int8", 2), ("lut", 8), ("im2col", 0x80), ("qadd", 1),
                        ("gmax", 2), ("gsum G = MAX_GROUP", 4)]:  # fmt: skip
        bad(f"flags {flags:#x} on {base}", base, flags=flags)
    bad("M = 0", "add", M=0)
    bad("N = 0", "relu int8", N=0)
    bad("N = 16", "relu int8", N=16)
    bad("N = 33", "add", N=33)
    bad("M * N = 2^31 + 32", "relu of 2^31 elements", M=MAX_TENSOR_ELEMS // LEAF_ELEMS + 1)
    bad("matmul K = 0", "matmul", K=0)
    bad("matmul K = 48", "matmul", K=48)
    bad("matmul K = MAX_K rounded up to 32", "matmul", K=(MAX_K // LEAF_ELEMS + 1) * LEAF_ELEMS)
    bad("K set on add", "add", K=32)
    bad("K set on qadd", "qadd", K=2)
    bad("gmax K = 0", "gmax", K=0)
    bad("gsum K = MAX_GROUP + 1", "gsum G = MAX_GROUP", K=MAX_GROUP + 1)
    raw("gmax K = 2^32-1", "gmax", "K", (1 << 32) - 1, 4)
    bad("gmax input of 2^31 + 2048 elements", "gmax input of 2^31 elements",
        M=MAX_TENSOR_ELEMS // LEAF_ELEMS // MAX_GROUP + 1)  # fmt: skip
    bad("qadd shift 0", "qadd", shift=0)
    bad("qadd shift 63", "qadd", shift=63)
    bad("qadd lo > hi", "qadd", lo=5, hi=4)
    bad("qadd mult 0", "qadd", mult=0)
    raw("qadd mult 2^31", "qadd", "mult", 1 << 31, 4)
    bad("qadd mult2 0", "qadd", mult2=0)
    raw("qadd mult2 2^31", "qadd", "mult2", 1 << 31, 4)
    raw("qadd mult2 2^32-1", "qadd", "mult2", (1 << 32) - 1, 4)
    bad("qadd mult 0 and mult2 0 (mult first)", "qadd", mult=0, mult2=0)
    bad("requant shift 0", "requant per-tensor", shift=0)
    bad("requant shift 63", "requant per-tensor", shift=63)
    bad("requant lo > hi", "requant per-tensor", lo=5, hi=4)
    bad("requant per-tensor mult 0", "requant per-tensor", mult=0)
    raw("requant per-tensor mult 2^31", "requant per-tensor", "mult", 1 << 31, 4)
    raw("requant per-tensor mult 2^32-1", "requant per-tensor", "mult", (1 << 32) - 1, 4)
    bad("requant per-channel mult set", "requant per-channel, multipliers an input", mult=5)
    bad("im2col C = 0", "im2col", C=0)
    bad("im2col C = 48", "im2col", C=48)
    for f in ("B", "H", "W", "KH", "KW", "S"):
        bad(f"im2col {f} = 0", "im2col", **{f: 0})
    bad("im2col H = W = 0 with padding (the kernel fits)", "im2col kernel = padded image",
        H=0, W=0, M=1)  # fmt: skip
    bad("im2col kernel taller than the padded image", "im2col", KH=6)
    bad("im2col kernel wider than the padded image", "im2col", KW=7)
    bad("im2col M != B*OH*OW", "im2col", M=1)
    bad("im2col N != KH*KW*C", "im2col", N=64)
    for base in ("relu int8", "matmul", "im2col", "gmax", "gsum G = MAX_GROUP"):
        for f, v in [("mult", 1), ("shift", 1), ("zp", -1), ("lo", -128), ("hi", 1)]:
            bad(f"{f} set on {base}", base, **{f: v})
    for base in ("add", "requant per-tensor", "lut", "qadd", "gmax"):
        for f in ("B", "H", "W", "C", "KH", "KW", "S", "P", "padv"):
            bad(f"{f} set on {base}", base, **{f: -128 if f == "padv" else 32})
    for base in (
        "add",
        "requant per-tensor",
        "requant per-channel, multipliers an input",
        "relu int8",
        "lut",
        "im2col",
        "matmul",
        "gmax",
        "gsum G = MAX_GROUP",
    ):
        bad(f"mult2 set on {base}", base, mult2=1)  # fmt: skip
    # mult2 is the last field: every other rule comes first
    bad("mult2 and padv set on relu (padv first)", "relu int8", mult2=1, padv=1)
    _v5_invalid(bad, raw)
    train_invalid(bad)
    return cases


def _random_invalid(rng: Rng, n: int) -> list[Case]:
    """Valid ops with random bytes overwritten, kept when they break some rule: several rules
    may break at once, and both sides must name the same (first) one."""
    bases = _valid_bases()
    cases: list[Case] = []
    while len(cases) < n:
        name, op, n_inputs, index, _ = bases[int(rng.integers(len(bases)))]
        enc = bytearray(op.encode())
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, 47)) if rng.random() < 0.95 else int(rng.integers(47, 64))
            enc[at] = int(rng.choice([0, 1, 0xFF, 0x80, int(rng.integers(0, 256))]))
        if rng.random() < 0.1:
            index += int(rng.integers(-1, 2))
        if index < 0 or encoding_violation(bytes(enc), index, n_inputs) is None:
            continue
        cases.append(_invalid(f"random {len(cases)} (from {name})", bytes(enc), n_inputs, index))
    return cases


def _producer(slot: int, spec: TensorSpec) -> Op:
    """An op writing `slot` whose out spec is `spec` (the contract decodes an operand's producing
    op for its out spec and does not validate it again: a relu of slot 0 serves)."""
    flags = Flag.RELU_INT32 if spec.dtype == DType.INT32 else 0
    return Op(Opcode.RELU, out=slot, a=0, M=spec.rows, N=spec.cols, flags=flags)


def _source(slot: int, n_inputs: int, spec: TensorSpec) -> bytes:
    """What openOp takes for an operand slot: its spec leaf (an input) or its producing op."""
    return spec.spec_leaf() if slot < n_inputs else _producer(slot, spec).encode()


def _spec_leaf(dtype: int, rows: int, cols: int, reserved: int = 0) -> bytes:
    """A spec leaf of any field values (malformed ones included)."""
    return (
        bytes([dtype]) + rows.to_bytes(4, "big") + cols.to_bytes(4, "big")
        + reserved.to_bytes(23, "big")
    )  # fmt: skip


def _sources(op: Op, n_inputs: int, operands: dict[str, TensorSpec]) -> dict[str, bytes]:
    return {k: _source(getattr(op, k), n_inputs, v) for k, v in operands.items()}


def _table_case(name: str, op: Op, n_inputs: int, index: int, sources: dict[str, bytes]) -> Case:
    """An op that keeps every op rule with operand sources that break a table rule: both
    sides name the same first rule (DisputeGame.openOp refuses it)."""
    by_slot = {getattr(op, k): src for k, src in sources.items()}
    v = opening_violation(op.encode(), index, n_inputs, by_slot)
    assert v is not None and encoding_violation(op.encode(), index, n_inputs) is None, name
    return {
        **_context(name, op.encode(), n_inputs, index, None),
        "sources": {k: hx(src) for k, src in sources.items()},
        "python": v.error.__name__,
        "error": v.chain_error,
        "args": {k: _num(x) for k, x in v.chain_args.items()},
    }


def _table_cases(
    rng: Rng, bases: list[tuple[str, Op, int, int, dict[str, TensorSpec]]]
) -> list[Case]:
    """Named cases of rules T1 (an input's spec leaf) and T2 (an operand's dtype, then size),
    operands read from inputs and from earlier ops, then random ones."""
    i8, i32 = DType.INT8, DType.INT32
    by = {name: (op, n, i, ops) for name, op, n, i, ops in bases}
    cases = []
    t2: list[tuple[str, str, dict[str, TensorSpec]]] = [
        ("matmul A int32", "matmul", {"a": TensorSpec(i32, 2, 64)}),
        ("matmul W of the wrong size", "matmul", {"b": TensorSpec(i8, 32, 32)}),
        ("matmul A and W wrong: A is named", "matmul",
         {"a": TensorSpec(i8, 4, 64), "b": TensorSpec(i32, 32, 64)}),
        ("add b int8", "add", {"b": TensorSpec(i8, 3, 64)}),
        ("add broadcast b of M rows", "add broadcast", {"b": TensorSpec(i32, 3, 64)}),
        ("requant a int8", "requant per-tensor", {"a": TensorSpec(i8, 2, 32)}),
        ("requant per-channel multipliers int8", "requant per-channel, multipliers an input",
         {"b": TensorSpec(i8, 1, 64)}),
        ("requant per-channel multipliers [1, 2N]", "requant per-channel, multipliers an input",
         {"b": TensorSpec(i32, 1, 128)}),
        ("requant per-channel multipliers computed int8 (op output)",
         "requant per-channel, multipliers computed by op 0", {"b": TensorSpec(i8, 1, 64)}),
        ("requant per-channel multipliers computed [2, 64] (op output)",
         "requant per-channel, multipliers computed by op 0", {"b": TensorSpec(i32, 2, 64)}),
        ("relu int8 of an int32 slot", "relu int8", {"a": TensorSpec(i32, 4, 32)}),
        ("relu int32 of an int8 slot", "relu int32", {"a": TensorSpec(i8, 4, 32)}),
        ("lut table [1, 128]", "lut", {"b": TensorSpec(i8, 1, 128)}),
        ("lut table int32", "lut", {"b": TensorSpec(i32, 1, 256)}),
        ("im2col X of the wrong size", "im2col", {"a": TensorSpec(i8, 2 * 3 * 4, 64)}),
        ("qadd a int32", "qadd", {"a": TensorSpec(i32, 2, 64)}),
        ("qadd b of the wrong size", "qadd", {"b": TensorSpec(i8, 2, 32)}),
        ("gmax a int32", "gmax", {"a": TensorSpec(i32, 2, 9 * 32)}),
        ("gsum a of G-1 groups", "gsum G = MAX_GROUP", {"a": TensorSpec(i8, 3, 63 * 64)}),
    ]  # fmt: skip
    for name, base, change in t2:
        op, n, i, operands = by[base]
        cases.append(_table_case(name, op, n, i, _sources(op, n, {**operands, **change})))
    op, n, i, operands = by["matmul"]  # a = slot 0 int8 [2, 64], b = slot 1 int8 [32, 64]
    good = _sources(op, n, operands)
    t1: list[tuple[str, dict[str, bytes]]] = [
        ("A spec reserved byte set", {"a": _spec_leaf(1, 2, 64, reserved=1)}),
        ("A spec reserved high byte set", {"a": _spec_leaf(1, 2, 64, reserved=0xFF << 176)}),
        ("A spec dtype 2", {"a": _spec_leaf(2, 2, 64)}),
        ("A spec dtype 0", {"a": _spec_leaf(0, 2, 64)}),
        ("A spec rows 0", {"a": _spec_leaf(1, 0, 64)}),
        ("A spec cols 0", {"a": _spec_leaf(1, 4, 0)}),
        ("A spec cols 48 (not whole leaves)", {"a": _spec_leaf(1, 2, 48)}),
        ("A spec cols 1, 128 elements", {"a": _spec_leaf(1, 128, 1)}),
        ("A spec of 2^31 + 32 elements", {"a": _spec_leaf(1, 2**26 + 1, 32)}),
        ("A spec of 2^32 - 1 rows", {"a": _spec_leaf(1, 2**32 - 1, 2**32 - 32)}),
        ("W spec dtype 4 rows 0", {"b": _spec_leaf(4, 0, 64)}),
        ("A spec malformed and W int32: A is named",
         {"a": _spec_leaf(3, 2, 64), "b": _spec_leaf(4, 32, 64)}),
        ("A int32 and W spec malformed: A is named (T2 of a before T1 of b)",
         {"a": _spec_leaf(4, 2, 64), "b": _spec_leaf(1, 32, 64, reserved=5)}),
    ]  # fmt: skip
    for name, leaves in t1:
        cases.append(_table_case(name, op, n, i, {**good, **leaves}))
    while len(cases) < len(t2) + len(t1) + RANDOM_TABLE_CASES:
        name, op, n, i, specs = bases[int(rng.integers(len(bases)))]
        sources = _sources(op, n, specs)
        for k, spec in specs.items():
            roll = rng.random()
            if roll < 0.4:
                continue
            if roll < 0.8 or getattr(op, k) >= n:
                dt = DType.INT8 if rng.random() < 0.5 else DType.INT32
                rows = max(1, spec.rows + int(rng.integers(-1, 2)))
                cols = max(32, spec.cols + 32 * int(rng.integers(-1, 2)))
                slot = getattr(op, k)
                sources[k] = (
                    _spec_leaf(int(dt), rows, cols)
                    if slot < n
                    else _producer(slot, TensorSpec(dt, rows, cols)).encode()
                )
            else:
                leaf = bytearray(sources[k])
                leaf[int(rng.integers(0, 32))] = int(rng.integers(0, 256))
                sources[k] = bytes(leaf)
        slots = {getattr(op, k): src for k, src in sources.items()}
        if opening_violation(op.encode(), i, n, slots) is None:
            continue
        cases.append(_table_case(f"random {len(cases)} (from {name})", op, n, i, sources))
    return cases


def _requant_steps(rng: Rng) -> list[Case]:
    """Per-channel requant with multipliers <= 0 (F3): defined by the formula of section 4
    for every int32, so a step exists whatever an earlier op computed."""
    cases = []
    op = requant_op(3, 0, M=2, N=64, shift=8, mults=2, zp=3, lo=-100, hi=90)
    edges = np.array([0, -1, INT32_MIN, INT32_MAX, 1] * 6 + [0, -(1 << 20)])
    xs = np.array([INT32_MIN, INT32_MAX, -1, 0, 1, 255, -256, 128] * 4)
    cases.append(_ew_case(op, 0, pack(xs, DType.INT32), pack(edges, DType.INT32)))
    cases.append(_ew_case(op, 1, pack(xs, DType.INT32), pack(np.zeros(32), DType.INT32)))
    for i in range(40):
        shift = int(rng.integers(1, 63))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        op = requant_op(3, 0, M=2, N=64, shift=shift, mults=2, zp=int(rng.integers(-128, 128)),
                        lo=lo, hi=hi)  # fmt: skip
        mults = _i32(rng, LEAF_ELEMS, INT32_MIN, 0 if i % 2 else INT32_MAX)
        mults[rng.random(LEAF_ELEMS) < 0.2] = 0
        mag = max(1, min(INT32_MAX, (1 << shift) // max(1, int(np.abs(mults).max())) * 200))
        x = _i32(rng, LEAF_ELEMS, -mag, mag) if rng.random() < 0.7 else _i32(rng, LEAF_ELEMS)
        cases.append(_ew_case(op, int(rng.integers(0, 4)), pack(x, DType.INT32),
                              pack(mults, DType.INT32)))  # fmt: skip
    return cases


def validation_vectors(rng: Rng) -> dict[str, Any]:
    bases = _valid_bases()
    valid = []
    for name, op, n, i, operands in bases:
        assert _table_error(op, n, i, operands) is None, name
        sources = {k: hx(v) for k, v in _sources(op, n, operands).items()}
        valid.append({**_context(name, op.encode(), n, i, operands), "sources": sources})
    return {
        "version": 2,
        "invalid": _named_invalid() + _random_invalid(rng, RANDOM_CASES),
        "table": _table_cases(rng, bases),
        "valid": valid,
        "requant_steps": _requant_steps(rng),
    }


STEP_GENERATORS: dict[str, Callable[[Rng], list[Case]]] = {
    "matmul": matmul_cases,
    "add": add_cases,
    "requant": requant_cases,
    "relu": relu_cases,
    "lut": lut_cases,
    "im2col": im2col_cases,
    "qadd": qadd_cases,
    "gmax": gmax_cases,
    "gsum": gsum_cases,
    **V5_STEP_GENERATORS,
    **TRAIN_STEP_GENERATORS,
}


def build_all() -> dict[str, str]:
    """File name -> exact file text."""
    files: dict[str, Any] = {}
    files["merkle.json"] = merkle_vectors(np.random.default_rng(SEED))
    for k, (name, gen) in enumerate(STEP_GENERATORS.items()):
        files[f"step_{name}.json"] = {
            "version": 1,
            "op": name,
            "cases": gen(np.random.default_rng(SEED + 1 + k)),
        }
    files["validation.json"] = validation_vectors(np.random.default_rng(SEED + 1 + len(files)))
    return {name: json.dumps(obj, indent=1) + "\n" for name, obj in files.items()}


def write(out: Path = DEFAULT_OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in build_all().items():
        p = out / name
        p.write_text(text)
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    for p in write(args.out):
        print(p)


if __name__ == "__main__":
    main()

_ = unpack  # re-exported for readers decoding vectors by hand
