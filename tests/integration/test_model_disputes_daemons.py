"""Disputes over the models users bring, played by the real daemons on a real anvil and IPFS
node: `poc provider run` as a poc_lab liar and an honest `poc watch run`, both subprocesses.

- A training job (issue 15) compiled by `poc compile --train` from a dataset file and posted by
  `poc job post SPEC --input`: the lie in the last step's weight update (the honest steps before
  it agree), or in a transpose of that last step; both are v6 ops.
- A generation job (issue 16) posted straight from a Hugging Face GPT-2 directory by
  `poc job post --hf DIR --prompt-ids --max-new-tokens`: the lie in each transformer op kind
  (gather, write, reduce, mul in a Llama's gated MLP, and the rowop that divides by the row sum in the softmax of the
  last decode step's attention).

In each, the watchtower's game narrows to the very op that lies and ends at its one-step check:
the claim is rejected and the game won by the challenger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_net import DaemonNet, daemons
from roles_helpers import lab, poc, wait_for
from safetensors.numpy import save_file

from node.chain.contracts.job_market import ClaimState
from node.chain.rpc import connect
from node.game.rules import GameStatus
from node.program.compiler.llm_program import softmax_ops
from node.program.constants import Opcode
from node.program.spec import JobSpec

pytestmark = pytest.mark.integration
# reward, stake, bond (ETH) and seconds: the provider daemon's safety rules accept them on anvil
TERMS = ["--reward", "0.1", "--stake", "0.5", "--bond", "0.02", "--execute-within", "600",
         "--window", "120", "--clock", "300"]  # fmt: skip
PROMPT_IDS = "3,14,15,9"
NEW_TOKENS = 3


@pytest.fixture
def net(protocol_deployment: Any, anvil_snapshot: Any, ipfs_node: Any, tmp_path: Path) -> DaemonNet:
    return DaemonNet(
        connect(protocol_deployment.rpc_url), tmp_path, protocol_deployment, ipfs_node.api_addr
    )


def _compiled(args: list[str], out: Path) -> JobSpec:
    ran = poc(["compile", *args, "--out", str(out), "--json"], timeout=300)
    assert ran.returncode == 0, ran.stderr
    return JobSpec.load(out)


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, JobSpec]:
    """3 steps of batch 32 over 96 rows of 4 clustered classes, a 32-wide hidden layer."""
    d = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(15)
    n, feats, classes = 96, 32, 4
    y = rng.integers(0, classes, n)
    centers = rng.normal(0, 1, (classes, feats))
    x = np.clip(centers[y] + rng.normal(0, 0.5, (n, feats)), -2, 2) / 2
    save_file({"x": x.astype(np.float32), "y": y.astype(np.int64)}, str(d / "set.safetensors"))
    args = ["--train", "--data", str(d / "set.safetensors"), "--hidden", "32", "--steps", "3",
            "--batch", "32", "--lr", "0.2"]  # fmt: skip
    return d / "job", _compiled(args, d / "job")


def _hf_model(folder: Path, family: str) -> tuple[Path, JobSpec]:
    """A random one-layer causal LM saved with save_pretrained, and the program `poc compile
    --hf` makes of it for the prompt."""
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    if family == "gpt2":
        model = transformers.GPT2LMHeadModel(
            transformers.GPT2Config(n_layer=1, n_embd=64, n_head=2, vocab_size=80, n_positions=16)
        )
    else:  # a gated MLP (SiLU(gate) * up: the mul op), grouped-query attention, RMSNorm
        model = transformers.LlamaForCausalLM(
            transformers.LlamaConfig(
                num_hidden_layers=1, hidden_size=64, num_attention_heads=2,
                num_key_value_heads=1, intermediate_size=96, vocab_size=80,
                max_position_embeddings=16,
            )
        )  # fmt: skip
    model.eval().save_pretrained(folder / "model")
    args = ["--hf", str(folder / "model"), "--prompt-ids", PROMPT_IDS, "--max-new-tokens"]
    return folder / "model", _compiled([*args, str(NEW_TOKENS)], folder / "job")


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, JobSpec]:
    return _hf_model(tmp_path_factory.mktemp("gpt2"), "gpt2")


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, JobSpec]:
    return _hf_model(tmp_path_factory.mktemp("llama"), "llama")


def _lie_caught(net: DaemonNet, post: list[str], cheat: str) -> tuple[dict[str, Any], Any]:
    """Post with `poc job post`, run the liar and the watchtower until the claim is rejected;
    returns what `poc job post --json` printed and the game's final view."""
    posted = poc(["job", "post", *post, *TERMS, "--json"], net.config("poster", 1), timeout=300)
    assert posted.returncode == 0, posted.stderr
    job_id = json.loads(posted.stdout)["job_id"]
    d = net.ctx(1, "reader").deployment
    roles = [("liar", 2, ["provider", "run"], lab("--provider-cheat", cheat)),
             ("tower", 3, ["watch", "run"], None)]  # fmt: skip

    claims: list[int] = []  # the job's claim, seen while current (a rejection reopens the job)

    def rejected() -> bool:
        current = d.market.job(job_id).current_claim
        if current and current not in claims:
            claims.append(current)
        return bool(claims) and d.market.claim(claims[0]).state == ClaimState.REJECTED

    with daemons(net, roles) as procs:
        wait_for(rejected, 240, "the liar's claim rejected", procs)
    (game_id,) = d.market.games_of_claim(claims[0])
    return json.loads(posted.stdout), d.game_view(game_id)


def _ops(spec: JobSpec, code: Opcode) -> list[int]:
    return [i for i, op in enumerate(spec.program.ops) if op.opcode == code]


@pytest.mark.parametrize("code", [Opcode.UPDATE, Opcode.TRANSPOSE], ids=["update", "transpose"])
def test_a_lie_in_the_last_training_step_is_caught_at_its_op(
    net: DaemonNet, training: tuple[Path, JobSpec], code: Opcode
) -> None:
    job_dir, spec = training
    op_i = _ops(spec, code)[-1]  # the last step's last update, or its last transpose
    numel = spec.program.spec(spec.program.n_inputs + op_i).numel
    posted, view = _lie_caught(
        net, [str(job_dir), "--input", str(job_dir / "train_x.npy")], f"op:{op_i}:{numel // 3}"
    )
    assert posted["program_root"] == "0x" + spec.program.root.hex()
    assert view.status == GameStatus.CHALLENGER_WON
    assert (view.op_index, view.opcode) == (op_i, int(code))


# the transformer ops (protocol v5): the lie in the last op of each kind (the last decode
# step's); GPT-2 has no mul, a Llama's gated MLP has
V5_OPS = [("gpt2", Opcode.GATHER), ("gpt2", Opcode.WRITE), ("gpt2", Opcode.REDUCE),
          ("llama", Opcode.MUL), ("gpt2", Opcode.ROWOP)]  # fmt: skip


@pytest.mark.parametrize(
    ("family", "code"), V5_OPS, ids=lambda c: str(getattr(c, "name", c)).lower()
)
def test_a_lie_in_a_generation_op_is_caught_at_its_op(
    net: DaemonNet, request: pytest.FixtureRequest, family: str, code: Opcode
) -> None:
    model, spec = request.getfixturevalue(family)
    # rowop: the softmax division of the last decode step's attention
    op_i = (
        softmax_ops(spec.program, NEW_TOKENS - 1)[0]
        if code == Opcode.ROWOP
        else _ops(spec, code)[-1]
    )
    numel = spec.program.spec(spec.program.n_inputs + op_i).numel
    post = ["--hf", str(model), "--prompt-ids", PROMPT_IDS, "--max-new-tokens", str(NEW_TOKENS)]
    posted, view = _lie_caught(net, post, f"op:{op_i}:{numel // 2}")
    # `poc job post --hf` compiled the same program `poc compile --hf` wrote
    assert posted["program_root"] == "0x" + spec.program.root.hex()
    assert view.status == GameStatus.CHALLENGER_WON
    assert (view.op_index, view.opcode) == (op_i, int(code))
