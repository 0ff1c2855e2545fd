"""Decode revert data into the custom error's name and arguments, using the contracts' ABIs;
the protocol's numeric codes (`ParamOutOfRange.param`, `BadProof.which`, ...) are named too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

from node.chain.abi import ABI_DIR, all_abis
from node.chain.contracts.errors import code_labels
from node.chain.errors import format_error

_ERROR_STRING = {
    "type": "error",
    "name": "Error",
    "inputs": [{"name": "reason", "type": "string"}],
}
_PANIC = {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]}


@dataclass(frozen=True)
class DecodedRevert:
    name: str
    args: dict[str, Any]
    data: bytes

    @property
    def labels(self) -> dict[str, str]:
        """The names of the numeric codes among the arguments, e.g. {"param": "clock"}."""
        return code_labels(self.name, self.args)

    @property
    def message(self) -> str:
        """`ParamOutOfRange(param=1 (challengeWindow), value=30, min=60, max=1209600)`."""
        return format_error(self.name, self.args)

    def __str__(self) -> str:
        return self.message


def _abi_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def protocol_decoder(abi_dir: Path = ABI_DIR) -> RevertDecoder:
    """A decoder for the custom errors of every shipped contract (a call into JobMarket may
    revert inside StakeManager or DisputeGame, so all of them are known)."""
    return RevertDecoder(all_abis(abi_dir))


class RevertDecoder:
    """Knows every custom error of a set of ABIs (plus Error(string) and Panic(uint256))."""

    def __init__(self, abis: Iterable[Sequence[Mapping[str, Any]]] = ()) -> None:
        self._errors: dict[bytes, Mapping[str, Any]] = {}
        self.add([_ERROR_STRING, _PANIC])
        for abi in abis:
            self.add(abi)

    def add(self, abi: Sequence[Mapping[str, Any]]) -> None:
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = ",".join(_abi_type(p) for p in entry.get("inputs", []))
            selector = function_signature_to_4byte_selector(f"{entry['name']}({types})")
            self._errors[selector] = entry

    def decode(self, data: bytes | str | None) -> DecodedRevert:
        raw = _as_bytes(data)
        if len(raw) < 4:
            return DecodedRevert("<no revert data>", {}, raw)
        entry = self._errors.get(raw[:4])
        if entry is None:
            return DecodedRevert(f"<unknown error 0x{raw[:4].hex()}>", {}, raw)
        inputs = entry.get("inputs", [])
        try:
            values = abi_decode([_abi_type(p) for p in inputs], raw[4:])
        except Exception:  # malformed payload for a known selector: keep the name
            return DecodedRevert(str(entry["name"]), {}, raw)
        names = [p.get("name") or f"arg{i}" for i, p in enumerate(inputs)]
        return DecodedRevert(str(entry["name"]), dict(zip(names, values, strict=True)), raw)


_TESTER_PREFIX = "execution reverted: "


def revert_of_exception(exc: BaseException, decoder: RevertDecoder) -> DecodedRevert | None:
    """The decoded revert carried by an exception from eth_call/estimateGas, or None when the
    exception is not a revert. Handles web3's ContractLogicError (real nodes: the revert data
    is attached) and eth-tester's TransactionFailed (ape's embedded chain: the data is printed
    into the message, as a bytes literal for custom errors or as the reason string)."""
    from web3.exceptions import ContractLogicError

    if isinstance(exc, ContractLogicError):
        data: Any = exc.data
        if isinstance(data, Mapping):  # some nodes nest it: {"data": "0x..."}
            data = data.get("data")
        decoded = decoder.decode(data if isinstance(data, (str, bytes)) else None)
        if decoded.name == "<no revert data>" and exc.message:
            return DecodedRevert(str(exc.message), {}, b"")
        return decoded
    if type(exc).__name__ == "TransactionFailed" and type(exc).__module__.startswith("eth_tester"):
        message = str(exc.args[0]) if exc.args else ""
        reason = message[len(_TESTER_PREFIX) :] if message.startswith(_TESTER_PREFIX) else message
        if reason.startswith(("b'", 'b"')):
            import ast

            try:
                raw = ast.literal_eval(reason)
            except (ValueError, SyntaxError):
                raw = None
            if isinstance(raw, bytes):
                return decoder.decode(raw)
        return DecodedRevert("Error", {"reason": reason}, b"")
    return None


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""
