"""A lean stand-in for ape's contract objects, speaking JSON-RPC to anvil directly.

The stateful campaign (`make fuzz`) needs tens of thousands of transactions: through ape on the
embedded chain a sequence costs ~15 s (py-evm plus ape's per-call machinery), on anvil through
this module well under a second. It offers exactly what `market_machine.MarketMachine` and the
players of `contracts_trace` use from ape: `contract.fn(*args, sender=, value=)` (a transaction
for non-view functions, a call otherwise), struct results with attribute access, `.balance`,
`chain.pending_timestamp`, `snapshot()`/`restore()`, and reverts raised as exceptions named
after the contract's custom error.

Every transaction is first simulated on the pending block (same state, same timestamp), so a
revert surfaces with its error data and nothing is mined; a simulated success that then fails
on chain is a harness fault and raises `RpcFault`.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

GAS = 15_000_000  # below anvil's 30M block gas limit; the largest step uses ~0.3M


class RpcFault(Exception):
    """The node answered something the harness did not expect (not a contract revert)."""


class Reverted(Exception):
    """A call or transaction the contracts refused. Subclasses carry the custom error's name."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.revert_message = message
        self.data = data


class Struct:
    """A decoded tuple with attribute access by ABI component name (like ape's struct results).
    Not a tuple subclass: fields such as `index` would lose to tuple's own methods."""

    __slots__ = ("_values",)
    _names: tuple[str, ...] = ()

    def __init__(self, values: Any) -> None:
        self._values = tuple(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[self._names.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def __getitem__(self, i: int) -> Any:
        return self._values[i]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Struct({dict(zip(self._names, self._values, strict=True))})"


def _struct_type(names: tuple[str, ...]) -> type[Struct]:
    return type("Struct", (Struct,), {"_names": names})


def _type_string(param: dict[str, Any]) -> str:
    t = param["type"]
    if t.startswith("tuple"):
        inner = ",".join(_type_string(c) for c in param["components"])
        return f"({inner}){t[len('tuple') :]}"
    return t


class _Shape:
    """How to turn eth_abi's plain tuples into structs (and addresses into checksummed strings)."""

    def __init__(self, param: dict[str, Any]) -> None:
        t = param["type"]
        self.element: _Shape | None = None
        self.children: list[_Shape] | None = None
        self.address = t == "address"
        if t.endswith("]"):
            self.element = _Shape({**param, "type": t[: t.rindex("[")]})
        elif t == "tuple":
            self.children = [_Shape(c) for c in param["components"]]
            self.cls = _struct_type(tuple(c["name"] for c in param["components"]))

    def __call__(self, v: Any) -> Any:
        if self.element is not None:
            return [self.element(x) for x in v]
        if self.children is not None:
            return self.cls(s(x) for s, x in zip(self.children, v, strict=True))
        if self.address:
            return to_checksum_address(v)
        return v


def _arg(v: Any) -> Any:
    """Accounts and contracts are passed as their address; tuples and lists recursively."""
    if hasattr(v, "address"):
        return v.address
    if isinstance(v, tuple | list):
        return type(v)(_arg(x) for x in v)
    return v


@dataclass(frozen=True)
class RpcAccount:
    """An account anvil has unlocked (its dev accounts): transactions need no local signing."""

    address: str


@dataclass
class Receipt:
    gas_used: int
    contract_address: str | None


class RpcChain:
    """One JSON-RPC connection to an anvil node plus a model clock.

    `pending_timestamp` is the timestamp the next transaction (or pending-block call) sees: it
    is pinned with `evm_setNextBlockTimestamp` before each, so checks made in Python against it
    agree with what the contracts see. Each mined transaction advances it by one second."""

    def __init__(self, url: str) -> None:
        u = urlparse(url)
        self._conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 8545)
        self._id = 0
        self.calls = 0
        latest = self.rpc("eth_getBlockByNumber", ["latest", False])
        self._t = int(latest["timestamp"], 16) + 1
        self._pinned: int | None = None
        self.accounts = [RpcAccount(to_checksum_address(a)) for a in self.rpc("eth_accounts", [])]
        # selector -> exception class, for the custom errors of every contract made here: a
        # revert may come from a contract the called one calls into
        self.errors: dict[bytes, type[Reverted]] = {
            keccak(text=sig)[:4]: type(sig.split("(")[0], (Reverted,), {})
            for sig in ("Error(string)", "Panic(uint256)")
        }

    # ------------------------------------------------------------------ transport
    def _post(self, body: Any) -> Any:
        self.calls += 1
        payload = json.dumps(body)
        try:
            self._conn.request("POST", "/", payload, {"Content-Type": "application/json"})
            return json.loads(self._conn.getresponse().read())
        except (OSError, http.client.HTTPException):
            self._conn.close()  # one reconnect: anvil closes idle keep-alive sockets
            self._conn.request("POST", "/", payload, {"Content-Type": "application/json"})
            return json.loads(self._conn.getresponse().read())

    def _request(self, method: str, params: list[Any]) -> dict[str, Any]:
        self._id += 1
        return {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}

    def rpc(self, method: str, params: list[Any]) -> Any:
        answer = self._post(self._request(method, params))
        if "error" in answer:
            raise RpcFault(f"{method}: {answer['error']}")
        return answer["result"]

    def _pinned_rpc(self, method: str, params: list[Any]) -> dict[str, Any]:
        """`method` on the pending block at the model clock (one batched round trip)."""
        if self._pinned == self._t:
            return self._post(self._request(method, params))
        pin, req = (
            self._request("evm_setNextBlockTimestamp", [hex(self._t)]),
            self._request(method, params),
        )
        answers = {a["id"]: a for a in self._post([pin, req])}
        if "error" in answers[pin["id"]]:
            raise RpcFault(f"evm_setNextBlockTimestamp({self._t}): {answers[pin['id']]['error']}")
        self._pinned = self._t
        return answers[req["id"]]

    # ------------------------------------------------------------------ time and snapshots
    @property
    def pending_timestamp(self) -> int:
        return self._t

    @pending_timestamp.setter
    def pending_timestamp(self, t: int) -> None:
        if t < self._t:
            raise RpcFault(f"time only moves forward: {t} < {self._t}")
        self._t = t

    def snapshot(self) -> tuple[str, int]:
        return self.rpc("evm_snapshot", []), self._t

    def restore(self, snap: tuple[str, int]) -> None:
        sid, t = snap
        if self.rpc("evm_revert", [sid]) is not True:
            raise RpcFault(f"evm_revert({sid}) refused")
        self._t, self._pinned = t, None

    def balance(self, address: str) -> int:
        return int(self.rpc("eth_getBalance", [address, "latest"]), 16)

    # ------------------------------------------------------------------ calls and transactions
    def call(self, tx: dict[str, Any]) -> bytes:
        answer = self._pinned_rpc("eth_call", [tx, "pending"])
        if "error" in answer:
            raise _revert(answer["error"], self.errors)
        return bytes.fromhex(answer["result"][2:])

    def transact(self, tx: dict[str, Any]) -> Receipt:
        tx = {**tx, "gas": hex(GAS)}
        self.call(tx)  # raises the revert without mining anything; pins the clock for the block
        tx_hash = self.rpc("eth_sendTransaction", [tx])
        receipt = None
        for _ in range(2000):  # automine: usually there at the first ask
            receipt = self.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            time.sleep(0.001)
        if receipt is None:
            raise RpcFault(f"transaction {tx_hash} was not mined")
        if int(receipt["status"], 16) != 1:
            raise RpcFault(f"transaction {tx_hash} failed on chain after a successful simulation")
        self._t += 1
        self._pinned = None
        return Receipt(int(receipt["gasUsed"], 16), receipt.get("contractAddress"))

    def deploy(self, artifact: dict[str, Any], args: list[Any], sender: RpcAccount) -> RpcContract:
        ctor = next((e for e in artifact["abi"] if e["type"] == "constructor"), {"inputs": []})
        data = bytes.fromhex(artifact["bytecode"].removeprefix("0x"))
        data += encode([_type_string(p) for p in ctor["inputs"]], [_arg(a) for a in args])
        receipt = self.transact({"from": sender.address, "data": "0x" + data.hex()})
        if receipt.contract_address is None:
            raise RpcFault(f"deployment of {artifact.get('contractName')} left no contract")
        return RpcContract(self, to_checksum_address(receipt.contract_address), artifact["abi"])


def _revert(error: dict[str, Any], errors: dict[bytes, type[Reverted]]) -> Reverted:
    raw = error.get("data") or "0x"
    if not isinstance(raw, str) or not raw.startswith("0x"):
        raise RpcFault(f"not a revert: {error}")
    data = bytes.fromhex(raw[2:])
    cls = errors.get(data[:4], Reverted)
    return cls(f"{cls.__name__}: {error.get('message', '')}", data)


class _Function:
    def __init__(self, contract: RpcContract, entry: dict[str, Any]) -> None:
        self.contract = contract
        self.name = entry["name"]
        self.inputs = [_type_string(p) for p in entry["inputs"]]
        self.selector = keccak(text=f"{self.name}({','.join(self.inputs)})")[:4]
        self.outputs = [_type_string(p) for p in entry["outputs"]]
        self.shapes = [_Shape(p) for p in entry["outputs"]]
        self.result = _struct_type(tuple(p["name"] for p in entry["outputs"]))
        self.view = entry["stateMutability"] in ("view", "pure")

    def encode_input(self, *args: Any) -> bytes:
        """The call's data (selector and arguments), as ape's `encode_input`."""
        return self.selector + encode(self.inputs, [_arg(a) for a in args])

    def __call__(self, *args: Any, sender: RpcAccount | None = None, value: int = 0) -> Any:
        c = self.contract
        data = self.encode_input(*args)
        tx: dict[str, Any] = {"to": c.address, "data": "0x" + data.hex()}
        if sender is not None:
            tx["from"] = sender.address
        if value:
            tx["value"] = hex(value)
        if not self.view:
            if sender is None:
                raise RpcFault(f"{self.name} is a transaction: pass sender=")
            return c.chain.transact(tx)
        out = decode(self.outputs, c.chain.call(tx))
        shaped = [s(v) for s, v in zip(self.shapes, out, strict=True)]
        if len(shaped) == 1:
            return shaped[0]
        return self.result(shaped)


class RpcContract:
    def __init__(self, chain: RpcChain, address: str, abi: list[dict[str, Any]]) -> None:
        self.chain = chain
        self.address = address
        self._functions: dict[str, _Function] = {}
        for e in abi:
            if e["type"] == "error":
                sig = f"{e['name']}({','.join(_type_string(p) for p in e['inputs'])})"
                chain.errors.setdefault(keccak(text=sig)[:4], type(e["name"], (Reverted,), {}))
            elif e["type"] == "function":
                self._functions[e["name"]] = _Function(self, e)

    def __getattr__(self, name: str) -> _Function:
        try:
            return self.__dict__["_functions"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def balance(self) -> int:
        return self.chain.balance(self.address)
