"""Errors that the CLI turns into clear messages and exit codes."""


class A3Error(Exception):
    """Base class for errors that carry a message meant for a person."""

    exit_code = 1


class UserInputError(A3Error):
    """Bad input from the user (a config file, a flag, a path): exit code 2."""

    exit_code = 2


class RunEnvironmentError(A3Error):
    """The machine or the run directory stops the work (a full disk, no permission, a corrupt
    state file): exit code 4. What finished is saved; fix the cause and run the same command again."""

    exit_code = 4


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error: the path, what went wrong, what to do."""
    import errno

    where = exc.filename or "a file"
    advice = {
        errno.ENOSPC: "the disk is full; free some space",
        errno.EDQUOT: "the disk quota is used up; free some space",
        errno.EACCES: "no permission; choose a folder you can write to or fix its permissions",
        errno.EPERM: "not permitted; choose a folder you can write to or fix its permissions",
        errno.EROFS: "the file system is read-only; choose a writable folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EISDIR: "a folder is where a file was expected",
    }.get(exc.errno or -1, exc.strerror or type(exc).__name__)
    return (
        f"{where}: {exc.strerror or type(exc).__name__} ({advice}); "
        "what finished is saved: run the same command again to resume"
    )
