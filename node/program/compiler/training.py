"""Training jobs (issue 15, protocol.md section 4 "Training ops"): an MLP of bias-free Linear +
ReLU layers trained by integer SGD for S steps, as one static op list.

Per step `t`: the batch rows are gathered from the constant dataset tables by that step's ids;
forward per layer `Wq = requant(W, 8)` (int16-range int32 master weights to int8) + `matmul` +
`requant` + `relu`; the loss gradient `128 * (softmax(logits) - onehot)` from v5 ops; backward
per layer `dW = matmul(transpose(dZ), transpose(X))`, `dX = matmul(dZ, transpose(Wq))` +
`requant`, the ReLU derivative `lut(A > 0)` + `mul` + `requant`; then `update` with stochastic
rounding keyed by (seed, t). The step's loss (x16, summed over the batch) is written into row `t`
of an int32 [S, 32] tensor. The output is one int32 tensor: every layer's master weights, then
the losses, each viewed as rows of width `RESULT_COLS`.

Fixed-point scales are static (there is no data-dependent shift op): a float copy of the model at
its initial weights is run over the first batches and each activation and gradient scale is set so
that its largest value uses about half of the int8 range (`Scales`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from node.program.compiler.builder import ProgramBuilder
from node.program.compiler.errors import CompileError
from node.program.constants import LEAF_ELEMS, DType, Opcode, ReduceKind, RowKind
from node.program.ops import Op
from node.program.program import Program
from node.program.train_ref import MASTER_SHIFT

LOSS_SCALE = 16  # the loss tensor holds round(16 * -ln p) per row, summed over the batch
PROB_SHIFT = 7  # probabilities and the loss gradient are x 2^7
LOGIT_SCALE = 8.0  # int8 logits are 8 * z: z in [-16, 16)
RESULT_COLS = 32


class TrainingError(CompileError):
    """A training job that cannot be built (shapes, dataset, schedule)."""


def pad32(n: int) -> int:
    return -(-n // LEAF_ELEMS) * LEAF_ELEMS


@dataclass(frozen=True)
class TrainJobConfig:
    steps: int
    batch: int = 32
    lr: float | Sequence[float] = 0.1  # one value, or one per step (the schedule)
    seed: int = 0
    headroom: float = 2.0  # activations' and gradients' calibrated max -> 127 / headroom
    # fine-tuning: the first `frozen` layers keep their weights (int8 constants: no master,
    # no update, no gradient below the first trained layer); only the layers after them train
    frozen: int = 0

    def lr_at(self, t: int) -> float:
        if isinstance(self.lr, int | float):
            return float(self.lr)
        if len(self.lr) != self.steps:
            raise TrainingError(f"the schedule has {len(self.lr)} rates for {self.steps} steps")
        return float(self.lr[t])


@dataclass
class Scales:
    """Fixed-point scales: real value = int / scale."""

    x: float  # the inputs
    w: list[float]  # per layer: int8 weights (2^bw), masters are 2^8 finer
    act: list[float]  # per hidden layer: its int8 activations
    grad: list[float]  # per layer: its int8 dZ (the last one is 2^PROB_SHIFT)


@dataclass
class TrainingJob:
    program: Program
    constants: dict[int, npt.NDArray[Any]]
    dims: list[int]  # padded widths: input, hidden..., classes (padded)
    real: list[int]  # the model's widths
    classes: int
    scales: Scales
    config: TrainJobConfig
    layout: list[tuple[str, int, int, int]] = field(default_factory=list)  # name, row0, rows, cols

    def meta(self) -> dict[str, Any]:
        return {
            "training": {
                "dims": self.dims,
                "real": self.real,
                "classes": self.classes,
                "steps": self.config.steps,
                "batch": self.config.batch,
                "weight_scales": self.scales.w,
                "layout": [list(x) for x in self.layout],
                "frozen": self.config.frozen,
                "loss_scale": LOSS_SCALE,
            }
        }


def _exp_table() -> npt.NDArray[np.int8]:
    """lut of exp((x) / LOGIT_SCALE) * 127 for x <= 0 (x = -128: a masked column: 0)."""
    x = np.arange(-128, 128)
    t = np.where(x <= 0, np.round(127 * np.exp(np.minimum(x, 0) / LOGIT_SCALE)), 127)
    t[0] = 0
    return t.astype(np.int8)


def _nll_table() -> npt.NDArray[np.int8]:
    """lut of 16 * -ln(p) with p = x / 128 (x = 0: p = 1/256), clamped to 127."""
    x = np.arange(-128, 128)
    p = np.maximum(x, 0.5) / 2**PROB_SHIFT
    return np.clip(np.round(-LOSS_SCALE * np.log(np.minimum(p, 1.0))), 0, 127).astype(np.int8)


def _positive_table() -> npt.NDArray[np.int8]:
    return (np.arange(-128, 128) > 0).astype(np.int8)


def _ratio(r: float, top_shift: int = 62) -> tuple[int, int]:
    """(mult, shift) with mult / 2^shift ~ r, mult in 1 .. 2^31-1, shift in 1 .. top_shift."""
    if r <= 0:
        raise TrainingError(f"scale ratio {r} must be positive")
    shift = min(top_shift, max(1, 30 - math.floor(math.log2(r))))
    mult = max(1, min(2**31 - 1, round(r * 2**shift)))
    return mult, shift


def init_weights(dims_real: Sequence[int], seed: int) -> list[torch.Tensor]:
    """Kaiming-uniform weights of the bias-free MLP (what nn.Linear draws), seeded."""
    g = torch.Generator().manual_seed(seed)
    ws = []
    for k, n in zip(dims_real[:-1], dims_real[1:], strict=True):
        w = torch.empty(n, k)
        torch.nn.init.kaiming_uniform_(w, a=5**0.5, generator=g)
        ws.append(w)
    return ws


def _float_pass(
    ws: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> tuple[list[float], list[float], list[torch.Tensor]]:
    """Max |activation| of each hidden layer, max |dL/dz| (per example) of each layer, and the
    weight gradients (of the batch-mean loss), from one float forward and backward pass."""
    wts = [w.detach().clone().requires_grad_(True) for w in ws]
    h = x
    acts, zs = [], []
    for i, w in enumerate(wts):
        z = h @ w.T
        z.retain_grad()
        zs.append(z)
        if i < len(wts) - 1:
            h = torch.relu(z)
            acts.append(h)
    loss = torch.nn.functional.cross_entropy(zs[-1], y, reduction="sum")
    loss.backward()
    amax = [float(a.detach().abs().max()) for a in acts]
    gmax = [float(z.grad.abs().max()) for z in zs]  # type: ignore[union-attr]
    grads: list[torch.Tensor] = [w.grad / len(y) for w in wts]  # type: ignore[operator, misc]
    return amax, gmax, grads


def calibrate(
    ws: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batches: Sequence[npt.NDArray[np.int64]],
    cfg: TrainJobConfig,
) -> list[Scales]:
    """Per-step scales from a float shadow run: float SGD from the same weights over the same
    batches (cheap next to the job), each step's activation and gradient scales set so that that
    step's largest value maps to 127 / headroom, and the weight scale (2^bw, fixed: the masters
    keep it) so that the largest weight of the whole run fits with room to spare. The scales are
    hyperparameters of the program: nothing in the job depends on the shadow run being right."""
    cur = [w.clone() for w in ws]
    wmax = [float(w.abs().max()) for w in ws]
    per_step: list[tuple[list[float], list[float]]] = []
    for t, rows in enumerate(batches):
        amax, gmax, grads = _float_pass(cur, x[rows], y[rows])
        per_step.append((amax, gmax))
        cur = [
            w if i < cfg.frozen else w - cfg.lr_at(t) * g
            for i, (w, g) in enumerate(zip(cur, grads, strict=True))
        ]
        wmax = [max(m, float(w.abs().max())) for m, w in zip(wmax, cur, strict=True)]
    sx = 127.0 / max(float(x.abs().max()), 1e-6)
    sw = [float(2 ** math.floor(math.log2(127 / (1.5 * m)))) for m in wmax]
    out = []
    for amax, gmax in per_step:
        act = [127.0 / (cfg.headroom * max(a, 1e-6)) for a in amax]
        grad = [127.0 / (cfg.headroom * max(g, 1e-9)) for g in gmax[:-1]]
        out.append(Scales(sx, sw, act, [*grad, float(2**PROB_SHIFT)]))
    return out


def build_training_job(
    ws: Sequence[torch.Tensor],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    classes: int,
    cfg: TrainJobConfig,
    batches: Sequence[npt.NDArray[np.int64]],
) -> TrainingJob:
    """The training program for the MLP with initial weights `ws` ([out, in] each, no bias) over
    the dataset (`x_train` [n, features] in a fixed range, `y_train` [n] class ids), one batch of
    row ids per step."""
    if len(batches) != cfg.steps:
        raise TrainingError(f"{len(batches)} batches for {cfg.steps} steps")
    bsz = cfg.batch
    if bsz % LEAF_ELEMS or bsz < LEAF_ELEMS:
        raise TrainingError(f"batch {bsz} must be a positive multiple of 32")
    if classes > LEAF_ELEMS:
        raise TrainingError(f"{classes} classes: at most 32 (one leaf per row)")
    n = len(y_train)
    real = [int(ws[0].shape[1])] + [int(w.shape[0]) for w in ws]
    if real[-1] != classes:
        raise TrainingError(f"the last layer has {real[-1]} outputs for {classes} classes")
    if not 0 <= cfg.frozen < len(ws):
        raise TrainingError(
            f"{cfg.frozen} frozen layers of {len(ws)}: at least the last layer must train"
        )
    dims = [pad32(d) for d in real]
    steps_sc = calibrate(ws, x_train, y_train, batches, cfg)
    sc = steps_sc[0]

    b = ProgramBuilder()
    x8 = np.zeros((n, dims[0]), np.int8)
    x8[:, : real[0]] = np.clip(np.round(x_train.numpy() * sc.x), -127, 127)
    xs = b.constant("x", x8, DType.INT8)
    yv = y_train.numpy().astype(np.int64)
    onehot = np.zeros((n, LEAF_ELEMS), np.int8)
    onehot[np.arange(n), yv] = 1
    oh = b.constant("onehot", onehot, DType.INT8)
    yneg = b.constant("yneg", -128 * onehot.astype(np.int16), DType.INT8)
    exp_t = b.constant("exp", _exp_table(), DType.INT8)
    nll_t = b.constant("nll", _nll_table(), DType.INT8)
    pos_t = b.constant("positive", _positive_table(), DType.INT8)
    masters: list[str] = []
    frozen_q: list[str] = []  # the frozen layers' int8 weights, used as they are every step
    for i, w in enumerate(ws):
        if i < cfg.frozen:
            q8 = np.zeros((dims[i + 1], dims[i]), np.int64)
            q8[: w.shape[0], : w.shape[1]] = np.round(w.numpy() * sc.w[i])
            frozen_q.append(b.constant(f"w{i}", np.clip(q8, -127, 127), DType.INT8))
            masters.append("")
            continue
        m = np.zeros((dims[i + 1], dims[i]), np.int64)
        m[: w.shape[0], : w.shape[1]] = np.round(w.numpy() * sc.w[i] * 2**MASTER_SHIFT)
        lim = 127 << MASTER_SHIFT
        masters.append(b.constant(f"w{i}", np.clip(m, -lim, lim), DType.INT32))
    losses = b.constant("losses", np.zeros((cfg.steps, LEAF_ELEMS), np.int32), DType.INT32)
    ids_names = []
    for t, rows in enumerate(batches):
        if len(rows) != bsz:
            raise TrainingError(f"batch {t} has {len(rows)} rows, expected {bsz}")
        ids = np.zeros((bsz, LEAF_ELEMS), np.int32)
        ids[:, 0] = rows
        ids_names.append(b.constant(f"ids{t}", ids, DType.INT32))

    nl = len(ws)
    for t in range(cfg.steps):
        sc = steps_sc[t]
        xb = b.gather(xs, ids_names[t])
        inputs, wq = [xb], []
        h = xb
        for i in range(nl):
            k, o = dims[i], dims[i + 1]
            if i < cfg.frozen:
                q = frozen_q[i]
            else:
                q = b.requant(masters[i], o, k, MASTER_SHIFT, mult=1, lo=-127, hi=127)
            wq.append(q)
            z = b.matmul(h, q, bsz, k, o)
            s_in = sc.x if i == 0 else sc.act[i - 1]
            if i < nl - 1:
                mult, shift = _ratio(sc.act[i] / (s_in * sc.w[i]))
                h = b.relu(b.requant(z, bsz, o, shift, mult=mult), bsz, o)
                inputs.append(h)
            else:
                mult, shift = _ratio(LOGIT_SCALE / (s_in * sc.w[i]))
                h = b.requant(z, bsz, o, shift, mult=mult)
        # loss gradient: 128 * (softmax - onehot), padding columns masked
        mask = (classes - 1, 1)
        mx = b.reduce(h, ReduceKind.MAX, mask=mask)
        sh = b.rowop(h, mx, RowKind.SUB, lo=-128, hi=0, mask=mask)
        e = b.lut(sh, exp_t, bsz, dims[-1])
        ssum = b.reduce(e, ReduceKind.MOMENTS)
        p = b.rowop(e, ssum, RowKind.DIV, shift=PROB_SHIFT, lo=0, hi=127)
        yb = b.gather(yneg, ids_names[t])
        dz = b.qadd(p, yb, mult=2, mult2=2, shift=1)
        # the step's loss: sum over the batch of 16 * -ln p[label]
        nll = b.lut(p, nll_t, bsz, dims[-1])
        sel = b.requant(b.mul(nll, b.gather(oh, ids_names[t])), bsz, dims[-1], 1, mult=2)
        total = b._emit(
            Op(Opcode.REDUCE, out=0, a=b._ref(sel), M=1, K=bsz * dims[-1], N=32, kind=1)
        )
        losses = b.write(losses, total, pos=t, count=1)
        # backward, last layer first
        g = dz
        new_masters = list(masters)
        for i in reversed(range(cfg.frozen, nl)):
            k, o = dims[i], dims[i + 1]
            s_in = sc.x if i == 0 else sc.act[i - 1]
            dw = b.matmul(b.transpose(g), b.transpose(inputs[i]), o, bsz, k)
            lr = cfg.lr_at(t)
            # master units per dW unit: lr * 2^(8+bw) / (B * s_grad * s_in)
            r = lr * sc.w[i] * 2**MASTER_SHIFT / (bsz * sc.grad[i] * s_in)
            mult, shift = _ratio(r, 32)
            new_masters[i] = b.update(
                masters[i], dw, mult=mult, shift=shift, step=t, seed=cfg.seed, lo=-127, hi=127
            )
            if i > cfg.frozen:  # no gradient into a frozen layer
                dx = b.matmul(g, b.transpose(wq[i]), bsz, o, k)
                mult, shift = _ratio(sc.grad[i - 1] / (sc.grad[i] * sc.w[i]))
                dx8 = b.requant(dx, bsz, k, shift, mult=mult)
                live = b.lut(inputs[i], pos_t, bsz, k)
                g = b.requant(b.mul(dx8, live), bsz, k, 1, mult=2)
        masters = new_masters

    # the result: every trained master, then the losses, as rows of RESULT_COLS int32
    trained = range(cfg.frozen, nl)
    blocks = [*(masters[i] for i in trained), losses]
    names = [*(f"w{i}" for i in trained), "losses"]
    total_rows = sum(b._spec(x).numel // RESULT_COLS for x in blocks)
    result = b.constant("result", np.zeros((total_rows, RESULT_COLS), np.int32), DType.INT32)
    row = 0
    layout = []
    for name, blk in zip(names, blocks, strict=True):
        spec = b._spec(blk)
        n_rows = spec.numel // RESULT_COLS
        result = b.write(result, blk, pos=row, count=n_rows)
        layout.append((name, row, spec.rows, spec.cols))
        row += n_rows
    prog, consts = b.finish(result)
    return TrainingJob(prog, consts, dims, real, classes, sc, cfg, layout)


def unpack_result(
    result: npt.NDArray[np.integer], meta: dict[str, Any]
) -> tuple[list[npt.NDArray[np.float32]], npt.NDArray[np.float64]]:
    """Float weights ([out, in] of the model's widths, the padding cut off) of every trained
    layer (after the frozen ones of a fine-tuning job) and the mean loss after every step,
    from a training job's output tensor."""
    tr = meta["training"]
    flat = np.asarray(result).reshape(-1)
    want = sum(rows * cols for _, _, rows, cols in tr["layout"])
    if flat.size != want:
        raise TrainingError(f"a training output holds {want} values, got {flat.size}")
    real = tr["real"]
    weights: list[npt.NDArray[np.float32]] = []
    losses = np.zeros(0)
    for name, row0, rows, cols in tr["layout"]:
        block = flat[row0 * RESULT_COLS : row0 * RESULT_COLS + rows * cols].reshape(rows, cols)
        if name == "losses":
            losses = block[:, 0].astype(np.float64) / (tr["loss_scale"] * tr["batch"])
            continue
        i = int(name[1:])
        scale = tr["weight_scales"][i] * 2**MASTER_SHIFT
        weights.append((block[: real[i + 1], : real[i]] / scale).astype(np.float32))
    return weights, losses


def state_dict(
    weights: Sequence[npt.NDArray[np.float32]], layer_names: Sequence[str]
) -> dict[str, torch.Tensor]:
    """A float PyTorch state dict of the bias-free MLP (`<name>.weight` per Linear)."""
    return {
        f"{name}.weight": torch.from_numpy(np.ascontiguousarray(w))
        for name, w in zip(layer_names, weights, strict=True)
    }


def epoch_batches(n: int, steps: int, batch: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """`steps` batches of `batch` row ids: seeded permutations of the n rows, epoch after epoch
    (the last partial batch of an epoch is dropped)."""
    if n < batch:
        raise TrainingError(f"{n} rows cannot fill a batch of {batch}")
    g = np.random.default_rng(seed)
    out: list[npt.NDArray[np.int64]] = []
    while len(out) < steps:
        p = g.permutation(n)
        out.extend(p[k : k + batch] for k in range(0, n - batch + 1, batch))
    return out[:steps]


def mlp_logits(weights: Sequence[torch.Tensor | npt.ArrayLike], x: torch.Tensor) -> torch.Tensor:
    """The bias-free ReLU MLP in float (weights as tensors, autograd kept, or arrays)."""
    h = x
    for i, w in enumerate(weights):
        wt = w if isinstance(w, torch.Tensor) else torch.as_tensor(np.asarray(w))
        h = h @ wt.to(torch.float32).T
        if i < len(weights) - 1:
            h = torch.relu(h)
    return h


def float_sgd(
    ws: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batches: Sequence[npt.NDArray[np.int64]],
    cfg: TrainJobConfig,
) -> tuple[list[torch.Tensor], list[float]]:
    """Plain float32 SGD of the same model from the same weights over the same batches: the
    reference an integer job is measured against. Returns the weights and the loss per step."""
    wts = [w.clone().requires_grad_(True) for w in ws]
    losses = []
    for t, rows in enumerate(batches):
        loss = torch.nn.functional.cross_entropy(mlp_logits(wts, x[rows]), y[rows])
        losses.append(float(loss.detach()))
        for w in wts:
            w.grad = None
        loss.backward()
        with torch.no_grad():
            for w in wts[cfg.frozen :]:
                w -= cfg.lr_at(t) * w.grad  # type: ignore[operator]
    return [w.detach() for w in wts], losses
