"""Every command's --help names each option's default and ends with an example of that command."""

import argparse

from wdualmine.cli import build_parser


def commands():
    parser = build_parser()
    return parser, next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_option_has_help_and_its_default():
    _, choices = commands()
    for name, command in choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.dest} has no help text"
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert "default" in action.help.lower(), f"{name} {action.dest} does not say its default"


def test_every_help_ends_with_an_example():
    parser, choices = commands()
    assert "example:\n  wdualmine fuse" in parser.format_help()
    for name, command in choices.items():
        last_lines = command.format_help().rstrip().splitlines()[-2:]
        assert last_lines[0] == "example:" and last_lines[1].startswith(f"  wdualmine {name} "), name
