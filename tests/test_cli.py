import re

import pytest
import torch

from leading.cli import main
from leading.data import read_directory
from leading.text.encoder import TextEncoder
from leading.text.precision import resolve_precision


def test_data_info_cora(capsys):
    assert main(["data", "info", "cora"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^nodes\s+2708$", out, re.M)
    assert re.search(r"^edges\s+5278 undirected$", out, re.M)
    assert re.search(r"^classes\s+7$", out, re.M)
    assert re.search(r"^\s+1 Neural_Networks\s+818$", out, re.M)
    assert "text chars" in out and "text words" in out


def test_data_info_directory_with_splits(small_dir, capsys):
    assert main(["data", "info", str(small_dir), "--offline"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^nodes\s+5$", out, re.M)
    assert re.search(r"^edges\s+4 undirected$", out, re.M)  # (1, 0) and (4, 4) do not count
    assert re.search(r"^split train\s+2$", out, re.M)
    assert re.search(r"^split test\s+2$", out, re.M)


@pytest.mark.parametrize("argv", [["data", "info", "no-such-dataset"], ["embed", "--out", "x.pt",
                                  "--dataset", "no-such-dataset"]])
def test_bad_dataset_is_a_one_line_error(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("leading: error: unknown dataset 'no-such-dataset'")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert captured.out == ""
    assert not (tmp_path / "x.pt").exists()


def test_bad_data_file_is_a_one_line_error(make_dir, tmp_path, capsys):
    root = make_dir(tmp_path / "bad", [{"node_id": 0, "text": "a"}], ["0,9"])
    assert main(["data", "info", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "edges.csv, line 2: node id 9 is outside [0, 1)" in err


def test_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["data"])
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.fixture
def tiny_lm_dir(tiny_bert, bert_tokenizer, tmp_path):
    path = tmp_path / "tiny-bert"
    tiny_bert.float().save_pretrained(path)
    bert_tokenizer.save_pretrained(path)
    return path


def test_embed_tiny_directory(small_dir, tiny_lm_dir, tmp_path, cache_root, capsys):
    out = tmp_path / "emb" / "x.pt"
    argv = ["embed", "--dataset", str(small_dir), "--lm", str(tiny_lm_dir), "--out", str(out),
            "--precision", "fp32", "--max-length", "16", "--batch-size", "2", "--quiet"]
    assert main(argv) == 0
    x = torch.load(out)
    assert x.shape == (5, 32) and x.dtype == torch.float32
    printed = capsys.readouterr()
    assert f"wrote {out}: [5, 32]" in printed.out
    assert "leading: LM precision fp32 (set explicitly)\n" in printed.err  # a log line
    # the same vectors as the library gives, in node order
    enc = TextEncoder.from_pretrained(tiny_lm_dir, max_length=16, precision="fp32")
    g = read_directory(small_dir)
    expected = enc.encode_all(enc.tokenize(g.texts, cache=False), progress=False)
    torch.testing.assert_close(x, expected)
    assert len(list((cache_root / "tokens").glob("*.pt"))) == 1  # tokens cached under the env dir


@pytest.mark.parametrize("precision", ["bf16", None])  # None: the default, auto
def test_embed_with_pooling_and_precision(small_dir, tiny_lm_dir, tmp_path, capsys, precision):
    out = tmp_path / "x.pt"
    extra = ["--precision", precision] if precision else []
    assert main(["embed", "--dataset", str(small_dir), "--lm", str(tiny_lm_dir), "--out",
                 str(out), "--pooling", "cls", "--quiet", *extra]) == 0
    used, reason = resolve_precision(precision or "auto", "cpu")
    assert f"leading: LM precision {used} ({reason})" in capsys.readouterr().err
    x = torch.load(out)
    enc = TextEncoder.from_pretrained(tiny_lm_dir, pooling="cls", precision="fp32")
    g = read_directory(small_dir)
    ref = enc.encode_all(enc.tokenize(g.texts, cache=False), progress=False)
    assert x.shape == (5, 32)
    if used == "fp32":
        torch.testing.assert_close(x, ref)
    else:
        assert not torch.equal(x, ref)  # bf16 autocast really was used ...
        torch.testing.assert_close(x, ref, atol=0.1, rtol=0.05)  # ... and is close


def test_embed_bad_model_dir(small_dir, tmp_path, capsys):
    (tmp_path / "empty-lm").mkdir()
    argv = ["embed", "--dataset", str(small_dir), "--lm", str(tmp_path / "empty-lm"),
            "--out", str(tmp_path / "x.pt")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    expected = f"{tmp_path / 'empty-lm'}: a model directory needs a config.json"
    assert err == f"leading: error: {expected}\n"
    assert not (tmp_path / "x.pt").exists()


def _subparsers(parser):
    r"""Every (sub)command parser below :obj:`parser`, by its path."""
    import argparse

    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sub
                out.update({f"{name} {k}": v for k, v in _subparsers(sub).items()})
    return out


def test_every_flag_of_every_command_has_help():
    from leading.cli import build_parser

    commands = _subparsers(build_parser())
    assert {"run", "embed", "bench", "data", "data info"} <= set(commands)
    for name, parser in commands.items():
        for action in parser._actions:
            if action.dest != "help" and not action.__class__.__name__.startswith("_SubParsers"):
                assert action.help and action.help.strip(), (name, action.dest)


def test_embed_and_bench_take_their_defaults_from_the_config():
    from leading.cli import build_parser
    from leading.config import Config

    c = Config()
    args = build_parser().parse_args(["embed", "--out", "x.pt"])
    assert args.max_length == c.max_length == 128  # not 256 any more: one default per setting
    assert (args.lm, args.pooling, args.precision, args.batch_size, args.dataset, args.data_dir,
            args.threads) == (c.lm, c.pooling, c.precision, c.encode_batch_size, c.dataset,
                              c.data_dir, c.threads)
    args = build_parser().parse_args(["bench", "--dry-run"])
    assert (args.dataset, args.lm, args.device) == (c.dataset, c.lm, c.device)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["embed", "--out", "x.pt", "--pooling", "max"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["embed", "--out", "x.pt", "--precision", "fp16"])
