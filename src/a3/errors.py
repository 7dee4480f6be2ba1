"""Errors that the CLI turns into clear messages and exit codes."""


class A3Error(Exception):
    """Base class for errors that carry a message meant for a person."""

    exit_code = 1


class UserInputError(A3Error):
    """Bad input from the user (a config file, a flag, a path): exit code 2."""

    exit_code = 2
