"""Job spec on disk: a directory with `manifest.json` (program, I/O adapters, metadata) and
`tensors.safetensors` (the constant input slots: weights, biases, multipliers, tables).

Versioned by `format` and `version`; loading checks both, re-validates the program and checks
that the stored op encodings and program root match the ops."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file, save_file

from node.program.constants import PROTOCOL_VERSION
from node.program.errors import ShapeMismatch, SpecFormatError
from node.program.ops import Op
from node.program.packing import numpy_dtype
from node.program.program import InputSlot, Program
from node.program.tensors import TensorSpec

FORMAT = "poc-job-spec"
SPEC_VERSION = 1
MANIFEST = "manifest.json"
TENSORS = "tensors.safetensors"


@dataclass(frozen=True)
class InputAdapter:
    """How a float input becomes the int8 data slot: symmetric/affine quantization, then layout.

    layout "rows": x is [B, F]; columns padded with the zero point to the slot's cols.
    layout "nchw": x is [B, C, H, W]; becomes NHWC rows [B*H*W, Cpad].
    layout "patches": x is [B, C, H, W]; becomes the first convolution's patch rows
    [B*OH*OW, KH*KW*C padded] (column (ky*KW + kx)*C + c), `kernel` = (KH, KW, stride, pad).
    Used when the image has few channels: padding C to 32 would multiply the first layer's
    work, padding KH*KW*C to 32 barely does."""

    scale: float
    zero_point: int = 0
    layout: str = "rows"
    feature_shape: tuple[int, ...] = ()
    kernel: tuple[int, ...] = ()

    def quantize(self, x: npt.ArrayLike, slot: TensorSpec, batch: int) -> npt.NDArray[np.int8]:
        xf = np.asarray(x, dtype=np.float64)
        if tuple(xf.shape[1:]) != self.feature_shape:
            raise ShapeMismatch(
                f"input of shape {xf.shape}, expected [B, {', '.join(map(str, self.feature_shape))}]"
            )
        if xf.shape[0] > batch:
            raise ShapeMismatch(f"{xf.shape[0]} input rows exceed the program batch {batch}")
        q = np.clip(np.round(xf / self.scale) + self.zero_point, -128, 127).astype(np.int8)
        if self.layout == "nchw":
            q = q.transpose(0, 2, 3, 1)  # NHWC
            c = q.shape[-1]
            q = q.reshape(-1, c)
        elif self.layout == "patches":
            kh, kw, st, pd = self.kernel
            q = _patches(q.transpose(0, 2, 3, 1), kh, kw, st, pd, self.zero_point)
        else:
            q = q.reshape(xf.shape[0], -1)
        per_item = slot.rows // batch
        out = np.full((slot.rows, slot.cols), self.zero_point, dtype=np.int8)
        out[: q.shape[0], : q.shape[1]] = q
        if q.shape[0] != xf.shape[0] * per_item:
            raise ShapeMismatch(
                f"input layout gives {q.shape[0]} rows, expected {xf.shape[0] * per_item}"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "zero_point": self.zero_point,
            "layout": self.layout,
            "feature_shape": list(self.feature_shape),
            "kernel": list(self.kernel),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InputAdapter:
        return cls(
            float(d["scale"]),
            int(d["zero_point"]),
            str(d["layout"]),
            tuple(int(v) for v in d["feature_shape"]),
            tuple(int(v) for v in d.get("kernel", ())),
        )


def _patches(
    x: npt.NDArray[np.int8], kh: int, kw: int, s: int, p: int, pad_value: int
) -> npt.NDArray[np.int8]:
    """NHWC [B, H, W, C] -> [B*OH*OW, KH*KW*C], zero-padded by `p` with `pad_value`."""
    b, h, w, c = x.shape
    xp = np.full((b, h + 2 * p, w + 2 * p, c), pad_value, dtype=np.int8)
    xp[:, p : p + h, p : p + w] = x
    oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    cols = [
        xp[:, ky : ky + s * (oh - 1) + 1 : s, kx : kx + s * (ow - 1) + 1 : s]
        for ky in range(kh)
        for kx in range(kw)
    ]
    return np.stack(cols, axis=3).reshape(b * oh * ow, kh * kw * c)


@dataclass(frozen=True)
class OutputAdapter:
    """How the output slot reads as floats: value = (q - zero_point) * scale[col], first `cols`."""

    scale: tuple[float, ...]
    cols: int
    zero_point: int = 0

    def dequantize(self, q: npt.ArrayLike, rows: int | None = None) -> npt.NDArray[np.float64]:
        arr = np.asarray(q, dtype=np.float64)
        arr = arr[:rows, : self.cols] if rows is not None else arr[:, : self.cols]
        return (arr - self.zero_point) * np.asarray(self.scale[: self.cols])[None, :]

    def to_json(self) -> dict[str, Any]:
        return {"scale": list(self.scale), "cols": self.cols, "zero_point": self.zero_point}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> OutputAdapter:
        return cls(tuple(float(v) for v in d["scale"]), int(d["cols"]), int(d["zero_point"]))


@dataclass
class JobSpec:
    """A program plus its constant tensors; slot `data_slot` is the job's data input."""

    program: Program
    constants: dict[int, npt.NDArray[Any]]
    batch: int
    data_slot: int = 0
    input_adapter: InputAdapter | None = None
    output_adapter: OutputAdapter | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        table = self.program.table
        for slot, arr in self.constants.items():
            spec = table[slot]
            if arr.shape != (spec.rows, spec.cols) or arr.dtype != numpy_dtype(spec.dtype):
                raise ShapeMismatch(
                    f"constant slot {slot} ({self.program.inputs[slot].name}) is "
                    f"{arr.dtype}{list(arr.shape)}, expected {spec.dtype.label}"
                    f"[{spec.rows}, {spec.cols}]"
                )
        missing = set(range(self.program.n_inputs)) - set(self.constants) - {self.data_slot}
        if missing:
            raise SpecFormatError(f"input slots {sorted(missing)} have no tensor")

    @property
    def data_spec(self) -> TensorSpec:
        return self.program.table[self.data_slot]

    def input_values(self, data: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        """All input slots in order, with `data` in the data slot (int8 features, or int32
        token ids for a generation program)."""
        spec = self.data_spec
        if data.shape != (spec.rows, spec.cols) or data.dtype != numpy_dtype(spec.dtype):
            raise ShapeMismatch(
                f"data input is {data.dtype}{list(data.shape)}, expected {spec.dtype.label}"
                f"[{spec.rows}, {spec.cols}]"
            )
        return [
            data if i == self.data_slot else self.constants[i] for i in range(self.program.n_inputs)
        ]

    def quantize_input(self, x: npt.ArrayLike) -> npt.NDArray[np.int8]:
        if self.input_adapter is None:
            raise SpecFormatError("this job spec has no input adapter; pass an int8 input")
        return self.input_adapter.quantize(x, self.data_spec, self.batch)

    # ---- disk ----

    def manifest(self) -> dict[str, Any]:
        p = self.program
        return {
            "format": FORMAT,
            "version": SPEC_VERSION,
            "protocol_version": PROTOCOL_VERSION,
            "batch": self.batch,
            "data_slot": self.data_slot,
            "inputs": [{"name": s.name, **s.spec.to_json()} for s in p.inputs],
            "ops": [op.to_json() for op in p.ops],
            "op_encodings": ["0x" + e.hex() for e in p.encodings()],
            "output_slot": p.output_slot,
            "program_root": "0x" + p.root.hex(),
            "input_adapter": self.input_adapter.to_json() if self.input_adapter else None,
            "output_adapter": self.output_adapter.to_json() if self.output_adapter else None,
            "meta": self.meta,
        }

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        names = {i: s.name for i, s in enumerate(self.program.inputs)}
        save_file(
            {names[i]: np.ascontiguousarray(a) for i, a in sorted(self.constants.items())},
            str(d / TENSORS),
        )
        (d / MANIFEST).write_text(json.dumps(self.manifest(), indent=1) + "\n")
        return d

    @classmethod
    def load(cls, directory: str | Path) -> JobSpec:
        d = Path(directory)
        try:
            man = json.loads((d / MANIFEST).read_text())
        except FileNotFoundError:
            raise SpecFormatError(f"no {MANIFEST} in {d}") from None
        except json.JSONDecodeError as exc:
            raise SpecFormatError(f"{d / MANIFEST} is not JSON: {exc}") from None
        if man.get("format") != FORMAT or man.get("version") != SPEC_VERSION:
            raise SpecFormatError(
                f"{d} is not a {FORMAT} v{SPEC_VERSION} (format={man.get('format')!r}, "
                f"version={man.get('version')!r})"
            )
        try:
            inputs = tuple(
                InputSlot(str(s["name"]), TensorSpec.from_json(s)) for s in man["inputs"]
            )
            ops = tuple(Op.from_json(o) for o in man["ops"])
            program = Program(inputs, ops, int(man["output_slot"]))
            program.validate()
            if ["0x" + e.hex() for e in program.encodings()] != man["op_encodings"]:
                raise SpecFormatError("op_encodings do not match the ops")
            if "0x" + program.root.hex() != man["program_root"]:
                raise SpecFormatError("program_root does not match the ops")
            raw = load_file(str(d / TENSORS))
            constants = {i: raw[s.name] for i, s in enumerate(inputs) if s.name in raw}
            ia, oa = man.get("input_adapter"), man.get("output_adapter")
            return cls(
                program,
                constants,
                int(man["batch"]),
                int(man["data_slot"]),
                InputAdapter.from_json(ia) if ia else None,
                OutputAdapter.from_json(oa) if oa else None,
                dict(man.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecFormatError(f"malformed job spec {d}: {exc!r}") from None
