"""The two ways a sign-off command fails short of a bug, each mapped to one exit code at the CLI edge."""

from __future__ import annotations


class InputError(ValueError):
    """A file the command needs is missing or malformed (a usage error): the message is one line."""


class SignoffRefused(Exception):
    """The report cannot be signed as asked (its body changed, or a FAILED gate without an accepted risk)."""
