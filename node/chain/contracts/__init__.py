"""One binding per protocol contract, shaped like op-challenger's contract bindings: typed
reads returning frozen dataclasses, transaction builders returning `node.chain.sender.TxRequest`
(with the intent keys the roles resume by), and events decoded into typed records.

Modules: `errors` (pure data: the custom error names of contracts/lib/Errors.sol as
`ContractError`, the `STALE_MOVE` set a game move tolerates, the names of the numeric codes of
`ParamOutOfRange`, `BadProof`, `ProofLength`, `OperandLength`, `BadOpField`); `_binding` (the
shared base: the one ABI-entry lookup, struct decoding by ABI component names, strict struct
encoding that refuses missing and unknown fields with `AbiMismatch`, typed records, the
bounded-window log search `latest_logs`); `job_market` (`JobMarketContract`, `Job`,
`JobParams`, `Claim`, `JobState`, `ClaimState`, market events); `stake_manager`
(`StakeManagerContract`, `Unbonding`, `Lock`); `dispute_game` (`DisputeGameContract`:
`game_view`, `move(view, side, action)`, game events, the reveal hashes); `deployment`
(`Deployment`: the three bound on one web3, the revert decoder, `start_block`, `now()`,
`block_number()`, `from_addresses`). Imports go one way: `errors` imports nothing of the
package (so node.chain.errors and node.chain.revert may import it); `_binding` imports
node.chain only; each contract module imports `_binding` (and node.game / node.program for
its types), never another contract module; only `deployment` imports the contract modules.
This `__init__` imports nothing, so importing `errors` stays free of web3: import the module
you need, e.g. `from node.chain.contracts.deployment import Deployment`."""
