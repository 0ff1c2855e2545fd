"""Errors of the chain layer, one class per thing an operator must act on differently."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.chain.contracts.errors import code_labels
from node.errors import PocError


class ChainError(PocError):
    """Something about the chain connection or a transaction went wrong."""

    exit_code = 7


class RpcUnreachable(ChainError):
    """The JSON-RPC endpoint does not answer (after retries)."""


class ChainIdMismatch(ChainError):
    """The endpoint serves another chain than the configured one."""


class AbiNotFound(ChainError):
    """No shipped ABI for this contract name (run `poc devnet export-abi` after compiling)."""


class AbiMismatch(ChainError):
    """The node's idea of a contract's interface disagrees with its ABI: a function or event
    it needs is absent, or a struct it encodes or decodes has missing or unknown fields."""


class DeploymentNotConfigured(ChainError):
    """A protocol contract address is missing, or the deployment's events are not found from
    the configured start block: fix the configuration (exit code as a missing setting)."""

    exit_code = 3


class TransactionReverted(ChainError):
    """A transaction would revert (dry run) or did revert (mined with status 0).

    `error_name` and `error_args` are decoded from the revert data with the contracts' ABIs:
    a custom error's name and arguments, `Error` with the reason string, or `Panic` with the
    code. `tx_hash` is set when the transaction was mined. The message is a sentence
    (node.chain.revert_text: the option, the states by name, the times as UTC dates) followed by
    the decoded error, whose numeric codes are named too, e.g. `[ParamOutOfRange(param=1
    (challengeWindow), value=30, ...)]`. A few errors have their own exit code (revert_text)."""

    exit_code = 9

    def __init__(
        self,
        action: str,
        error_name: str,
        error_args: dict[str, Any],
        data: bytes,
        tx_hash: str | None = None,
    ) -> None:
        from node.chain import revert_text

        self.action = action
        self.error_name = error_name
        self.error_args = error_args
        self.data = data
        self.tx_hash = tx_hash
        self.exit_code = revert_text.exit_code(error_name, type(self).exit_code)
        where = f"reverted in mined tx {tx_hash}" if tx_hash else "refused (dry run, nothing sent)"
        raw = format_error(error_name, error_args)
        said = revert_text.sentence(error_name, error_args, action)
        self.sentence = said or raw  # what the revert means, without the decoded error
        text = f"{said} [{raw}]" if said else raw
        super().__init__(f"{action} {where}: {text}")


class InsufficientFunds(ChainError):
    """The sending account cannot pay the transaction's value plus gas."""

    exit_code = 9


class TransactionFailed(TransactionReverted):
    """A mined transaction has status 0."""


class TransactionTimeout(ChainError):
    """No receipt for a sent transaction within the wait limit; it may still be mined."""

    def __init__(self, tx_hash: str, waited: float) -> None:
        self.tx_hash = tx_hash
        super().__init__(f"no receipt for {tx_hash} after {waited:.0f} s (it may still be mined)")


def format_error(name: str, args: Mapping[str, Any]) -> str:
    """`Name(arg=value, ...)`, bytes as hex, the protocol's numeric codes with their names:
    `BadProof(which=4 (aSlotProof (aRoot at slot a of S_lo)), computed=0x.., root=0x..)`."""
    labels = code_labels(name, args)
    shown = ", ".join(
        f"{k}={_show(v)} ({labels[k]})" if k in labels else f"{k}={_show(v)}"
        for k, v in args.items()
    )
    return f"{name}({shown})"


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) else str(value)
