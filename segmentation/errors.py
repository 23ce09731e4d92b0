"""Errors a user can act on: each names the file, and where known the column and row."""

from __future__ import annotations


class SegmentationError(Exception):
    """Base for every expected failure; the CLI prints it as one paragraph, no traceback."""


class InputError(SegmentationError):
    """Input that cannot be read as the table the pipeline needs."""

    def __init__(self, message: str, *, file: str | None = None,
                 column: str | None = None, row: int | None = None):
        self.file, self.column, self.row = file, column, row
        where = []
        if file is not None:
            where.append(f"file '{file}'")
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row {row}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ValidationFailed(SegmentationError):
    """A table-level expectation failed: the run cannot go on."""

    def __init__(self, file: str, failures: list[dict]):
        self.file, self.failures = file, failures
        lines = "; ".join(
            f"{f['expectation']}"
            + (f" on column '{f['column']}'" if f.get("column") else "")
            + (f" ({f['detail']})" if f.get("detail") else "")
            for f in failures
        )
        super().__init__(f"file '{file}' failed validation: {lines}")

    def __reduce__(self):
        # Rebuilt from its fields: a failure raised on a Dask worker travels pickled.
        return type(self), (self.file, self.failures)
