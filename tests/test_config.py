import argparse
import dataclasses

import pytest
import yaml

from leading.config import Config, add_config_arguments, config_from_args
from leading.errors import ConfigError


def parse(argv):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return config_from_args(parser.parse_args(argv))


def write_yaml(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_defaults():
    c = Config()
    assert c.dataset == "cora" and c.lm == "minilm" and c.max_length == 128
    assert c.fanouts == [10, 5] and c.downstream == ["gcn", "gat"] and c.bf16 is True
    assert parse([]) == c


def test_yaml_load(tmp_path):
    path = write_yaml(
        tmp_path,
        "dataset: pubmed\nmax_length: 64\nfanouts: [15, 10, 5]\nbf16: false\n"
        "lr_lm: 2.0e-5\npooling: cls\nthreads: null\n",
    )
    c = Config.load(path)
    assert c.dataset == "pubmed" and c.max_length == 64 and c.fanouts == [15, 10, 5]
    assert c.bf16 is False and c.lr_lm == 2e-5 and c.pooling == "cls" and c.threads is None
    assert c.epochs == Config().epochs  # untouched keys keep their defaults
    assert Config.load(write_yaml(tmp_path, "")) == Config()  # an empty file is all defaults


def test_yaml_float_without_dot_is_a_float(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-5 as the string "1e-5"
    c = Config.load(write_yaml(tmp_path, "lr_lm: 1e-5\nlr_head: 1\n"))
    assert c.lr_lm == 1e-5 and isinstance(c.lr_lm, float)
    assert c.lr_head == 1.0 and isinstance(c.lr_head, float)


def test_unknown_yaml_key(tmp_path):
    path = write_yaml(tmp_path, "dataset: cora\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError) as e:
        Config.load(path)
    assert str(path) in str(e.value) and "unknown key(s) ['learning_rate']" in str(e.value)


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        Config.load(write_yaml(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="cannot read YAML"):
        Config.load(write_yaml(tmp_path, "dataset: [unclosed\n"))
    with pytest.raises(ConfigError, match="cannot read YAML"):
        Config.load(tmp_path / "missing.yaml")


def test_cli_overrides_yaml_overrides_defaults(tmp_path):
    path = write_yaml(tmp_path, "max_length: 64\nepochs: 7\nhead: gcn\n")
    c = parse(["--config", str(path), "--max-length", "32", "--lr-lm", "3e-5"])
    assert c.max_length == 32  # flag beats YAML
    assert c.epochs == 7 and c.head == "gcn"  # YAML beats default
    assert c.lr_lm == 3e-5 and c.hidden == Config().hidden  # defaults for the rest
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    over = config_from_args(parser.parse_args(["--config", str(path)]), epochs=1)
    assert over.epochs == 1 and over.max_length == 64


def test_list_flags():
    c = parse(["--fanouts", "5", "3", "--downstream", "gcn", "gat", "mlp"])
    assert c.fanouts == [5, 3] and c.downstream == ["gcn", "gat", "mlp"]
    assert parse(["--fanouts", "20"]).fanouts == [20]


def test_bool_flags():
    assert parse(["--bf16", "false"]).bf16 is False
    assert parse(["--bf16", "no", "--resume"]).resume is True
    assert parse(["--progress", "0"]).progress is False
    assert parse(["--prefill", "ON"]).prefill is True


def test_optional_flags_accept_none():
    c = parse(["--pooling", "last", "--threads", "4", "--refresh-fraction", "0.5"])
    assert c.pooling == "last" and c.threads == 4 and c.refresh_fraction == 0.5
    c = parse(["--pooling", "none", "--threads", "None", "--data-dir", "/data"])
    assert c.pooling is None and c.threads is None and c.data_dir == "/data"


@pytest.mark.parametrize(
    "argv",
    [["--bf16", "maybe"], ["--max-length", "abc"], ["--fanouts"], ["--no-such-flag", "1"]],
)
def test_malformed_flags_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as e:
        parse(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_save_load_round_trip(tmp_path):
    c = Config(dataset="/some/dir", fanouts=[3, 2, 1], pooling="cls", lr_lm=1e-5, threads=2,
               bf16=False, downstream=["gat"], refresh_fraction=0.25)
    c.save(tmp_path / "config.yaml")
    back = Config.load(tmp_path / "config.yaml")
    assert back == c
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["fanouts"] == [3, 2, 1]
    assert Config.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"method": "magic"}, "method must be one of"),
        ({"head": "mlp"}, "head must be implicit, appnp, gcn or sage"),
        ({"scope": "local"}, "scope must be full or subgraph"),
        ({"backward_init": "random"}, "backward_init must be"),
        ({"pooling": "max"}, "pooling must be cls, mean, last or None"),
        ({"seeds": 0}, "seeds must be >= 1"),
        ({"batch_size": -4}, "batch_size must be >= 1"),
        ({"max_length": 0}, "max_length must be >= 1"),
        ({"alpha": 0.0}, r"alpha must be in \(0, 1\]"),
        ({"alpha": 1.5}, r"alpha must be in \(0, 1\]"),
        ({"refresh_fraction": -0.1}, "refresh_fraction must be >= 0"),
        ({"max_length": "256"}, "max_length must be int, got '256'"),
        ({"max_length": 12.5}, "max_length must be int"),
        ({"epochs": True}, "epochs must be int"),
        ({"bf16": "yes"}, "bf16 must be bool"),
        ({"lr_lm": "fast"}, "lr_lm must be float, got 'fast'"),
        ({"fanouts": 5}, "fanouts must be a list"),
        ({"fanouts": [5, "x"]}, "fanouts must be int"),
        ({"dataset": None}, "dataset must not be None"),
        ({"lm": 3}, "lm must be str"),
    ],
)
def test_invalid_values(changes, match):
    with pytest.raises(ConfigError, match=match):
        Config(**changes)
    with pytest.raises(ConfigError, match=match):
        Config().replace(**changes)
    with pytest.raises(ConfigError, match=match):
        Config.from_dict(changes)


def test_invalid_yaml_value_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="max_length must be int"):
        Config.load(write_yaml(tmp_path, "max_length: many\n"))
    with pytest.raises(ConfigError, match="head must be"):
        Config.load(write_yaml(tmp_path, "head: transformer\n"))


def test_invalid_flag_value_is_a_config_error():
    with pytest.raises(ConfigError, match="max_length must be >= 1"):
        parse(["--max-length", "0"])
    with pytest.raises(ConfigError, match="pooling must be"):
        parse(["--pooling", "max"])


def test_every_field_has_a_flag():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    flags = {a.dest for a in parser._actions}
    assert {f.name for f in dataclasses.fields(Config)} <= flags


def test_lm_epochs_default_per_method_and_task():
    # LEADING on node classification: every node a target, one epoch; 2 everywhere else
    assert Config().lm_epochs == 1 and Config().pseudo_labels == 1.0
    for method in ("supervised", "glem", "coupled", "gas"):
        assert Config(method=method).lm_epochs == 2
    assert Config(task="link").lm_epochs == 2
    assert Config(epochs=3).lm_epochs == Config(method="supervised", epochs=3).lm_epochs == 3
    assert Config(epochs=0).lm_epochs == 0
    with pytest.raises(ConfigError, match="epochs must be >= 0"):
        Config(epochs=-1)
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    assert config_from_args(parser.parse_args(["--epochs", "none"])).epochs is None
    assert config_from_args(parser.parse_args(["--epochs", "4"])).lm_epochs == 4
