import argparse
import dataclasses
import typing

import pytest
import yaml

from leading.arguments import add_config_arguments, config_from_args, describe
from leading.config import (
    GROUPS,
    LINK_METHODS,
    MEMORY_LAYOUTS,
    METHODS,
    REFRESH_ORDERS,
    SCOPES,
    TASKS,
    Config,
    base_type,
    range_text,
)
from leading.errors import ConfigError
from leading.graph import BACKWARD_INITS, DECODERS, GNNS, HEAD_KINDS
from leading.text.encoder import POOLINGS
from leading.text.precision import PRECISIONS
from leading.text.shallow import SHALLOW_KINDS
from leading.train.memory import MEMORY_DTYPES
from leading.train.methods import METHOD_DESCRIPTIONS


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
    assert c.fanouts == [10, 5] and c.downstream == ["gcn", "gat"] and c.precision == "auto"
    assert parse([]) == c


def test_yaml_load(tmp_path):
    path = write_yaml(
        tmp_path,
        "dataset: pubmed\nmax_length: 64\nfanouts: [15, 10, 5]\nbf16: false\n"
        "lr_lm: 2.0e-5\npooling: cls\nthreads: null\n",
    )
    c = Config.load(path)
    assert c.dataset == "pubmed" and c.max_length == 64 and c.fanouts == [15, 10, 5]
    assert c.precision == "fp32" and c.lr_lm == 2e-5 and c.pooling == "cls" and c.threads is None
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
    assert parse(["--lm-dropout", "false"]).lm_dropout is False
    assert parse(["--lm-dropout", "--resume"]).lm_dropout is True
    assert parse(["--lm-dropout", "no", "--resume"]).resume is True
    assert parse(["--progress", "0"]).progress is False
    assert parse(["--prefill", "ON"]).prefill is True


def test_optional_flags_accept_none():
    c = parse(["--pooling", "last", "--threads", "4", "--refresh-fraction", "0.5"])
    assert c.pooling == "last" and c.threads == 4 and c.refresh_fraction == 0.5
    c = parse(["--pooling", "none", "--threads", "None", "--data-dir", "/data"])
    assert c.pooling is None and c.threads is None and c.data_dir == "/data"


@pytest.mark.parametrize(
    "argv",
    [["--lm-dropout", "maybe"], ["--max-length", "abc"], ["--fanouts"], ["--no-such-flag", "1"]],
)
def test_malformed_flags_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as e:
        parse(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_save_load_round_trip(tmp_path):
    c = Config(dataset="/some/dir", fanouts=[3, 2, 1], pooling="cls", lr_lm=1e-5, threads=2,
               precision="fp32", downstream=["gat"], refresh_fraction=0.25)
    c.save(tmp_path / "config.yaml")
    back = Config.load(tmp_path / "config.yaml")
    assert back == c
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["fanouts"] == [3, 2, 1]
    assert Config.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"method": "magic"}, "method must be one of"),
        ({"head": "mlp"}, "head mlp only with method supervised or glem, got method 'leading'"),
        ({"head": "gin"}, "head must be one of implicit, appnp, gcn, sage or mlp, got 'gin'"),
        ({"scope": "local"}, "scope must be one of auto, full or subgraph"),
        ({"backward_init": "random"}, "backward_init must be"),
        ({"pooling": "max"}, "pooling must be one of cls, mean, last or none"),
        ({"downstream": ["gcn", "gin"]}, "downstream must be one of gcn, gat, .*, got 'gin'"),
        ({"glem_gnn": "gin"}, "glem_gnn must be one of"),
        ({"refresh_order": "random"}, "refresh_order must be cyclic or influence"),
        ({"task": "graph"}, "task must be node or link"),
        ({"glem_pseudo_ratio": 1.5}, r"glem_pseudo_ratio must be in \[0, 1\]"),
        ({"lora_dropout": 1.0}, r"lora_dropout must be in \[0, 1\)"),
        ({"grad_hops": -2}, "grad_hops must be >= -1"),
        ({"link_edges_per_epoch": 0}, "link_edges_per_epoch must be >= 1"),
        ({"seeds": 0}, "seeds must be >= 1"),
        ({"batch_size": -4}, "batch_size must be >= 1"),
        ({"max_length": 0}, "max_length must be >= 1"),
        ({"alpha": 0.0}, r"alpha must be in \(0, 1\]"),
        ({"alpha": 1.5}, r"alpha must be in \(0, 1\]"),
        ({"refresh_fraction": -0.1}, r"refresh_fraction must be in \[0, 1\]"),
        ({"refresh_fraction": 1.5}, r"refresh_fraction must be in \[0, 1\]"),
        ({"lr_lm": -1}, "lr_lm must be > 0, got -1"),
        ({"lr_lm": 0}, "lr_lm must be > 0"),
        ({"lr_lm": float("nan")}, "lr_lm must be > 0, got nan"),
        ({"lr_head": float("inf")}, "lr_head must be > 0, got inf"),
        ({"lr_head_finetune": -1e-3}, "lr_head_finetune must be > 0"),
        ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
        ({"head_weight_decay": -1}, "head_weight_decay must be >= 0"),
        ({"warmup_ratio": 1.5}, r"warmup_ratio must be in \[0, 1\]"),
        ({"grad_clip": -1}, "grad_clip must be >= 0"),
        ({"pseudo_labels": 1.5}, r"pseudo_labels must be in \[0, 1\]"),
        ({"pseudo_labels": -0.5}, r"pseudo_labels must be in \[0, 1\]"),
        ({"patience": 0}, "patience must be >= 1"),
        ({"head_epochs": -1}, "head_epochs must be >= 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"fanouts": [10, -2]}, r"fanouts: every value must be >= -1, got -2 in \[10, -2\]"),
        ({"refresh_batch_size": -1}, "refresh_batch_size must be >= 0"),
        ({"damping": 2.0}, r"damping must be in \[0, 1\]"),
        ({"prop_steps": 0}, "prop_steps must be >= 1"),
        ({"eval_steps": 0}, "eval_steps must be >= 1"),
        ({"encode_batch_size": 0}, "encode_batch_size must be >= 1"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"lora_alpha": 0.0}, "lora_alpha must be > 0"),
        ({"lora_r": -1}, "lora_r must be >= 0"),
        ({"hits_k": [10, 0]}, "hits_k: every value must be >= 1"),
        ({"hits_k": []}, "hits_k must be one or more integers"),
        ({"targets_per_epoch": -5}, "targets_per_epoch must be >= 0"),
        ({"full_graph_nodes": -1}, "full_graph_nodes must be >= 0"),
        ({"max_length": "256"}, "max_length must be int, got '256'"),
        ({"max_length": 12.5}, "max_length must be int"),
        ({"epochs": True}, "epochs must be int"),
        ({"lm_dropout": "yes"}, "lm_dropout must be bool"),
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


def test_every_number_has_a_range():
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        tp, _ = base_type(hints[f.name])
        tp = typing.get_args(tp)[0] if typing.get_origin(tp) is list else tp
        if tp in (int, float):
            assert range_text(f.metadata), f"{f.name} has no range"


def test_run_rejects_an_impossible_setting_before_any_work(tmp_path, capsys):
    from leading.cli import main

    assert main(["run", "--lr-lm", "-1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "leading: error: lr_lm must be > 0, got -1" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_invalid_yaml_value_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="max_length must be int"):
        Config.load(write_yaml(tmp_path, "max_length: many\n"))
    with pytest.raises(ConfigError, match="head must be"):
        Config.load(write_yaml(tmp_path, "head: transformer\n"))


def test_invalid_flag_value_is_a_config_error():
    with pytest.raises(ConfigError, match="max_length must be >= 1"):
        parse(["--max-length", "0"])
    with pytest.raises(SystemExit):  # not one of the choices: a usage error
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


def test_gnn_names_are_case_insensitive():
    # as build_gnn: any case, and graphsage for sage
    assert Config(glem_gnn="GraphSAGE", downstream=["GCN", "sage"]).downstream == ["GCN", "sage"]
    c = parse(["--glem-gnn", "GraphSAGE", "--downstream", "GAT", "graphsage"])
    assert c.glem_gnn == "sage" and c.downstream == ["gat", "sage"]


# --------------------------------------------------------------- self-documentation
FIELDS = dataclasses.fields(Config)


def test_every_field_has_help_and_one_group():
    groups = Config.groups()
    assert list(groups) == list(GROUPS.values())
    assert list(GROUPS) == ["data", "lm", "training", "head", "refresh", "propagation",
                            "evaluation", "output"]
    grouped = [name for names in groups.values() for name in names]
    assert sorted(grouped) == sorted(f.name for f in FIELDS)  # each field in exactly one group
    assert all(groups.values())  # no empty group
    for f in FIELDS:
        assert f.metadata["group"] in GROUPS, f.name
        text = f.metadata.get("help", "")
        assert len(text) > 8 and text[0].isupper() and text.rstrip(")").endswith("."), f.name


def test_enumerated_fields_take_their_choices_from_the_registries():
    expected = {
        "method": METHODS, "task": TASKS, "pooling": POOLINGS, "shallow_kind": SHALLOW_KINDS,
        "glem_gnn": GNNS, "head": HEAD_KINDS, "scope": SCOPES, "link_decoder": DECODERS,
        "refresh_order": REFRESH_ORDERS, "backward_init": BACKWARD_INITS, "downstream": GNNS,
        "precision": PRECISIONS, "memory_dtype": tuple(MEMORY_DTYPES),
        "memory_layout": MEMORY_LAYOUTS,
    }
    choices = {f.name: f.metadata["choices"] for f in FIELDS if "choices" in f.metadata}
    assert choices == {k: tuple(v) for k, v in expected.items()}
    assert set(METHODS) == set(METHOD_DESCRIPTIONS) and set(LINK_METHODS) <= set(METHODS)
    for f in FIELDS:  # every default is itself valid
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for value in default if isinstance(default, list) else [default]:
            assert value is None or value in f.metadata.get("choices", [value]), f.name


@pytest.mark.parametrize("name", [f.name for f in FIELDS if "choices" in f.metadata])
def test_unknown_choice_is_rejected_naming_field_and_choices(name):
    f = next(f for f in FIELDS if f.name == name)
    value = ["bogus"] if f.default is dataclasses.MISSING else "bogus"  # list fields: a factory
    with pytest.raises(ConfigError) as e:
        Config(**{name: value})
    msg = str(e.value)
    assert msg.startswith(f"{name} must be") and "'bogus'" in msg
    assert all(c in msg for c in f.metadata["choices"])
    with pytest.raises(SystemExit):  # the flag refuses it before any run starts
        parse(["--" + name.replace("_", "-"), "bogus"])


def run_help():
    from leading.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def test_run_help_describes_every_flag_with_choices_and_default():
    parser = run_help()
    actions = {a.dest: a for a in parser._actions}
    text = parser.format_help()
    for f in FIELDS:
        action = actions[f.name]
        assert action.help and f.metadata["help"] in action.help % {}, f.name
        assert "(default: " in action.help, f.name
        for choice in f.metadata.get("choices", ()):
            assert choice in action.help and choice in action.choices, (f.name, choice)
    for title in Config.groups():  # one titled section per group, in order
        assert f"\n{title}:\n" in text
    positions = [text.index(f"\n{title}:\n") for title in Config.groups()]
    assert positions == sorted(positions)
    flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert all(a.help for a in flags)  # --config and --preset too
    assert "--preset" in text and "defaults < --config < --preset" in " ".join(text.split())


def test_help_text_shows_the_values_as_typed():
    assert describe("fanouts").endswith("(default: 10 5)")
    assert describe("lm_dropout").endswith("(default: false)")
    assert describe("pooling").endswith("Choices: cls, mean, last. (default: none)")
    assert describe("batch_size").endswith("Must be >= 1. (default: 32)")
    assert describe("dropout").endswith("Must be in [0, 1). (default: 0.5)")
    assert "(default" not in describe("lm", default=False)
