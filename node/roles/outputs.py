"""Output availability (issue 11, P6): is the output of a claim to be had, and does it hash to
the claim's output root? One check for every role: the poster's client (its result), the
watchtower (the blob behind each locator it checks) and the provider (its own copy before it
publishes on demand).

An output is had from the content store (the blob behind the claim's output locator) or from
the chain (the `OutputPublished` event of `publishOutput`, which the provider must send when
the poster demands it). Either is trusted only when it hashes to the claim's output root."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from node.chain.contracts.job_market import JobMarketContract
from node.program.merkle import tensor_root
from node.program.tensors import TensorSpec
from node.roles.errors import OutputMismatch, RoleError
from node.storage.base import ContentStore
from node.storage.errors import StorageError


class OutputUnavailable(OutputMismatch):
    """A claim's output is neither behind its locator nor published on chain (exit code 13,
    as a mismatch: the message says whether demanding it on chain can still help)."""


class DemandRefused(RoleError):
    """The market refused a poster's `demandOutput` or an `outputTimeout` (the contract's
    custom error and what it means; exit code 9, as any transaction that would revert)."""

    exit_code = 9


class OutputState(StrEnum):
    AVAILABLE = "available"  # had, and it hashes to the claimed output root
    MISSING = "missing"  # not to be had (no such content, store unreachable, not published)
    MISMATCH = "mismatch"  # had, but not the claimed output (size or root)


@dataclass(frozen=True)
class OutputCheck:
    state: OutputState
    cause: str | None = None  # why missing or mismatch
    raw: bytes | None = None  # the packed output, when available

    @property
    def ok(self) -> bool:
        return self.state is OutputState.AVAILABLE


def mismatch(raw: bytes, spec: TensorSpec, root: bytes) -> str | None:
    """Why `raw` is not the packed tensor `spec` with root `root`; None when it is."""
    if len(raw) != spec.nbytes:
        return (
            f"{len(raw)} bytes, not the {spec.nbytes} of a {spec.rows}x{spec.cols} "
            f"{spec.dtype.label} output"
        )
    computed = tensor_root(raw, spec.dtype)
    if computed != root:
        return f"hashes to 0x{computed.hex()}, not the claimed output root 0x{root.hex()}"
    return None


def checked(raw: bytes, spec: TensorSpec, root: bytes, where: str) -> OutputCheck:
    why = mismatch(raw, spec, root)
    if why is None:
        return OutputCheck(OutputState.AVAILABLE, raw=raw)
    return OutputCheck(OutputState.MISMATCH, f"{where}: {why}")


def from_store(
    store: ContentStore,
    locator: str | None,
    spec: TensorSpec,
    root: bytes,
    timeout: float | None = None,
) -> OutputCheck:
    """The blob behind the claim's output locator, checked against its output root."""
    if locator is None:
        return OutputCheck(OutputState.MISSING, "no output locator (no ResultSubmitted event)")
    try:
        raw = store.get(locator, timeout=timeout)
    except StorageError as exc:
        return OutputCheck(OutputState.MISSING, f"output {locator}: {exc}")
    return checked(raw, spec, root, f"output {locator}")


def from_chain(
    market: JobMarketContract, claim_id: int, spec: TensorSpec, root: bytes
) -> OutputCheck:
    """The output published on chain for the claim (its OutputPublished event), checked.
    The contract accepted it because it hashes to the root, but with any number of trailing
    zero padding leaves (they leave the root unchanged): only the tensor's own bytes are kept."""
    event = market.output_published(claim_id)
    if event is None:
        return OutputCheck(OutputState.MISSING, f"claim {claim_id}: no output published on chain")
    return checked(bytes(event.data)[: spec.nbytes], spec, root, f"claim {claim_id}'s publication")


def best(store_check: OutputCheck, chain_check: OutputCheck) -> OutputCheck:
    """The first available one; else the store's cause and the chain's together."""
    for found in (store_check, chain_check):
        if found.ok:
            return found
    state = (
        OutputState.MISMATCH
        if OutputState.MISMATCH in (store_check.state, chain_check.state)
        else OutputState.MISSING
    )
    return OutputCheck(state, f"{store_check.cause}; {chain_check.cause}")
