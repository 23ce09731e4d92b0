"""A file handle that records the size of every read: a test can show a file is streamed in
bounded chunks, never read whole (the memory promise of hashing and of the file check)."""

from __future__ import annotations


class CountingReads:
    """Wraps an open binary handle; ``sizes`` gets the size asked for by each ``read``."""

    def __init__(self, handle, sizes: list):
        self.handle, self.sizes = handle, sizes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def read(self, size=-1):
        self.sizes.append(size)
        return self.handle.read(size)


def bounded(sizes: list, limit: int) -> bool:
    """Whether every read asked for a positive size of at most ``limit`` bytes (None or -1
    would read the rest of the file at once)."""
    return bool(sizes) and all(isinstance(n, int) and 0 < n <= limit for n in sizes)
