"""The `--help` of every command: a line for each option with its default, and one example at the end.

Applied to the finished parser, so a new option or command is covered without touching this file;
options declared without help text get the wording below, by destination name.
"""

from __future__ import annotations

import argparse

HELP_BY_NAME = {
    "device": "where the network runs: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps",
    "task": "the task: ct, pet or spect",
    "tasks": "one or more of ct, pet, spect",
    "repeats": "timed runs per measurement, after one warm-up",
    "json": "print JSON instead of a table",
    "base": "what the reliability weights combine: plain (the sources as they are) or zscore",
    "base_power": "power mean of the base; 1 = arithmetic mean",
    "curve_strength": "0 = plain 50/50 average base, 1 = the learned reliability curve",
    "threads": "CPU threads",
    "steps": "optimisation steps",
    "batch_size": "slices per batch",
    "lr": "learning rate of the convolutions",
    "seed": "random seed (data order, crops, initial weights)",
    "eval_every": "steps between validation runs (logged to log.jsonl)",
}

EXAMPLES = {
    "fuse": "wdualmine fuse PET-MRI/PET/case1.nii.gz PET-MRI/MRI/case1.nii.gz -o fused/case1.nii.gz --maps",
    "eval": "wdualmine eval aanlib/ fused/ --tasks pet --json",
    "eval-volumes": "wdualmine eval-volumes --manifest cases.csv --json",
    "simulate": "wdualmine simulate simset --cases 6 --seed 2026 --kinds pet,spect,ct",
    "demo": "wdualmine demo -o demo-output --device cpu",
    "bench": "wdualmine bench --device cpu --threads 2 --no-volume",
    "gpu-check": "wdualmine gpu-check --device cuda:0",
    "sweep": "wdualmine sweep pet --data aanlib/ --details 0,0.5,1 --plot tradeoff.png",
    "train": "wdualmine train pet --data aanlib/ --work-dir runs/pet",
    "ablate": "wdualmine ablate pet --data aanlib/ --work-dir runs/pet-ablation --steps 150",
}


def _with_default(action: argparse.Action) -> None:
    if action.help is None:
        action.help = HELP_BY_NAME.get(action.dest)
    if action.help in (None, argparse.SUPPRESS) or not action.option_strings:
        return
    if action.default in (None, False, argparse.SUPPRESS) or "default" in action.help.lower():
        return  # a flag that is off, or a help text that already says its default in its own words
    shown = repr(action.default) if action.default == "" else action.default
    action.help += f" (default: {shown})".replace("%", "%%")


def document(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Fill in help and defaults for every option of every command, and end each help with an example."""
    for action in parser._actions:
        _with_default(action)
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                for option in command._actions:
                    _with_default(option)
                if name in EXAMPLES and not command.epilog:
                    command.epilog = f"example:\n  {EXAMPLES[name]}"
                    command.formatter_class = argparse.RawDescriptionHelpFormatter
    if not parser.epilog:
        parser.epilog = f"example:\n  {EXAMPLES['fuse']}\n\n`wdualmine COMMAND --help` for each command's options."
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser
