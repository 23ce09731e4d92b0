"""Atomic file and directory writes, content hashes."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def sha256_file(path: Path | str, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so memory stays flat."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def write_parquet_atomic(frame: pd.DataFrame | pa.Table, path: Path,
                         schema: pa.Schema | None = None) -> Path:
    """Write Parquet to a temp sibling, then rename over ``path``.

    With a ``schema``, the frame must have every schema column (KeyError
    otherwise); they are written in the schema's order and types.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if schema is not None and not isinstance(frame, pa.Table):
        frame = frame[schema.names]
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(
        frame, schema=schema, preserve_index=False)
    tmp = _temp_sibling(path)
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def write_text_atomic(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json_atomic(data: Any, path: Path) -> Path:
    return write_text_atomic(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", path)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def swap_into_place(staged: Path, final: Path) -> None:
    """Replace directory ``final`` by ``staged`` so readers never see a partial one.

    Where the kernel supports it the two directories are exchanged in one
    atomic step; elsewhere the old one is moved aside and the new one renamed
    in (a gap of two renames, healed by ``recover_aside``).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        os.rename(staged, final)
        return
    if _exchange(staged, final):
        shutil.rmtree(staged)  # now holds the old contents
        return
    aside = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(final, aside)
    os.rename(staged, final)
    shutil.rmtree(aside)


def recover_aside(final: Path) -> None:
    """Restore a directory left aside by a run killed between two renames."""
    if final.exists():
        return
    for aside in sorted(final.parent.glob(f".{final.name}.old-*")):
        os.rename(aside, final)
        return


def copy_tree_linked(source: Path, target: Path) -> None:
    """Copy a directory of finished files, hard-linking where the filesystem allows."""
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_dir():
            copy_tree_linked(item, target / item.name)
            continue
        try:
            os.link(item, target / item.name)
        except OSError:
            shutil.copy2(item, target / item.name)
