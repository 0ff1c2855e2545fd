"""The job package: what a poster uploads and a provider or watchtower downloads.

The spec locator on chain is the CID of a small JSON index naming three content items by CID:
the spec's manifest, its constant tensors (safetensors) and the job's data input (int8 bytes,
or int32 little-endian token ids of a generation job). Separate items let the same model serve many jobs without re-upload.
Whoever downloads a package checks it against the roots fixed on chain before trusting it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from node.chain.contracts.job_market import JobParams
from node.program.constants import DType
from node.program.errors import ProgramError
from node.program.merkle import ZERO32, slot_tree, tensor_root
from node.program.packing import numpy_dtype, pack
from node.program.spec import MANIFEST, TENSORS, JobSpec
from node.roles.errors import JobPackageError, RootMismatch
from node.storage.base import ContentStore

FORMAT = "poc-job"
VERSION = 1
INPUT = "input.bin"
INDEX = "package.json"


@dataclass(frozen=True)
class Commitments:
    """What the chain fixes about a job's computation when it is posted."""

    program_root: bytes
    s0: bytes
    n_inputs: int
    n_ops: int
    output_slot: int


@dataclass
class JobPackage:
    spec: JobSpec
    data: npt.NDArray[Any]  # the data input slot, [rows, cols]: int8, or int32 token ids

    def commitments(self) -> Commitments:
        prog = self.spec.program
        roots = [
            tensor_root(pack(v.reshape(-1), prog.spec(i).dtype), prog.spec(i).dtype)
            for i, v in enumerate(self.spec.input_values(self.data))
        ]
        s0 = slot_tree(roots + [ZERO32] * len(prog.ops)).root
        return Commitments(prog.root, s0, prog.n_inputs, len(prog.ops), prog.output_slot)

    def check_against(self, params: JobParams) -> None:
        """RootMismatch unless the package is exactly the computation the job fixed."""
        c = self.commitments()
        wrong = []
        if c.program_root != params.program_root:
            wrong.append(
                f"program root 0x{c.program_root.hex()} != on-chain 0x{params.program_root.hex()}"
            )
        if c.s0 != params.s0:
            wrong.append(f"S_0 0x{c.s0.hex()} != on-chain 0x{params.s0.hex()}")
        for name, mine, theirs in (
            ("nInputs", c.n_inputs, params.n_inputs),
            ("nOps", c.n_ops, params.n_ops),
            ("outputSlot", c.output_slot, params.output_slot),
        ):
            if mine != theirs:
                wrong.append(f"{name} {mine} != on-chain {theirs}")
        if wrong:
            raise RootMismatch(
                "job data does not match its on-chain commitments: " + "; ".join(wrong)
            )

    # ---- content store ----

    def upload(self, store: ContentStore, workdir: Path) -> str:
        """Store the three items and the index; returns the index CID (the spec locator)."""
        d = self.spec.save(workdir)
        index = {
            "format": FORMAT,
            "version": VERSION,
            "manifest": store.put((d / MANIFEST).read_bytes()),
            "tensors": store.put((d / TENSORS).read_bytes()),
            "input": store.put(self.data.astype(data_dtype(self.spec)).tobytes()),
            "input_shape": list(self.data.shape),
        }
        return store.put(json.dumps(index, sort_keys=True).encode())

    @classmethod
    def download(
        cls, store: ContentStore, cid: str, workdir: Path, timeout: float | None = None
    ) -> JobPackage:
        """Fetch and parse a package; JobPackageError when it is not a valid one, storage
        errors (ContentUnavailable, ...) when its items cannot be had."""
        index = _index(store.get(cid, timeout=timeout), cid)
        tmp = workdir.with_name(workdir.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / MANIFEST).write_bytes(store.get(index["manifest"], timeout=timeout))
        (tmp / TENSORS).write_bytes(store.get(index["tensors"], timeout=timeout))
        (tmp / INPUT).write_bytes(store.get(index["input"], timeout=timeout))
        (tmp / INDEX).write_text(json.dumps(index))
        package = cls.load(tmp)  # parse before keeping it
        shutil.rmtree(workdir, ignore_errors=True)
        tmp.rename(workdir)
        return package

    @classmethod
    def load(cls, directory: Path) -> JobPackage:
        """A package already downloaded into `directory`."""
        try:
            index = json.loads((directory / INDEX).read_text())
            spec = JobSpec.load(directory)
            rows, cols = (int(x) for x in index["input_shape"])
            raw = (directory / INPUT).read_bytes()
        except ProgramError as exc:
            raise JobPackageError(f"job spec is invalid: {exc}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JobPackageError(f"job package in {directory} is malformed: {exc!r}") from None
        want = spec.data_spec
        dtype = data_dtype(spec)
        if (rows, cols) != (want.rows, want.cols) or len(raw) != rows * cols * dtype.itemsize:
            raise JobPackageError(
                f"data input is [{rows}, {cols}] ({len(raw)} bytes), the "
                f"program wants {want.dtype.label} [{want.rows}, {want.cols}]"
            )
        data = np.frombuffer(raw, dtype=dtype).reshape(rows, cols)
        return cls(spec, data.astype(numpy_dtype(want.dtype)))


def data_dtype(spec: JobSpec) -> np.dtype[Any]:
    """How the data input's bytes are stored: int8, or int32 little-endian (token ids)."""
    return np.dtype(np.int8) if spec.data_spec.dtype == DType.INT8 else np.dtype("<i4")


def _index(raw: bytes, cid: str) -> dict[str, Any]:
    try:
        index = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise JobPackageError(f"{cid} is not a poc job package (not JSON)") from None
    if (
        not isinstance(index, dict)
        or index.get("format") != FORMAT
        or index.get("version") != VERSION
    ):
        raise JobPackageError(f"{cid} is not a {FORMAT} v{VERSION} package")
    for key in ("manifest", "tensors", "input", "input_shape"):
        if key not in index:
            raise JobPackageError(f"job package {cid} lacks {key!r}")
    return index
