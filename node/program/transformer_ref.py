"""Reference semantics of the v5 transformer ops (protocol.md sections 4 and 5): gather, write,
reduce, rowop, mul. numpy int64 and plain integers, no torch; `node.program.reference` calls in
here for the one step and for whole tensors.

Every formula is total (any operand value gives a defined output): an id is taken mod V, a
division by a value <= 0 gives 0, the square root is the exact floor `isqrt` of max(v, 0)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from node.program.constants import (
    ARGMAX_KEY,
    ARGMAX_START,
    LEAF_ELEMS,
    REDUCE_MAX_START,
    DType,
    Flag,
    Opcode,
    ReduceKind,
    RowKind,
)
from node.program.errors import BadEncoding, ProgramError
from node.program.ops import Op
from node.program.packing import pack, unpack

I64 = npt.NDArray[np.int64]

# the v5 ops whose step is one output leaf from at most two operand leaves
V5_ELEMENTWISE = frozenset({Opcode.GATHER, Opcode.WRITE, Opcode.ROWOP, Opcode.MUL})
V5_OPS = V5_ELEMENTWISE | {Opcode.REDUCE}


def ceil32(n: int) -> int:
    return -(-n // LEAF_ELEMS) * LEAF_ELEMS


def visible(op: Op, rows: I64, cols: I64) -> npt.NDArray[np.bool_]:
    """[len(rows), len(cols)]: column n is visible from row m iff n <= pos + m % period (MASK),
    else everything is visible."""
    if not op.has(Flag.MASK):
        return np.ones((len(rows), len(cols)), dtype=bool)
    limit = op.pos + rows % op.period
    return cols[None, :] <= limit[:, None]


def isqrt_values(v: I64) -> I64:
    """floor(sqrt(max(v, 0))) exactly, elementwise, for v < 2^63: a float64 estimate, then
    corrected to the largest r with r*r <= v (r < 2^31.5, so (r+1)^2 stays in int64)."""
    v = np.maximum(np.asarray(v, dtype=np.int64), 0)
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    for _ in range(2):
        r = np.where(r * r > v, r - 1, r)
        r = np.where((r + 1) * (r + 1) <= v, r + 1, r)
    return r


def _round_div(num: I64, den: I64) -> I64:
    """floor((num * 2 + den) / (2 * den)) where den > 0 (round half up), else 0."""
    ok = den > 0
    d = np.where(ok, den, 1)
    return np.where(ok, (2 * num + d) // (2 * d), 0)


def rowop_values(x: I64, s: I64, q: I64, rows: I64, cols: I64, op: Op) -> I64:
    """rowop on x [R, C] (rows `rows`, columns `cols` of the op's [M, N]) with the per-row
    values s, q ([R, 1]); exact in int64 (protocol.md section 4)."""
    kind = op.kind
    scale = 1 << op.shift
    if kind == RowKind.SUB:
        y = x - s
    elif kind == RowKind.DIV:
        y = _round_div(x * scale, np.broadcast_to(s, x.shape))
    elif kind in (RowKind.NORM, RowKind.RMSNORM):
        d = op.K
        norm = kind == RowKind.NORM
        c = x * d - (s if norm else 0)
        v = d * q - (s * s if norm else 0)
        r = isqrt_values(v)
        y = _round_div(c * scale, np.broadcast_to(r, x.shape))
    else:
        raise ProgramError(f"unknown rowop kind {kind}")
    y = np.clip(y, op.lo, op.hi)
    return np.where(visible(op, rows, cols), y, op.lo)


def reduce_rows(x: I64, op: Op) -> I64:
    """int32 [M, 32] per-row values of reduce over x [M, K] (protocol.md section 4)."""
    m, k = x.shape
    vis = visible(op, np.arange(m), np.arange(k))
    out = np.zeros((m, LEAF_ELEMS), dtype=np.int64)
    if op.kind == ReduceKind.MOMENTS:
        out[:, 0] = np.where(vis, x, 0).sum(axis=1)
        out[:, 1] = np.where(vis, x * x, 0).sum(axis=1)
        return out
    mx = np.where(vis, x, REDUCE_MAX_START).max(axis=1)
    if op.kind == ReduceKind.MAX:
        out[:] = mx[:, None]
        return out
    if op.kind == ReduceKind.ARGMAX:
        # the first visible maximum; a row with nothing visible has no True and argmax gives 0
        out[:] = np.argmax(vis & (x == mx[:, None]), axis=1)[:, None]
        return out
    raise ProgramError(f"unknown reduce kind {op.kind}")


# ---- reduce: the reduction level (protocol.md section 5) ----


def reduce_start(op: Op) -> int:
    """P_0 of the kind (the step ignores the game's stored 0 at chunk 0)."""
    return {ReduceKind.MAX: REDUCE_MAX_START, ReduceKind.ARGMAX: ARGMAX_START}.get(
        ReduceKind(op.kind), 0
    )


def reduce_combine(op: Op, row: int, elem: int, chunk: int, values: list[int], state: int) -> int:
    """P_{c+1} from P_c = `state` and chunk `chunk`'s 32 values of row `row` (not finalized)."""
    base = chunk * LEAF_ELEMS
    vis = visible(op, np.array([row]), np.arange(base, base + LEAF_ELEMS))[0]
    seen = [(base + t, v) for t, v in enumerate(values) if vis[t]]
    if op.kind == ReduceKind.MOMENTS:
        if elem == 0:
            return state + sum(v for _, v in seen)
        if elem == 1:
            return state + sum(v * v for _, v in seen)
        return state
    if op.kind == ReduceKind.MAX:
        return max([state] + [v for _, v in seen])
    if op.kind == ReduceKind.ARGMAX:
        return max([state] + [v * ARGMAX_KEY + (ARGMAX_KEY - 1 - n) for n, v in seen])
    raise ProgramError(f"unknown reduce kind {op.kind}")


def reduce_finish(op: Op, state: int) -> int:
    """The element from the last state: argmax's index from its key, else the state."""
    if op.kind != ReduceKind.ARGMAX:
        return state
    if state == ARGMAX_START:
        return 0
    return ARGMAX_KEY - 1 - state % ARGMAX_KEY


def reduce_in_dtype(op: Op) -> DType:
    return DType.INT32 if op.has(Flag.INT32) else DType.INT8


def step_reduce(op: Op, row: int, elem: int, chunk: int, a_leaf: bytes, prev: int) -> int:
    """The one step at chunk `chunk` of element `elem` of row `row` (output leaf `row`):
    P_{c+1}, or the element itself at the last chunk. `prev` is the game's agreed P_c (ignored
    at chunk 0, where the kind's start state is used)."""
    dt = reduce_in_dtype(op)
    if len(a_leaf) != dt.leaf_bytes:
        raise BadEncoding(f"reduce step reads a {dt.label} leaf, got {len(a_leaf)} bytes")
    values = [int(v) for v in unpack(a_leaf, dt)]
    state = reduce_combine(op, row, elem, chunk, values, reduce_start(op) if chunk == 0 else prev)
    return reduce_finish(op, state) if chunk == op.K // LEAF_ELEMS - 1 else state


def reduce_states(op: Op, row_values: list[int], row: int, elem: int) -> list[int]:
    """[P_0, ..., P_{K/32}] as the game sees them: P_0 = 0 (the stored word, never revealed),
    the states P_1 .. P_{K/32-1}, and the element at K/32."""
    chunks = op.K // LEAF_ELEMS
    state = reduce_start(op)
    out = [0]
    for c in range(chunks):
        state = reduce_combine(op, row, elem, c, row_values[c * 32 : c * 32 + 32], state)
        out.append(state)
    out[-1] = reduce_finish(op, state)
    return out


# ---- gather, write, rowop, mul: which leaves a step reads, and the step ----


def gather_table_leaf(op: Op, leaf_index: int, ids_leaf: bytes) -> int:
    """The table leaf a gather step copies to output leaf `leaf_index`, from the ids leaf."""
    m, n0 = divmod(leaf_index * LEAF_ELEMS, op.N)
    row = int(unpack(_sized(ids_leaf, DType.INT32), DType.INT32)[0]) % op.K
    return (row * op.N + n0) // LEAF_ELEMS


def write_b_leaf(op: Op, leaf_index: int) -> int | None:
    """The b leaf a write step reads for output leaf `leaf_index`, None when the leaf lies
    outside the written block."""
    m, n0 = divmod(leaf_index * LEAF_ELEMS, op.N)
    if not op.has(Flag.COLUMNS):
        if op.pos <= m < op.pos + op.K:
            return leaf_index - op.pos * op.N // LEAF_ELEMS
        return None
    if n0 + LEAF_ELEMS <= op.pos or n0 >= op.pos + op.K:
        return None
    first = max(n0, op.pos) - op.pos
    return (m * ceil32(op.K) + first // LEAF_ELEMS * LEAF_ELEMS) // LEAF_ELEMS


def v5_leaf_indices(op: Op, leaf_index: int) -> tuple[int | None, int | None]:
    """(a leaf, b leaf) of a write / rowop / mul step; gather: (None, ids leaf), its table leaf
    follows from the ids leaf (gather_table_leaf)."""
    m = leaf_index * LEAF_ELEMS // op.N
    code = op.opcode
    if code == Opcode.GATHER:
        return None, m
    if code == Opcode.WRITE:
        return leaf_index, write_b_leaf(op, leaf_index)
    if code == Opcode.ROWOP:
        return leaf_index, m
    if code == Opcode.MUL:
        per_row = op.N // LEAF_ELEMS
        return leaf_index, (leaf_index % per_row if op.has(Flag.BROADCAST) else leaf_index)
    raise ProgramError(f"{op.name} is not a v5 elementwise op")


def step_v5(op: Op, leaf_index: int, a_leaf: bytes | None, b_leaf: bytes | None) -> bytes:
    """Expected output leaf `leaf_index` (< nLeaves) of gather / write / rowop / mul.
    gather: `a_leaf` is the table leaf, `b_leaf` the ids leaf."""
    m, n0 = divmod(leaf_index * LEAF_ELEMS, op.N)
    code = op.opcode
    a = _need(a_leaf, "a")
    if code == Opcode.GATHER:
        _sized(_need(b_leaf, "b"), DType.INT32)
        return _sized(a, DType.INT8)
    if code == Opcode.WRITE:
        dt = DType.INT32 if op.has(Flag.INT32) else DType.INT8
        x = unpack(_sized(a, dt), dt).copy()
        bi = write_b_leaf(op, leaf_index)
        if bi is None:
            if b_leaf:
                raise BadEncoding("write step outside the block reads no b leaf")
            return pack(x, dt)
        y = unpack(_sized(_need(b_leaf, "b"), dt), dt)
        if not op.has(Flag.COLUMNS):
            return pack(y, dt)
        first = max(n0, op.pos) - op.pos
        base = first // LEAF_ELEMS * LEAF_ELEMS
        for t in range(LEAF_ELEMS):
            r = n0 + t - op.pos
            if 0 <= r < op.K:
                x[t] = y[r - base]
        return pack(x, dt)
    if code == Opcode.ROWOP:
        x = unpack(_sized(a, DType.INT8), DType.INT8).reshape(1, LEAF_ELEMS)
        st = unpack(_sized(_need(b_leaf, "b"), DType.INT32), DType.INT32)
        s, q = np.array([[st[0]]]), np.array([[st[1]]])
        cols = np.arange(n0, n0 + LEAF_ELEMS)
        return pack(rowop_values(x, s, q, np.array([m]), cols, op)[0], DType.INT8)
    if code == Opcode.MUL:
        x = unpack(_sized(a, DType.INT8), DType.INT8)
        y = unpack(_sized(_need(b_leaf, "b"), DType.INT8), DType.INT8)
        return pack(x * y, DType.INT32)
    raise ProgramError(f"{op.name} is not a v5 elementwise op")


def run_v5(op: Op, a: npt.NDArray[np.integer], b: npt.NDArray[np.integer] | None) -> I64:
    """Whole-tensor output [M, N] of a v5 op."""
    x = np.asarray(a, dtype=np.int64)
    code = op.opcode
    if code == Opcode.REDUCE:
        return reduce_rows(x.reshape(op.M, op.K), op)
    y = np.asarray(b, dtype=np.int64)
    if code == Opcode.GATHER:
        ids = y.reshape(op.M, LEAF_ELEMS)[:, 0] % op.K
        return x.reshape(op.K, op.N)[ids]
    x = x.reshape(op.M, op.N)
    if code == Opcode.WRITE:
        out = x.copy()
        if op.has(Flag.COLUMNS):
            out[:, op.pos : op.pos + op.K] = y.reshape(op.M, ceil32(op.K))[:, : op.K]
        else:
            out[op.pos : op.pos + op.K] = y.reshape(op.K, op.N)
        return out
    if code == Opcode.ROWOP:
        st = y.reshape(op.M, LEAF_ELEMS)
        return rowop_values(x, st[:, :1], st[:, 1:2], np.arange(op.M), np.arange(op.N), op)
    if code == Opcode.MUL:
        return x * y.reshape(-1, op.N)
    raise ProgramError(f"{op.name} is not a v5 op")


def _need(leaf: bytes | None, which: str) -> bytes:
    if leaf is None:
        raise BadEncoding(f"step needs the {which} operand")
    return leaf


def _sized(leaf: bytes, dtype: DType) -> bytes:
    if len(leaf) != dtype.leaf_bytes:
        raise BadEncoding(f"{dtype.label} leaf is {len(leaf)} bytes, expected {dtype.leaf_bytes}")
    return leaf


def isqrt(v: int) -> int:
    """floor(sqrt(max(v, 0))) of a Python int (what the contract computes)."""
    return math.isqrt(max(v, 0))
