"""Errors about user input that the CLI turns into one line and exit status 2, never a traceback.

Every failure of a `groundrl` command ends as one line on stderr, `groundrl: error: FILE:LINE: field
'name': what is wrong` (or `groundrl: error: what is wrong` where no file is involved), and an exit status:
EXIT_BAD_INPUT for input the user can fix, EXIT_FAILED for a run that failed or an unexpected error.
"""

from __future__ import annotations

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class InputError(ValueError):
    """Bad user input located in a file: `path:line: field 'name': message`.

    Args:
        path: the file.
        line: 1-based line number (or 0-based index into a JSON array, with `index=True`).
        field: the offending field, or None when the line as a whole is bad.
        message: what is wrong, in a few words.
        reason: a short stable key for counting rejections by kind (`not_json`, `missing_field`, ...).
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        field: str | None,
        message: str,
        reason: str = "invalid",
        index: bool = False,
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        self.reason = reason
        self.index = index
        super().__init__(str(self))

    def __reduce__(self):  # picklable, so that worker processes can report bad lines
        return (type(self), (self.path, self.line, self.field, self.message, self.reason, self.index))

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f"[{self.line}]" if self.index else f":{self.line}"
        what = f"field '{self.field}': {self.message}" if self.field else self.message
        return f"{where}: {what}"
