"""`poc compile --hf DIR` for a generation job, then `poc run` on the prompt it wrote: a small
random GPT-2 saved locally with a byte-level BPE tokenizer trained here on the project's docs
(nothing downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from node.cli.compute_cmds import compile_cmd, run_cmd
from node.compute.llm_service import decode_output
from node.program.compiler.errors import CompileError
from node.program.compiler.gpt import corpus

transformers = pytest.importorskip("transformers")


def _save_model_and_tokenizer(d: Path, with_tokenizer: bool = True) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    vocab = 300
    if with_tokenizer:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
        text = corpus()[0].decode("utf-8", errors="replace")
        tok.train_from_iterator([text[i : i + 2000] for i in range(0, 40000, 2000)], trainer)
        fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok)
        fast.save_pretrained(d)
        vocab = len(fast)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=1, n_embd=64, n_head=2, vocab_size=vocab, n_positions=32)
    transformers.GPT2LMHeadModel(cfg).eval().save_pretrained(d)


def test_compile_hf_generation_then_run(tmp_path: Path) -> None:
    src, out = tmp_path / "model", tmp_path / "job"
    _save_model_and_tokenizer(src)
    runner = CliRunner()
    args = ["--hf", str(src), "--prompt", "The provider", "--max-new-tokens", "3"]
    r = runner.invoke(compile_cmd, [*args, "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["model"] == "gpt2" and len(rep["generated_ids"]) == 3
    assert rep["generated_text"] == decode_output(rep["meta"], rep["generated_ids"])
    r = runner.invoke(run_cmd, [str(out), "--input", str(out / "inputs.npy"), "--json"])
    assert r.exit_code == 0, r.output
    assert [row[0] for row in json.loads(r.output)["output_int"]] == rep["generated_ids"]


def test_compile_hf_without_tokenizer_needs_ids(tmp_path: Path) -> None:
    src = tmp_path / "model"
    _save_model_and_tokenizer(src, with_tokenizer=False)
    runner = CliRunner()
    base = ["--hf", str(src), "--out", str(tmp_path / "job"), "--max-new-tokens", "2"]
    r = runner.invoke(compile_cmd, [*base, "--prompt", "hi"])
    assert isinstance(r.exception, CompileError)  # main() maps it to exit code 17
    assert "no tokenizer: give --prompt-ids" in str(r.exception)
    r = runner.invoke(compile_cmd, base)
    assert r.exit_code == 2 and "--prompt TEXT or --prompt-ids" in r.output
    r = runner.invoke(compile_cmd, [*base, "--prompt-ids", "1,2,x"])
    assert r.exit_code == 2 and "comma-separated integers" in r.output
    r = runner.invoke(compile_cmd, [*base, "--prompt-ids", "1, 2, 250", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["generated_text"] is None
