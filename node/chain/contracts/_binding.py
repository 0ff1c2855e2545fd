"""What every contract binding shares: the one ABI-entry lookup, struct decoding by the ABI's
component names, strict struct encoding, typed records from decoded structs and event
arguments, and the bounded-window log search. Imports node.chain only (never a binding)."""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any, ClassVar, TypeVar, cast

from web3 import Web3
from web3.contract import Contract

from node.chain.errors import AbiMismatch
from node.chain.sender import TxRequest

LOG_WINDOW = 5000  # blocks per eth_getLogs call (public endpoints refuse long ranges)

AbiEntry = Mapping[str, Any]
Abi = Sequence[AbiEntry]
T = TypeVar("T")


def camel(name: str) -> str:
    """The Solidity name of a Python field: `output_root` -> `outputRoot`, `s_n` -> `sN`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def abi_entry(abi: Abi, kind: str, name: str, contract: str = "contract") -> AbiEntry:
    """The ABI entry of `kind` (function, event, error) called `name`; AbiMismatch if absent."""
    for entry in abi:
        if entry.get("type") == kind and entry.get("name") == name:
            return entry
    raise AbiMismatch(f"the {contract} ABI has no {kind} {name}")


def _names(params: Sequence[AbiEntry]) -> list[str]:
    return [str(p.get("name", "")) for p in params]


# ---- decoding -----------------------------------------------------------------------------


def decode_struct(components: Sequence[AbiEntry], value: Any) -> dict[str, Any]:
    """A decoded struct (tuple, or a mapping keyed by name) as a dict keyed by the ABI's
    component names, nested structs included."""
    if isinstance(value, Mapping):
        try:
            value = [value[c["name"]] for c in components]
        except KeyError as exc:
            raise AbiMismatch(f"struct value lacks field {exc.args[0]}") from None
    if len(value) != len(components):
        raise AbiMismatch(f"struct has {len(components)} fields, the value {len(value)}")
    out = {}
    for comp, item in zip(components, value, strict=True):
        out[comp["name"]] = (
            decode_struct(comp["components"], item) if comp["type"] == "tuple" else item
        )
    return out


def decode_outputs(outputs: Sequence[AbiEntry], value: Any) -> Any:
    """A call's result by its ABI outputs: one struct -> dict by component names; several
    named outputs -> dict by output names; one plain output -> the value."""
    if len(outputs) == 1:
        if outputs[0]["type"] == "tuple":
            return decode_struct(outputs[0]["components"], value)
        return value
    if outputs and all(_names(outputs)):
        return decode_struct(outputs, value)
    return value


# ---- encoding -----------------------------------------------------------------------------


def encode_value(param: AbiEntry, value: Any, where: str) -> Any:
    """One argument for web3: a struct given as a mapping must have exactly the ABI's
    component names (a missing or an unknown field is an AbiMismatch, never dropped) and
    becomes a tuple in the ABI's order; structs inside structs and arrays likewise."""
    kind = str(param["type"])
    name = f"{where}.{param.get('name') or '?'}"
    if kind.endswith("[]") and kind.startswith("tuple"):
        inner = {**param, "type": kind[:-2]}
        return [encode_value(inner, item, f"{name}[{i}]") for i, item in enumerate(value)]
    if kind != "tuple":
        return value
    components = param["components"]
    if isinstance(value, Mapping):
        want = _names(components)
        missing = [n for n in want if n not in value]
        unknown = [str(k) for k in value if k not in want]
        if missing or unknown:
            raise AbiMismatch(
                f"{name} ({param.get('internalType', 'tuple')}) has fields {want}; "
                f"missing {missing}, unknown {unknown}"
            )
        value = [value[n] for n in want]
    if len(value) != len(components):
        raise AbiMismatch(f"{name} has {len(components)} fields, got {len(value)} values")
    return tuple(encode_value(c, v, name) for c, v in zip(components, value, strict=True))


def encode_args(fn: AbiEntry, args: Sequence[Any]) -> list[Any]:
    """A function's arguments for web3, checked against its ABI inputs (count and structs)."""
    inputs = list(fn.get("inputs", []))
    if len(inputs) != len(args):
        raise AbiMismatch(
            f"{fn['name']} takes {len(inputs)} arguments {_names(inputs)}, got {len(args)}"
        )
    return [encode_value(p, a, str(fn["name"])) for p, a in zip(inputs, args, strict=True)]


# ---- typed records ------------------------------------------------------------------------


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        return tuple(_convert(item, v) for v in value)
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return record(hint, value)
        if issubclass(hint, IntEnum):
            return hint(int(value))
        if hint is bool:
            return bool(value)
        if hint in (int, bytes, str):
            return hint(value)
    return value


def record(cls: type[T], values: Mapping[str, Any], **extra: Any) -> T:
    """A frozen dataclass from a decoded struct or event arguments: each field is read under
    its Solidity name (`camel`) and converted by its annotation (int, bytes, str, bool, an
    IntEnum, a nested record, tuple[X, ...]). `extra` gives fields the struct has not (ids,
    chain time); a field with a default may be absent; any other absent field is an
    AbiMismatch, so a renamed struct field cannot be misread."""
    if not isinstance(values, Mapping):
        raise AbiMismatch(f"{cls.__name__} needs named fields, got {type(values).__name__}")
    hints = _hints(cast(Any, cls))
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in extra:
            kwargs[f.name] = extra[f.name]
            continue
        key = camel(f.name)
        if key not in values:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise AbiMismatch(f"{cls.__name__}.{f.name}: no {key} in {sorted(values)}")
        kwargs[f.name] = _convert(hints[f.name], values[key])
    return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class EventRecord:
    """Base of typed event records: a subclass named after a Solidity event (its `EVENT`)
    declares the event's arguments (snake case) as fields; every record also has the block it
    was emitted in."""

    EVENT: ClassVar[str]
    block_number: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.EVENT = cls.__name__

    @classmethod
    def from_log(cls: type[T], log: Any) -> T:
        """From a web3 log (`args`, `blockNumber`) or a scanner ChainEvent."""
        if isinstance(log, Mapping):
            args, block = log["args"], log["blockNumber"]
        else:
            args, block = log.args, log.block_number
        return record(cls, args, block_number=int(block))


# ---- logs ---------------------------------------------------------------------------------


def latest_logs(event: Any, filters: Mapping[str, Any], start_block: int, head: int) -> list[Any]:
    """The logs of `event` matching `filters` in the newest window of blocks that has any,
    searching back from `head` to `start_block`. Bounded windows, because public RPC
    endpoints refuse eth_getLogs over long ranges; newest window first, because the game
    needs the latest reveal. Logs within the window are in chain order."""
    hi = head
    while hi >= start_block:
        lo = max(start_block, hi - LOG_WINDOW + 1)
        logs = list(event.get_logs(argument_filters=dict(filters), from_block=lo, to_block=hi))
        if logs:
            return logs
        hi = lo - 1
    return []


# ---- the base binding -----------------------------------------------------------------------


class ContractBinding:
    """One deployed contract: its web3 Contract, typed reads, transaction builders."""

    NAME: ClassVar[str]  # the contract's name, as in node/abi/<NAME>.json

    def __init__(self, w3: Web3, address: str, abi: Abi, start_block: int = 0) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.abi: list[dict[str, Any]] = [dict(e) for e in abi]
        self.contract: Contract = w3.eth.contract(address=self.address, abi=self.abi)
        self.start_block = start_block

    def entry(self, kind: str, name: str) -> AbiEntry:
        return abi_entry(self.abi, kind, name, self.NAME)

    def read(self, fn: str, *args: Any) -> Any:
        """eth_call `fn`; structs and named outputs come back as dicts by ABI names."""
        entry = self.entry("function", fn)
        raw = self.contract.functions[fn](*encode_args(entry, args)).call()
        return decode_outputs(list(entry.get("outputs", [])), raw)

    def tx(
        self,
        fn: str,
        *args: Any,
        value: int = 0,
        key: str | None = None,
        gas: int | None = None,
    ) -> TxRequest:
        """A TxRequest calling `fn` (arguments strictly encoded against the ABI)."""
        entry = self.entry("function", fn)
        call = self.contract.functions[fn](*encode_args(entry, args))
        return TxRequest.call(call, value=value, key=key, gas=gas)

    def latest_logs(self, event: str, filters: Mapping[str, Any]) -> list[Any]:
        self.entry("event", event)
        head = int(self.w3.eth.block_number)
        return latest_logs(self.contract.events[event], filters, self.start_block, head)

    def receipt_events(self, cls: type[T], receipt: Any) -> list[T]:
        """The `cls.EVENT` events this contract emitted in a transaction receipt."""
        name = cls.EVENT  # type: ignore[attr-defined]
        self.entry("event", name)
        logs = self.contract.events[name]().process_receipt(receipt)
        return [cls.from_log(log) for log in logs]  # type: ignore[attr-defined]
