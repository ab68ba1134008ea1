import argparse
import dataclasses

import pytest

from leading.arguments import add_config_arguments, config_from_args
from leading.config import PRESETS, Config
from leading.errors import ConfigError
from leading.train.scale import resolve_scale

# The paper's LEADING, written out here independently of PRESETS (a specification, not a copy)
PAPER = {
    "method": "leading",
    "head": "implicit",  # §3.3 implicit graph modeling (APPNP solver)
    "grad_hops": 0,  # §3.2 neighbor decoupling
    "scope": "subgraph",  # Algorithm 1: the GNN runs on the neighbor-sampled subgraph
    "fanouts": [10, 5],  # §4.3: 10 first-hop and 5 second-hop neighbors
    "refresh_fraction": None,  # pipeline 2 as large as pipeline 1 (App. H) ...
    "refresh_batch_size": None,  # ... None = batch_size
    "refresh_order": "cyclic",
    "pseudo_labels": 0.0,  # no pseudo-labels
    "pseudo_relabel": False,
    "prop_steps": 2,  # L = 2 (Table 6)
    "forward_warm_start": True,  # eq. 4
    "backward_init": "history",  # eq. 6: G_L^k = G_0^{k-1}
    "pooling": "cls",  # §4 (setup)
    "refit_head": False,
    "select_pretrained": False,
    "epochs": 3,
    "lr_lm": 1e-5,
}


def parse(argv):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return config_from_args(parser.parse_args(argv))


def test_preset_paper_sets_each_of_the_papers_settings():
    c = parse(["--preset", "paper"])
    for key, value in PAPER.items():
        assert getattr(c, key) == value, key
    assert PRESETS["paper"] == PAPER  # and nothing else
    # pipeline 2 re-encodes as many nodes per step as pipeline 1 has targets
    assert resolve_scale(c, 2708).refresh_size(c, 5) == c.batch_size
    assert c.lm_epochs == 3
    # every other setting keeps its default
    rest = {f.name for f in dataclasses.fields(Config)} - set(PAPER)
    assert {k: getattr(c, k) for k in rest} == {k: getattr(Config(), k) for k in rest}


def test_preset_paper_differs_from_the_defaults():
    # the defaults are a different mix (whole-graph refresh, pseudo-labels, 1 epoch, ...)
    c = Config()
    assert [k for k in PAPER if getattr(c, k) != PAPER[k]] == [
        "scope", "refresh_fraction", "pseudo_labels", "prop_steps", "backward_init", "pooling",
        "refit_head", "epochs", "lr_lm",
    ]


def test_explicit_flags_beat_the_preset_which_beats_yaml(tmp_path):
    c = parse(["--preset", "paper", "--prop-steps", "5", "--pseudo-labels", "0.5",
               "--refresh-fraction", "1.0"])
    assert c.prop_steps == 5 and c.pseudo_labels == 0.5 and c.refresh_fraction == 1.0
    assert c.backward_init == "history" and c.pooling == "cls"  # the rest of the preset
    path = tmp_path / "run.yaml"
    path.write_text("prop_steps: 7\ndataset: pubmed\nepochs: 9\n")
    c = parse(["--config", str(path), "--preset", "paper", "--epochs", "4"])
    assert c.prop_steps == 2  # preset beats YAML
    assert c.dataset == "pubmed"  # YAML keys the preset does not set stay
    assert c.epochs == 4  # flag beats both
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    over = config_from_args(parser.parse_args(["--preset", "paper"]), prop_steps=3)
    assert over.prop_steps == 3  # and overrides beat everything


def test_from_preset():
    c = Config.from_preset("paper", dataset="pubmed", prop_steps=4)
    assert c.dataset == "pubmed" and c.prop_steps == 4 and c.backward_init == "history"
    assert Config.from_preset("paper") == parse(["--preset", "paper"])
    with pytest.raises(ConfigError, match="unknown preset 'nope'; presets: \\['paper'\\]"):
        Config.from_preset("nope")
    with pytest.raises(ConfigError, match="unknown key"):
        Config.from_preset("paper", learning_rate=1.0)


def test_preset_values_are_not_shared():
    c = Config.from_preset("paper")
    c.fanouts.append(3)
    assert PRESETS["paper"]["fanouts"] == [10, 5]
    assert parse(["--preset", "paper"]).fanouts == [10, 5]


def test_unknown_preset_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        parse(["--preset", "nope"])
    assert e.value.code == 2 and "usage:" in capsys.readouterr().err


def test_presets_round_trip_through_config_yaml(tmp_path):
    for name in PRESETS:
        c = Config.from_preset(name)
        c.save(tmp_path / "config.yaml")
        assert Config.load(tmp_path / "config.yaml") == c
