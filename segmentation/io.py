"""Atomic file writes, hard-linked directory copies, content hashes, paths as SQL text."""

from __future__ import annotations

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


def sql_literal(value) -> str:
    """A SQL string literal of ``value`` (its single quotes doubled): paths in DuckDB SQL, where
    a folder like ``O'Brien's data`` must not end the string."""
    return "'" + str(value).replace("'", "''") + "'"
