"""The transaction sender: the only way the node changes chain state.

Every send is: (1) resume check — an intent `key` already sent by an earlier run is awaited,
not sent again; (2) dry run with eth_call, a revert decoded into the custom error's name and
arguments and raised before any gas is spent; (3) gas estimate with a margin; (4) a nonce from
the chain's pending count, above any of our own transactions still in flight; (5) the signed
transaction is recorded (when a state store is given) before it is broadcast, so a crash in
between cannot lose it; (6) broadcast and receipt polling, both retried on connection faults.

Chain faults (issue 13): fees follow the next block's base fee (a spike refuses a transaction
priced on the last block's), and a transaction the node no longer has, neither mined nor
pending (evicted from the mempool, undone by a reorg, lost by a restarted node), is sent
again after a dry run: the same signed bytes while its nonce is still the next one, else
anew. An intent whose mined transaction a reorg undid is likewise sent again, not awaited."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import BlockIdentifier, TxParams, TxReceipt

from node.chain.errors import (
    InsufficientFunds,
    TransactionFailed,
    TransactionReverted,
    TransactionTimeout,
)
from node.chain.revert import RevertDecoder, revert_of_exception
from node.chain.rpc import DEFAULT_RETRY, RetryPolicy, with_retries
from node.state.store import TX_DROPPED, TX_FAILED, TX_MINED, TX_PENDING, PendingTx, StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TxRequest:
    """What to send. `key` names the intent for resumption (e.g. "move:game:3:seq:5");
    without a key every call sends a new transaction. `to=None` creates a contract from the
    init code in `data`."""

    to: str | None
    data: bytes
    value: int = 0
    description: str = ""
    key: str | None = None
    gas: int | None = None

    @classmethod
    def call(
        cls, fn: ContractFunction, value: int = 0, key: str | None = None, gas: int | None = None
    ) -> TxRequest:
        """A request for a bound contract call, e.g. `market.functions.claim(7)`."""
        data = HexBytes(fn._encode_transaction_data())
        return cls(
            to=str(fn.address),
            data=bytes(data),
            value=value,
            description=f"{fn.fn_name}",
            key=key,
            gas=gas,
        )


@dataclass(frozen=True)
class SentTx:
    request: TxRequest
    tx_hash: str
    nonce: int
    tx: dict[str, Any] | None = None  # the unsigned transaction, to re-price it
    earlier: tuple[str, ...] = ()  # hashes of replaced versions: one of them may be mined
    sent_at: float = dataclass_field(default_factory=time.monotonic, compare=False)


TX_REFUSED = "refused"
# how nodes refuse a transaction whose fee cap is below the next block's base fee
UNDERPRICED = (
    "less than block base fee",
    "fee cap less than",
    "underpriced",
    "feetoolow",
)  # the dry run reverted: nothing was sent, no gas spent


@dataclass(frozen=True)
class TxOutcome:
    """What became of one request, for the node's earnings ledger and metrics: `status` is
    TX_MINED, TX_FAILED (mined and reverted: its gas is spent all the same) or TX_REFUSED."""

    request: TxRequest
    status: str
    sender: str
    tx_hash: str | None = None
    block: int | None = None
    gas_used: int = 0
    gas_price: int = 0  # wei per gas actually paid (the receipt's effective price)
    seconds: float = 0.0  # from broadcast to receipt

    @property
    def fee(self) -> int:
        """Wei paid for gas."""
        return self.gas_used * self.gas_price


TxObserver = Callable[[TxOutcome], None]


class TxSender:
    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: RevertDecoder | None = None,
        state: StateStore | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        gas_margin: float = 1.25,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.1,
        bump_after: float | None = None,
        bump_factor: float = 1.125,
        recheck_after: float = 2.0,
    ) -> None:
        """`bump_after`: seconds without a receipt after which wait() re-sends the same nonce
        with fees raised by `bump_factor` (nodes accept a replacement from +10 %); None never
        re-prices, which suits a local chain. `recheck_after`: seconds without a receipt
        after which wait() asks the node whether it still has the transaction (and sends it
        again if not) and whether the next block's base fee has outgrown its fee cap."""
        self.w3 = w3
        self.account = account
        self.address: ChecksumAddress = account.address
        self.decoder = decoder or RevertDecoder()
        self.state = state
        self.retry = retry
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.bump_after = bump_after
        self.bump_factor = bump_factor
        self.recheck_after = recheck_after
        # nonces of our transactions broadcast and not yet seen mined (or given up on): a
        # lagging node may not count them yet. Only these are kept locally: a mined nonce is
        # the chain's to count, so a reorg or a drop that lowered the count leaves no gap.
        self._in_flight: set[int] = set()
        self.resent = 0  # transactions sent again because the node had lost them
        self._nonce_lock = threading.Lock()
        self._chain_id: int | None = None
        # told of every outcome (node.roles.earnings, node.roles.metrics); one that raises is
        # logged and never fails the send
        self.observers: list[TxObserver] = []

    # reads ------------------------------------------------------------------------------

    def _rpc(self, what: str, fn: Any) -> Any:
        endpoint = str(getattr(self.w3.provider, "endpoint_uri", ""))
        return with_retries(what, fn, self.retry, endpoint)

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc("eth_chainId", lambda: self.w3.eth.chain_id))
        return self._chain_id

    def _call_params(self, request: TxRequest) -> TxParams:
        params: TxParams = {
            "from": self.address,
            "data": HexBytes(request.data),
            "value": Web3.to_wei(request.value, "wei"),
        }
        if request.to is not None:
            params["to"] = Web3.to_checksum_address(request.to)
        return params

    def _reverted(
        self, request: TxRequest, exc: BaseException, tx_hash: str | None = None
    ) -> TransactionReverted | None:
        """The named error for an exception that is a revert, None for anything else."""
        decoded = revert_of_exception(exc, self.decoder)
        if decoded is None:
            return None
        kind = TransactionFailed if tx_hash else TransactionReverted
        return kind(
            request.description or "transaction", decoded.name, decoded.args, decoded.data, tx_hash
        )

    def dry_run(self, request: TxRequest, block: BlockIdentifier = "latest") -> None:
        """eth_call the request; TransactionReverted with the decoded error if it would revert."""
        try:
            self._rpc("eth_call", lambda: self.w3.eth.call(self._call_params(request), block))
        except Exception as exc:
            reverted = self._reverted(request, exc)
            if reverted is None:
                self._raise_if_unfunded(request, exc)
                raise
            raise reverted from None

    def _raise_if_unfunded(self, request: TxRequest, exc: BaseException) -> None:
        """A node's "insufficient funds" (in any of its spellings) as one clear error."""
        text = str(exc).lower()
        if not any(
            s in text
            for s in ("insufficient funds", "not have enough", "insufficientfunds", "cannot afford")
        ):
            return
        balance = int(self._rpc("eth_getBalance", lambda: self.w3.eth.get_balance(self.address)))
        raise InsufficientFunds(
            f"{request.description or 'transaction'}: account {self.address} holds {balance} wei, "
            f"not enough for a value of {request.value} wei plus gas; fund the account first"
        ) from None

    # nonces and fees ----------------------------------------------------------------------

    def _count(self, block: BlockIdentifier) -> int:
        return int(
            self._rpc(
                "eth_getTransactionCount",
                lambda: self.w3.eth.get_transaction_count(self.address, block),
            )
        )

    def _take_nonce(self) -> int:
        with self._nonce_lock:
            nonce = self._count("pending")
            if self._in_flight:
                nonce = max(nonce, max(self._in_flight) + 1)
            self._in_flight.add(nonce)
            return nonce

    def _release_nonce(self, nonce: int) -> None:
        """The nonce's transaction is mined, lost or never sent: the chain counts it now."""
        with self._nonce_lock:
            self._in_flight.discard(nonce)

    def _next_base_fee(self) -> int | None:
        """The base fee of the next block (eth_feeHistory's last entry), None before London."""
        history = self._rpc("eth_feeHistory", lambda: self.w3.eth.fee_history(1, "latest", []))
        fees = history.get("baseFeePerGas") or []
        return int(fees[-1]) if fees else None

    def _fees(self) -> dict[str, int]:
        block = self._rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block("latest"))
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:  # a pre-London chain: legacy pricing
            return {"gasPrice": int(self._rpc("eth_gasPrice", lambda: self.w3.eth.gas_price))}
        # the next block's base fee may be far above the last one's (a spike): price on it
        base_fee = max(int(base_fee), self._next_base_fee() or 0)
        priority = int(self._rpc("eth_maxPriorityFeePerGas", lambda: self.w3.eth.max_priority_fee))
        # Twice the base fee survives six full blocks of base-fee growth before the tx stalls.
        return {"maxFeePerGas": 2 * base_fee + priority, "maxPriorityFeePerGas": priority}

    # sending --------------------------------------------------------------------------

    def submit(self, request: TxRequest) -> SentTx:
        """Dry-run, sign and broadcast; returns without waiting for the receipt."""
        resumed = self._resume(request)
        if resumed is not None:
            return resumed
        return self._send_new(request)

    def _send_new(self, request: TxRequest) -> SentTx:
        """Dry-run, estimate, price, sign with a fresh nonce, record and broadcast."""
        self.dry_run(request)
        params = self._call_params(request)
        if request.gas is not None:
            gas = request.gas
        else:
            try:
                estimate = self._rpc("eth_estimateGas", lambda: self.w3.eth.estimate_gas(params))
            except Exception as exc:  # a revert here: state moved between dry run and estimate
                reverted = self._reverted(request, exc)
                if reverted is None:
                    self._raise_if_unfunded(request, exc)
                    raise
                raise reverted from None
            gas = int(estimate * self.gas_margin)
        fees = self._fees()
        for _attempt in range(3):
            nonce = self._take_nonce()
            tx: dict[str, Any] = {
                **params,
                **fees,
                "gas": gas,
                "nonce": nonce,
                "chainId": self.chain_id(),
            }
            signed = self.account.sign_transaction(tx)
            tx_hash = "0x" + bytes(signed.hash).hex()
            self._record(request, nonce, tx_hash, "0x" + bytes(signed.raw_transaction).hex())
            try:
                self._broadcast(bytes(signed.raw_transaction), tx_hash)
            except _NonceTaken:
                # Another sender with this key used the nonce: take a fresh one and re-sign.
                log.warning("nonce %d already used by %s; resyncing", nonce, self.address)
                self._release_nonce(nonce)
                continue
            except _Underpriced as exc:
                # the base fee rose between our read and the node's check: price again
                log.warning("%s refused as underpriced (%s); re-pricing", request.description, exc)
                self._release_nonce(nonce)
                fees = self._fees()
                continue
            except _Unfunded as exc:
                # value plus gas at the offered fee: nothing was sent, the nonce stays free
                self._release_nonce(nonce)
                self._record(request, nonce, tx_hash, "", status=TX_FAILED)  # may be sent anew
                self._raise_if_unfunded(request, exc)
                raise
            log.info("sent %s as %s (nonce %d)", request.description, tx_hash, nonce)
            return SentTx(request, tx_hash, nonce, tx=tx)
        raise TransactionReverted(
            request.description or "transaction",
            "nonce conflict",
            {"sender": self.address},
            b"",
        )

    def _broadcast(self, raw: bytes, tx_hash: str) -> None:
        try:
            self._rpc("eth_sendRawTransaction", lambda: self.w3.eth.send_raw_transaction(raw))
        except Web3RPCError as exc:
            message = str(exc).lower()
            if "already known" in message or "already imported" in message:
                return  # a retry after a lost answer: the node has it
            if "nonce too low" in message or "nonce is too low" in message:
                if self._known(tx_hash):
                    return  # our own transaction, mined already
                raise _NonceTaken() from exc
            if any(k in message for k in ("insufficient funds", "not have enough")):
                raise _Unfunded(str(exc)) from exc
            if any(k in message for k in UNDERPRICED):
                raise _Underpriced(str(exc)) from exc
            raise

    def _known(self, tx_hash: str) -> bool:
        try:
            self._rpc(
                "eth_getTransactionByHash", lambda: self.w3.eth.get_transaction(HexStr(tx_hash))
            )
        except TransactionNotFound:
            return False
        return True

    def _record(
        self, request: TxRequest, nonce: int, tx_hash: str, raw: str, status: str = TX_PENDING
    ) -> None:
        if self.state is None or request.key is None:
            return
        self.state.put_tx(
            PendingTx(
                key=request.key,
                sender=self.address,
                nonce=nonce,
                description=request.description,
                tx_hash=tx_hash,
                raw_tx=raw,
                status=status,
            )
        )

    def _resume(self, request: TxRequest) -> SentTx | None:
        """An intent recorded by an earlier run: return it instead of sending again, and
        re-broadcast it if the node has forgotten it (e.g. anvil was restarted with state)."""
        if self.state is None or request.key is None:
            return None
        known = self.state.tx(request.key)
        if known is None or known.tx_hash is None:
            return None
        if known.status in (TX_FAILED, TX_DROPPED):
            return None  # a reverted or lost attempt: the intent may be tried again (dry run)
        if self._receipt_or_none(known.tx_hash) is None and not self._known(known.tx_hash):
            # neither mined nor pending: the node forgot it (a restart), evicted it, or a
            # reorg undid it after we saw it mined (TX_MINED then)
            if not self._rebroadcast(request, known.nonce, known.raw_tx or "", known.tx_hash):
                log.warning(
                    "%s (%s): transaction %s is gone from the chain; sending it anew",
                    request.key,
                    request.description,
                    known.tx_hash,
                )
                return None
            self.resent += 1
            log.warning(
                "%s (%s): transaction %s was lost by the node; broadcast again",
                request.key,
                request.description,
                known.tx_hash,
            )
        else:
            log.info(
                "resuming %s: %s already sent as %s",
                request.key,
                request.description,
                known.tx_hash,
            )
        return SentTx(request, known.tx_hash, known.nonce)

    def _rebroadcast(self, request: TxRequest, nonce: int, raw: str, tx_hash: str) -> bool:
        """Broadcast a lost transaction's signed bytes again, after a dry run (the chain a
        reorg left may make it revert: TransactionReverted then), if its nonce is still the
        next one the chain will mine; False when it must be sent anew instead."""
        if not raw or nonce != self._count("latest"):
            return False  # its nonce went to another transaction, or a gap lies before it
        self.dry_run(request)
        try:
            self._broadcast(bytes(HexBytes(raw)), tx_hash)
        except (_NonceTaken, _Unfunded, _Underpriced):
            # its nonce went to another tx, the account cannot pay for it any more, or its
            # fee cap is below the base fee now: sent anew (and says why if it still cannot be)
            return False
        return True

    def _receipt_or_none(self, tx_hash: str) -> TxReceipt | None:
        try:
            receipt: TxReceipt = self._rpc(
                "eth_getTransactionReceipt",
                lambda: self.w3.eth.get_transaction_receipt(HexStr(tx_hash)),
            )
        except TransactionNotFound:
            return None
        return receipt

    def wait(self, sent: SentTx, timeout: float | None = None) -> TxReceipt:
        """The receipt of a sent transaction; TransactionFailed (decoded) if it reverted.
        With `bump_after` set, a transaction without receipt is re-priced meanwhile."""
        limit = self.receipt_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        last_push = last_check = time.monotonic()
        while True:
            found = self._first_receipt((sent.tx_hash, *sent.earlier))
            if found is not None:
                break
            if time.monotonic() > deadline:
                self._release_nonce(sent.nonce)
                raise TransactionTimeout(sent.tx_hash, limit)
            if (
                self.bump_after is not None
                and sent.tx is not None
                and time.monotonic() - last_push > self.bump_after
            ):
                sent = self._bump(sent)
                last_push = time.monotonic()
            if time.monotonic() - last_check > self.recheck_after:
                sent = self._recheck(sent)
                last_check = time.monotonic()
            time.sleep(self.poll_interval)
        self._release_nonce(sent.nonce)
        mined_hash, receipt = found
        mined = replace(sent, tx_hash=mined_hash)
        if sent.request.key is not None:
            self._settle(sent.request.key, (sent.tx_hash, *sent.earlier), mined_hash, receipt)
        self._tell(
            TxOutcome(
                sent.request,
                TX_MINED if receipt["status"] == 1 else TX_FAILED,
                self.address,
                mined_hash,
                int(receipt["blockNumber"]),
                int(receipt["gasUsed"]),
                self._paid_price(receipt, mined_hash),
                time.monotonic() - sent.sent_at,
            )
        )
        if receipt["status"] != 1:
            raise self._failure(mined, receipt)
        return receipt

    def _paid_price(self, receipt: TxReceipt, tx_hash: str) -> int:
        """Wei per gas the transaction paid: the receipt's effective price (EIP-1559 nodes),
        else the price it offered (legacy)."""
        price = receipt.get("effectiveGasPrice")
        if price is None:
            tx = self._rpc(
                "eth_getTransactionByHash", lambda: self.w3.eth.get_transaction(HexStr(tx_hash))
            )
            price = tx.get("gasPrice") or 0
        return int(price)

    def _tell(self, outcome: TxOutcome) -> None:
        for observe in self.observers:
            try:
                observe(outcome)
            except Exception:
                log.exception("transaction observer failed on %s", outcome.tx_hash)

    def _first_receipt(self, hashes: tuple[str, ...]) -> tuple[str, TxReceipt] | None:
        for tx_hash in hashes:
            receipt = self._receipt_or_none(tx_hash)
            if receipt is not None:
                return tx_hash, receipt
        return None

    def _recheck(self, sent: SentTx) -> SentTx:
        """No receipt yet: is the transaction still pending, and can it still be mined?"""
        hashes = (sent.tx_hash, *sent.earlier)
        if any(self._known(h) for h in hashes):
            cap = (sent.tx or {}).get("maxFeePerGas")
            next_base = self._next_base_fee() if cap is not None else None
            if cap is not None and next_base is not None and int(cap) < next_base:
                log.warning(
                    "%s: fee cap %d below the next base fee %d; re-pricing",
                    sent.request.description,
                    cap,
                    next_base,
                )
                return self._bump(sent)
            return sent
        if self._first_receipt(hashes) is not None:
            return sent  # mined between the two reads
        # neither mined nor pending: evicted from the mempool or undone by a reorg
        self._release_nonce(sent.nonce)
        raw = ""
        if sent.tx is not None:
            raw = "0x" + bytes(self.account.sign_transaction(sent.tx).raw_transaction).hex()
        elif self.state is not None and sent.request.key is not None:
            known = self.state.tx(sent.request.key)
            raw = (
                (known.raw_tx or "") if known is not None and known.tx_hash == sent.tx_hash else ""
            )
        self.resent += 1
        if self._rebroadcast(sent.request, sent.nonce, raw, sent.tx_hash):
            log.warning(
                "%s: transaction %s was dropped by the node; broadcast again",
                sent.request.description,
                sent.tx_hash,
            )
            with self._nonce_lock:
                self._in_flight.add(sent.nonce)
            return sent
        log.warning(
            "%s: transaction %s was dropped by the node and its nonce moved on; sending anew",
            sent.request.description,
            sent.tx_hash,
        )
        fresh = self._send_new(sent.request)
        return replace(fresh, earlier=hashes)

    def _bump(self, sent: SentTx) -> SentTx:
        """Re-sign the same nonce with higher fees and broadcast it; the old versions stay
        in `earlier` because any one of them may still be mined."""
        assert sent.tx is not None
        tx = dict(sent.tx)
        current = self._fees()
        for field in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"):
            if field in tx:
                raised = int(tx[field] * self.bump_factor) + 1
                tx[field] = max(raised, int(current.get(field, 0)))
        signed = self.account.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        try:
            self._broadcast(bytes(signed.raw_transaction), tx_hash)
        except _NonceTaken:
            return sent  # a version already mined (or the nonce went elsewhere): keep polling
        except (Web3RPCError, _Underpriced) as exc:
            log.warning("re-priced %s refused (%s); will raise again", sent.tx_hash, exc)
            return replace(sent, tx=tx)  # next bump starts from the higher fees
        self._record(sent.request, sent.nonce, tx_hash, "0x" + bytes(signed.raw_transaction).hex())
        log.info("re-priced %s as %s (nonce %d)", sent.tx_hash, tx_hash, sent.nonce)
        return replace(sent, tx_hash=tx_hash, tx=tx, earlier=(sent.tx_hash, *sent.earlier))

    def _settle(
        self, key: str, hashes: tuple[str, ...], mined_hash: str, receipt: TxReceipt
    ) -> None:
        """Record the outcome of intent `key`, if its record is still about one of `hashes`
        (a later attempt under the same key must not be overwritten)."""
        if self.state is None:
            return
        known = self.state.tx(key)
        if known is None or known.tx_hash not in hashes:
            return
        status = TX_MINED if receipt["status"] == 1 else TX_FAILED
        self.state.put_tx(
            replace(known, tx_hash=mined_hash, status=status, block=int(receipt["blockNumber"]))
        )

    def recover_pending(self) -> list[SentTx]:
        """At start-up, settle the intents an earlier run left pending: mined ones are marked
        mined or failed, ones the node has forgotten are re-broadcast from the stored raw
        transaction (or marked dropped when their nonce went to another transaction).
        Returns the ones still in flight, to be awaited with wait()."""
        if self.state is None:
            return []
        in_flight = []
        for known in self.state.txs(status=TX_PENDING, sender=self.address):
            if known.tx_hash is None:
                continue
            receipt = self._receipt_or_none(known.tx_hash)
            if receipt is not None:
                self._settle(known.key, (known.tx_hash,), known.tx_hash, receipt)
                continue
            if not self._known(known.tx_hash):
                if not known.raw_tx:
                    self.state.put_tx(replace(known, status=TX_DROPPED))
                    continue
                try:
                    self._broadcast(bytes(HexBytes(known.raw_tx)), known.tx_hash)
                except _NonceTaken:
                    self.state.put_tx(replace(known, status=TX_DROPPED))
                    continue
            tx = self._rpc(
                "eth_getTransactionByHash",
                lambda h=known.tx_hash: self.w3.eth.get_transaction(HexStr(h)),
            )
            request = TxRequest(
                to=tx.get("to"),
                data=bytes(tx["input"]),
                value=int(tx["value"]),
                description=known.description,
                key=known.key,
            )
            in_flight.append(SentTx(request, known.tx_hash, known.nonce))
        return in_flight

    def _failure(self, sent: SentTx, receipt: TxReceipt) -> TransactionReverted:
        """Replay a failed transaction to recover its revert reason: first on the state before
        its block (exact when it was alone in the block, as with automine), then on the state
        after it (catches a transaction undone by an earlier one in the same block, such as a
        competitor's move). Without a reverting replay the reason is reported unavailable."""
        block = int(receipt["blockNumber"])
        for at in (block - 1, block):
            try:
                self.w3.eth.call(self._call_params(sent.request), at)
            except Exception as exc:  # a revert, or replay unavailable (pruned state)
                reverted = self._reverted(sent.request, exc, tx_hash=sent.tx_hash)
                if reverted is not None:
                    return reverted
        return TransactionFailed(
            sent.request.description or "transaction",
            "<reason unavailable>",
            {"gasUsed": int(receipt["gasUsed"])},
            b"",
            sent.tx_hash,
        )

    def send(self, request: TxRequest, timeout: float | None = None) -> TxReceipt:
        """submit() then wait()."""
        try:
            sent = self.submit(request)
        except TransactionReverted:
            self._tell(TxOutcome(request, TX_REFUSED, self.address))
            raise
        return self.wait(sent, timeout)

    def transact(
        self,
        fn: ContractFunction,
        value: int = 0,
        key: str | None = None,
        timeout: float | None = None,
    ) -> TxReceipt:
        """Send a bound contract call, e.g. `sender.transact(market.functions.claim(7))`."""
        return self.send(TxRequest.call(fn, value=value, key=key), timeout)

    def deploy(
        self,
        abi: list[dict[str, Any]],
        bytecode: str,
        args: list[Any],
        name: str = "contract",
        key: str | None = None,
        timeout: float | None = None,
    ) -> str:
        """Create a contract (dry-run first, like every send); returns its address."""
        factory = self.w3.eth.contract(abi=abi, bytecode=HexBytes(bytecode))
        init_code = HexBytes(factory.constructor(*args).data_in_transaction)
        request = TxRequest(to=None, data=bytes(init_code), description=f"deploy {name}", key=key)
        receipt = self.send(request, timeout)
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionFailed(f"deploy {name}", "<no contract address>", {}, b"")
        return str(address)


class _Unfunded(Exception):
    """The node refused a signed transaction: the account cannot pay value plus gas."""


class _NonceTaken(Exception):
    pass


class _Underpriced(Exception):
    """The node refused a signed transaction: its fee cap is below the base fee."""
