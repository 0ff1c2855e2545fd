"""Test vectors of protocol.md section 7, generated from the reference semantics.

    python -m node.program.vectors [--out tests/vectors]

Deterministic (fixed seed): regenerating gives byte-identical files, which a test checks."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from node.program.constants import (
    INT32_MAX,
    INT32_MIN,
    LEAF_ELEMS,
    MAX_K,
    DType,
    Flag,
    Opcode,
)
from node.program.merkle import MerkleTree, depth_for, program_tree, slot_tree, tensor_tree
from node.program.ops import Op, im2col_op, requant_op
from node.program.packing import pack, unpack
from node.program.reference import (
    elementwise_leaf_indices,
    matmul_leaf_indices,
    step_elementwise,
    step_matmul,
)
from node.program.samples import random_im2col_window
from node.program.tensors import TensorSpec
from node.program.validation import validate_op

SEED = 20261126
RANDOM_CASES = 300
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "tests" / "vectors"
Rng = np.random.Generator
Case = dict[str, Any]


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
    for n_ops in (1, 3, 6):
        encs = [_random_relu_chain(i) for i in range(n_ops)]
        tree = program_tree(encs)
        programs.append({"ops": [hx(e) for e in encs], **_with_proofs(tree, "index")})
    return {"version": 1, "tensors": tensors, "states": states, "programs": programs}


def _random_relu_chain(i: int) -> bytes:
    # A valid program: input slot 0 int8 [4, 64], op i = relu of slot i.
    return Op(Opcode.RELU, out=1 + i, a=i, M=4, N=64).encode()


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


STEP_GENERATORS: dict[str, Callable[[Rng], list[Case]]] = {
    "matmul": matmul_cases,
    "add": add_cases,
    "requant": requant_cases,
    "relu": relu_cases,
    "lut": lut_cases,
    "im2col": im2col_cases,
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
