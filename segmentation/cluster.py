"""Where the heavy per-shard steps run: in this process, or on a Dask cluster (issue 20).

Without an address the shard steps run on two threads of the flow's process, as they always
did. With ``--dask-address tcp://HOST:PORT`` (or the ``dask_address`` parameter, the catalog
key, ``SEGMENT_DASK_ADDRESS``) they run on the cluster's workers through Prefect's own
``DaskTaskRunner`` (prefect-dask): each task gets paths as strings and reads and writes
Parquet itself, so nothing larger than a small dict crosses the scheduler. The data root
must therefore be a path every worker can reach (a shared filesystem).

Task runs on the workers report to the flow's Prefect API: the CLI passes its temporary
server's URL, which workers on this machine reach (``make cluster``); workers on other
machines need a server they can reach (``PREFECT_API_URL``, ``make server``).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from contextlib import contextmanager
from typing import Iterator

from segmentation.errors import InputError

DASK_ADDRESS_ENV = "SEGMENT_DASK_ADDRESS"
ADDRESS = re.compile(r"^tcp://(?P<host>[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")
CONNECT_TIMEOUT_S = 3.0     # an unreachable scheduler is named in well under 5 s
LOCAL_THREADS = 2           # shards at once without a cluster: memory stays bounded by shard size


def dask_address(given: str | None = None) -> str | None:
    """The scheduler to use: ``given``, else ``$SEGMENT_DASK_ADDRESS``, else None (run locally).

    Raises
    ------
    InputError
        The address is not ``tcp://HOST:PORT`` with a port in 1-65535.
    """
    address = (given or os.environ.get(DASK_ADDRESS_ENV, "")).strip() or None
    if address is None:
        return None
    found = ADDRESS.match(address)
    if not found or not 1 <= int(found["port"]) <= 65535:
        source = "--dask-address" if given else DASK_ADDRESS_ENV
        raise InputError(f"{source} {address!r} is not a Dask scheduler address: give "
                         f"tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786 (`make cluster`)")
    return address


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, with one line, unless a Dask scheduler with workers answers at ``address``.

    A TCP connection first (a refused port is named at once), then Dask's ``identity`` call:
    another service on the port, or a scheduler without workers (tasks would wait forever),
    is named too. At most ``timeout`` + 1 s.
    """
    found = ADDRESS.match(address)
    hint = (f"start one with `make cluster`, fix the address, or leave out --dask-address "
            f"(and {DASK_ADDRESS_ENV}) to run on this machine")
    try:
        with socket.create_connection((found["host"], int(found["port"])), timeout=timeout):
            pass
    except OSError as error:
        reason = "timed out" if isinstance(error, socket.timeout) else (error.strerror or str(error))
        raise InputError(f"cannot reach the Dask scheduler at {address} ({reason}); {hint}") from None
    try:
        identity = asyncio.run(_identity(address, timeout))
    except Exception as error:   # noqa: BLE001 - whatever answered, it is not a scheduler
        # Dask's own errors for a stranger on the port say nothing useful (a MemoryError from
        # reading an HTTP reply as a frame length): say what it means.
        what = (f"no answer in {timeout:g} s" if isinstance(error, TimeoutError)
                else "something else listens there")
        raise InputError(f"no Dask scheduler answers at {address} ({what}); {hint}") from None
    if identity.get("type") != "Scheduler":
        raise InputError(f"{address} answers as a Dask {identity.get('type')}, not a "
                         f"scheduler; {hint}")
    if not identity.get("workers"):
        raise InputError(f"the Dask scheduler at {address} has no workers: start some "
                         f"(`dask worker {address}`, or `make cluster`)")


async def _identity(address: str, timeout: float) -> dict:
    from distributed.core import rpc

    remote = rpc(address, timeout=timeout)
    try:
        return await asyncio.wait_for(remote.identity(), timeout + 1)
    finally:
        await remote.close_rpc()


@contextmanager
def shard_runner(address: str | None) -> Iterator:
    """A started Prefect task runner for the shard steps: local threads, or the cluster.

    Use its ``map``/``submit`` inside a flow; the task runs are the flow run's children
    either way.
    """
    if address is None:
        from prefect.task_runners import ThreadPoolTaskRunner

        runner = ThreadPoolTaskRunner(max_workers=LOCAL_THREADS)
    else:
        from prefect_dask import DaskTaskRunner

        check_reachable(address)     # a deployment run gets the CLI's one line too, not a traceback
        runner = DaskTaskRunner(address=address, client_kwargs={"timeout": f"{CONNECT_TIMEOUT_S}s"})
    with runner:
        yield runner
