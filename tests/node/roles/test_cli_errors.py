"""What `poc` says when the chain or the user says no (issue 17 items 2, 3, 8 and 13), through
the real command line (node.cli.main.main: parsing, error handling, exit codes) on the embedded
chain: negative durations and bad amounts are usage errors naming the option; contract reverts
read as sentences naming the option, the states and the times; unstaking more than the free
stake exits 15; a padded input's result comes back with the poster's rows only."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from poc_cli_support import Ran, poc
from roles_support import ETHER, drive, post_tiny

from node.chain.contracts.job_market import JobState
from node.roles.client import JobClient
from node.roles.context import RoleContext
from node.roles.provider import Provider

POSTER, PROVIDER = 1, 2
ACCOUNT_OF = {"poster": POSTER, "provider": PROVIDER}

MODEL = """
import torch
from torch import nn

batch = 4


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 48), nn.ReLU(), nn.Linear(48, 3))


def calibration():
    return torch.randn(64, 10)
"""


@pytest.fixture
def run(
    make_ctx: Callable[[int, str], RoleContext],
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Callable[..., Ran]:
    """`poc ARGS` with every role context built on the test chain (poster: account 1,
    provider: account 2) in place of the one a config file would give."""
    made: dict[str, RoleContext] = {}

    def from_settings(_settings: Any, role_dir: str, read_only: bool = False) -> RoleContext:
        if role_dir not in made:
            made[role_dir] = make_ctx(ACCOUNT_OF[role_dir], role_dir)
        return made[role_dir]

    monkeypatch.setattr(RoleContext, "from_settings", staticmethod(from_settings))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Ran:
        return poc(capsys, monkeypatch, *args)

    return run


def _refused(ran: Ran, code: int, *words: str) -> None:
    assert ran.code == code, (ran.code, ran.out, ran.err)
    assert "Traceback" not in ran.err and re.search(r"^(error|Error): ", ran.err, re.M), ran.err
    for word in words:
        assert word in ran.err, (word, ran.err)


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--window", "-60", ["'--window'", "-60: a duration must be at least 1 second"]),
        ("--clock", "-5", ["'--clock'", "-5: a duration must be at least 1 second"]),
        ("--claim-within", "-1", ["'--claim-within'", "at least 1 second"]),
        ("--execute-within", "0", ["'--execute-within'", "at least 1 second"]),
        ("--window", "2h", ["'--window'", "'2h' is not a whole number of seconds"]),
        ("--clock", str(2**40), ["'--clock'", "at most 4294967295 seconds"]),
        ("--reward", "-1", ["'--reward'", "not a whole, non-negative number of wei"]),
        ("--stake", "nan", ["'--stake'", "not an amount"]),
        ("--bond", "1e80", ["'--bond'", "more wei than a transaction can carry"]),
    ],
)
def test_a_bad_number_for_job_post_is_a_usage_error_naming_the_option(
    run: Callable[..., Ran], option: str, value: str, words: list[str]
) -> None:
    ran = run("job", "post", "--example", "tiny-mlp", option, value)
    _refused(ran, 2, *words)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--window", "30"], ["`--window` 30 s is below the market's minimum of 1 min"]),
        (["--clock", "5"], ["`--clock` 5 s is below the market's minimum of 1 min"]),
        (["--execute-within", "700000"], ["`--execute-within` 8 d 2 h is above the market's"]),
        (["--reward", "0"], ["the reward (`--reward`) is zero"]),
        (["--stake", "0"], ["`--stake` 0.0000 ETH is below the market's minimum"]),
    ],
)
def test_a_term_the_market_refuses_reads_as_a_sentence_naming_the_option(
    run: Callable[..., Ran], args: list[str], words: list[str]
) -> None:
    ran = run("job", "post", "--example", "tiny-mlp", *args)
    _refused(ran, 9, "post refused (dry run, nothing sent): ", *words)
    assert "ParamOutOfRange(" in ran.err or "ZeroAmount(" in ran.err  # the raw error, at the end


def _submitted(make_ctx: Callable[[int, str], RoleContext], run: Callable[..., Ran]) -> int:
    """A tiny job posted by the poster and claimed and submitted by a staked provider."""
    ran = run("job", "post", "--example", "tiny-mlp", "--json")
    assert ran.code == 0, ran.err
    job_id = int(re.findall(r'"job_id": (\d+)', ran.out)[0])
    provider = Provider(make_ctx(PROVIDER, "provider-daemon"))
    provider.stake(ETHER)
    provider.tick()
    assert provider.ctx.deployment.market.job(job_id).state == JobState.CLAIMED
    return job_id


def test_cancelling_a_claimed_job_names_the_states(
    run: Callable[..., Ran], make_ctx: Callable[[int, str], RoleContext]
) -> None:
    job_id = _submitted(make_ctx, run)
    ran = run("job", "cancel", str(job_id))
    _refused(ran, 9, f"job {job_id} is claimed, but cancel needs it open")
    assert "WrongJobState(" in ran.err


def test_cancelling_an_unknown_job_exits_16(run: Callable[..., Ran]) -> None:
    _refused(run("job", "cancel", "999"), 16, "job 999 does not exist on this market")


def test_a_timeout_asked_too_early_says_when_as_a_date_and_in_minutes(
    run: Callable[..., Ran], make_ctx: Callable[[int, str], RoleContext]
) -> None:
    job_id = _submitted(make_ctx, run)
    assert run("job", "demand-output", str(job_id)).code == 0
    ran = run("job", "output-timeout", str(job_id))
    _refused(ran, 9)
    assert re.search(r"is due \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in (9|10) min", ran.err), ran.err


def test_unstaking_more_than_the_free_stake_exits_15(
    run: Callable[..., Ran], make_ctx: Callable[[int, str], RoleContext]
) -> None:
    assert run("provider", "stake", "1").code == 0
    ran = run("provider", "unstake", "5")
    _refused(ran, 15, "cannot unstake 5.0000 ETH", "has only 1.0000 ETH of free stake")
    _refused(run("provider", "unstake", "0.5wei"), 2, "not a whole, non-negative number of wei")
    for cmd in ("stake", "unstake"):
        ran = run("provider", cmd, "-1")
        _refused(ran, 2, "non-negative")
        assert "No such option" not in ran.err, ran.err


def test_a_daemon_logs_a_failed_transaction_as_a_sentence(
    make_ctx: Callable[[int, str], RoleContext], caplog: pytest.LogCaptureFixture
) -> None:
    """The daemons' tick loop logs what a revert means (node.roles.daemon.run_forever)."""
    from node.roles.daemon import run_forever

    poster = make_ctx(POSTER, "poster")
    job_id = post_tiny(poster)
    stranger = make_ctx(PROVIDER, "stranger")

    def tick() -> None:
        stranger.send(stranger.deployment.market.cancel(job_id))

    with caplog.at_level(logging.ERROR):
        run_forever(tick, interval=0.01, once=True)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"cancel refused (dry run, nothing sent): only job {job_id}'s poster" in logged
    assert f"may do this, not {stranger.address}" in logged


def test_a_padded_input_is_told_and_its_result_has_the_posters_rows(
    run: Callable[..., Ran], make_ctx: Callable[[int, str], RoleContext], chain: Any
) -> None:
    """Issue 17 item 13: 3 items for a batch of 4 are posted padded (the program's shapes are
    fixed), the poster is told, and `poc job result` writes the 3 rows of its items."""
    assert run("compile", str(_model_file()), "--out", "spec").code == 0
    x = np.random.default_rng(1).standard_normal((3, 10)).astype(np.float32)
    np.save("x.npy", x)
    ran = run("job", "post", "spec", "--input", "x.npy", "--json")
    assert ran.code == 0, ran.err
    assert "the input has 3 item(s) and the program a batch of 4" in ran.err
    job_id = int(re.findall(r'"job_id": (\d+)', ran.out)[0])
    provider = Provider(make_ctx(PROVIDER, "provider-daemon"))
    provider.stake(ETHER)
    market = provider.ctx.deployment.market
    drive(chain, [provider], lambda: market.job(job_id).state == JobState.FINALIZED, 20, 120)
    full = JobClient(make_ctx(POSTER, "poster-check")).result(job_id)
    assert full.values is not None and full.values.shape[0] == 4  # the chain's output: padded
    ran = run("job", "result", str(job_id), "--out", "y.npy")
    assert ran.code == 0, ran.err
    assert "kept the first 3 rows" in ran.out
    y = np.load("y.npy")
    assert y.shape == (3, 3) and np.array_equal(y, full.values[:3])
    expected = _run_locally(x)
    assert np.allclose(y, expected)


def _model_file() -> Path:
    path = Path("model.py")
    path.write_text(MODEL)
    return path


def _run_locally(x: Any) -> Any:
    """`poc run` of the same spec on the same 3 rows: what the poster expects back."""
    from node.compute.service import run_spec

    np.save("x3.npy", x)
    rep = run_spec(Path("spec"), Path("x3.npy"), "cpu")
    return np.asarray(rep.output)


@pytest.mark.parametrize(
    "args",
    [
        ["job", "post", "--example", "tiny-mlp"],
        ["provider", "stake", "1"],
        ["provider", "register", "--stake", "1"],
    ],
    ids=["job post", "provider stake", "provider register"],
)
def test_an_account_without_ether_is_told_to_fund_it(
    run: Callable[..., Ran],
    w3: Any,
    store: Any,
    deployed: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    from eth_account import Account

    broke = Account.create()

    def from_settings(_settings: Any, role_dir: str, read_only: bool = False) -> RoleContext:
        return RoleContext.build(
            w3, broke, store, tmp_path / f"broke-{role_dir}", deployed.addresses, deployed.abis
        )

    monkeypatch.setattr(RoleContext, "from_settings", staticmethod(from_settings))
    ran = run(*args)
    _refused(ran, 9, f"account {broke.address} holds 0 wei", "fund the account first")


def _save_gpt2(d: Path) -> None:
    """A one-layer random GPT-2 without a tokenizer (prompts by ids), saved locally."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=1, n_embd=64, n_head=2, vocab_size=300, n_positions=32)
    transformers.GPT2LMHeadModel(cfg).eval().save_pretrained(d)


def test_a_prompt_is_compiled_posted_run_and_read_back(
    run: Callable[..., Ran], make_ctx: Callable[[int, str], RoleContext], chain: Any
) -> None:
    """Issue 16: `poc job post --hf DIR --prompt-ids ...` compiles the generation program as
    `poc compile` does (the same program root), says what it compiled, posts it; the provider
    runs it and `poc job result` gives the tokens `poc compile` computed."""
    _save_gpt2(Path("gpt2"))
    prompt = ["--prompt-ids", "5,17,250,3", "--max-new-tokens", "3"]
    ran = run("compile", "--hf", "gpt2", *prompt, "--out", "spec", "--json")
    assert ran.code == 0, ran.err
    compiled = json.loads(ran.out)
    ran = run("job", "post", "--hf", "gpt2", *prompt)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].startswith("compiled gpt2: 4 prompt tokens, 3 new tokens; "), ran.out
    assert lines[1] == f"program root {compiled['program_root']}"
    assert lines[2] == f"posted job 1 (program root {compiled['program_root']})"
    ran = run("job", "post", "--hf", "gpt2", *prompt, "--json")  # the same, for scripts
    assert ran.code == 0, ran.err
    posted = json.loads(ran.out)
    assert posted["job_id"] == 2 and posted["program_root"] == compiled["program_root"]
    assert posted["generation"] == {
        "model": "gpt2", "prompt_tokens": 4, "max_new_tokens": 3, "ops": compiled["ops"]
    }  # fmt: skip
    provider = Provider(make_ctx(PROVIDER, "provider-daemon"))
    provider.stake(ETHER)
    market = provider.ctx.deployment.market
    drive(chain, [provider], lambda: market.job(1).state == JobState.FINALIZED, 20, 120)
    ran = run("job", "result", "1", "--out", "y.npy", "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["generated_ids"] == compiled["generated_ids"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--example", "tiny-mlp", "--prompt", "hi"],
         ["--prompt: only for a generation job", "not for --example tiny-mlp"]),
        (["--example", "digits-mlp", "--max-new-tokens", "4"],
         ["--max-new-tokens: only for a generation job", "not for --example digits-mlp"]),
        (["spec", "--prompt-ids", "1,2"], ["--prompt-ids: only for", "not for SPEC_DIR spec"]),
        (["gen", "--prompt", "hi"], ["SPEC_DIR gen, a generation job compiled for its own prompt"]),
        (["--example", "tiny-gpt", "--prompt", "hi", "--prompt-ids", "1"],
         ["give --prompt TEXT or --prompt-ids IDS, not both"]),
        (["--example", "tiny-gpt"], ["a generation job needs --prompt TEXT or --prompt-ids IDS"]),
        (["--example", "tiny-gpt", "--prompt", ""], ["'--prompt'", "an empty prompt"]),
        (["--example", "tiny-gpt", "--prompt-ids", "1,x"],
         ["'--prompt-ids'", "'1,x': token ids are comma-separated integers"]),
        (["--example", "tiny-gpt", "--prompt", "hi", "--max-new-tokens", "0"],
         ["'--max-new-tokens'", "0 is not in the range x>=1"]),
        (["--example", "tiny-gpt", "--prompt", "hi", "--input", "x.npy"],
         ["--input: a generation job's input is its prompt"]),
        (["--example", "tiny-gpt", "--hf", "gen", "--prompt", "hi"],
         ["give exactly one of SPEC_DIR, --example or --hf"]),
    ],
)  # fmt: skip
def test_a_bad_prompt_for_job_post_is_a_usage_error_naming_it(
    run: Callable[..., Ran], args: list[str], words: list[str]
) -> None:
    """Refused before anything is compiled or sent (the tiny GPT is never trained here)."""
    for folder, kind in (("spec", "inference"), ("gen", "generation")):
        Path(folder).mkdir()
        Path(folder, "manifest.json").write_text(json.dumps({"meta": {"kind": kind}}))
    np.save("x.npy", np.zeros(4))
    _refused(run("job", "post", *args), 2, *words)
