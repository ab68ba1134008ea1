r"""The command line built from :class:`~leading.config.Config`: one flag per field, with its
help text, choices and default, in one argument group per :data:`~leading.config.GROUPS` entry
(as HF's ``HfArgumentParser`` builds it from ``TrainingArguments``)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from leading.config import GROUPS, PRESETS, Config, base_type, canonical, preset, range_text

__all__ = ["add_config_arguments", "config_from_args", "describe", "parse_bool"]


def parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def describe(name: str, default: bool = True) -> str:
    r"""The help text of field :obj:`name`: its help, its choices and (with :obj:`default`) its
    default, as ``leading run --help`` shows it."""
    f = {f.name: f for f in dataclasses.fields(Config)}[name]
    text = f.metadata["help"]
    if "choices" in f.metadata:
        text += " Choices: " + ", ".join(f.metadata["choices"]) + "."
    if (bounds := range_text(f.metadata)) is not None:
        text += f" Must be {bounds}."
    if default:  # as it is typed on the command line
        value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        value = " ".join(map(str, value)) if isinstance(value, list) else value
        value = str(value).lower() if value is None or isinstance(value, bool) else value
        text += f" (default: {value})"
    return text


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    r"""Adds ``--config``, ``--preset`` and one flag per :class:`Config` field (default: not
    given), in one argument group per :data:`GROUPS` entry."""
    source = parser.add_argument_group(
        "configuration", "Priority: defaults < --config < --preset < the flags below."
    )
    source.add_argument("--config", metavar="YAML", help="YAML file of configuration keys "
                        "(e.g. a run's config.yaml).")
    source.add_argument("--preset", choices=sorted(PRESETS), help="Named settings applied over "
                        "the defaults and --config, under explicit flags; paper: the paper's "
                        "LEADING (leading.config.PRESETS).")
    hints = typing.get_type_hints(Config)
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    for f in dataclasses.fields(Config):
        tp, optional = base_type(hints[f.name])
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else tp
        convert = (lambda s, f=f: canonical(f.name, s)) if inner is str else inner
        if tp is bool:
            kwargs.update(type=parse_bool, nargs="?", const=True, metavar="BOOL")
        elif typing.get_origin(tp) is list:
            kwargs.update(type=convert, nargs="+")
        else:
            kwargs["type"] = (
                (lambda s, t=convert: None if s.lower() == "none" else t(s)) if optional
                else convert
            )
        if "choices" in f.metadata:
            kwargs.update(choices=f.metadata["choices"] + ((None,) if optional else ()),
                          metavar=f.name.upper())
        flag = "--" + f.name.replace("_", "-")
        groups[f.metadata["group"]].add_argument(
            flag, help=describe(f.name).replace("%", "%%"), **kwargs
        )


def config_from_args(args: argparse.Namespace, **overrides: Any) -> Config:
    r"""Defaults < YAML file (``--config``) < preset (``--preset``) < command-line flags <
    :obj:`overrides`."""
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        values.update(Config.load(args.config).to_dict())
    if getattr(args, "preset", None):
        values.update(preset(args.preset))
    names = {f.name for f in dataclasses.fields(Config)}
    values.update({k: v for k, v in vars(args).items() if k in names})
    values.update(overrides)
    return Config.from_dict(values)
