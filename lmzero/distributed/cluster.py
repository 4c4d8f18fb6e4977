"""Joining or starting the Ray cluster a loop's workers run on.

Ray is an optional dependency (`pip install 'lmzero[ray]'`): it is imported here, only when a
loop is asked to scale out. An address is probed over TCP first, because `ray.init` on an
address where nothing listens retries for minutes before it fails.
"""

from __future__ import annotations

import logging
import os
import socket

from lmzero.distributed.config import ScaleConfig, ScaleError

PROBE_SECONDS = 5.0


def require_ray():
    """The ray module, or ScaleError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ScaleError("--workers needs Ray: pip install 'lmzero[ray]'") from None
    return ray


def connect(config: ScaleConfig) -> int:
    """Start a local cluster (`workers` CPUs) or join the one at `address`; the number of search
    actors to start. A cluster this process already joined is reused."""
    ray = require_ray()
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if not ray.is_initialized():
        options = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        if config.address:
            probe(config.address)
            try:
                ray.init(address=config.address, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ScaleError(f"cannot join the Ray cluster at {config.address}: "
                                 f"{str(exc).splitlines()[0]}") from None
        else:  # "local": a cluster of our own, not the one RAY_ADDRESS or the last `ray start`
            # on this machine names (Ray's default, which then refuses num_cpus: a traceback)
            ray.init(address="local", num_cpus=config.workers,
                     object_store_memory=config.object_store_mb * 2**20, **options)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        raise ScaleError("the Ray cluster has no CPUs to run search actors on")
    return config.workers or cpus


def probe(address: str) -> None:
    """ScaleError unless something listens at HOST:PORT (`auto` and ray:// are left to Ray)."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")  # checked by ScaleConfig
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise ScaleError(f"cannot reach the Ray cluster at {address}: "
                         f"{exc.strerror or exc}") from None


def disconnect() -> None:
    """Leave the cluster (a local one stops with it)."""
    import ray
    if ray.is_initialized():
        ray.shutdown()
