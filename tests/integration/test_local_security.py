"""Local mode keeps to this machine: loopback-only listeners, a password on the graph."""

from __future__ import annotations

import socket

import pytest
import redis

from orcai.config import load_settings
from orcai.graph import connect
from orcai.localstack.falkordb import start_falkordb
from orcai.localstack.secret_files import ensure_secret_file
from tests.conftest import AIRFLOW_PORT, FALKOR_PORT, PORT_OFFSET

pytestmark = pytest.mark.integration


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port`, from /proc (IPv4 and IPv6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, port_hex = local.split(":")
                if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                    raw = bytes.fromhex(address)
                    if width == 8:
                        found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                    else:
                        words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                        found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def test_airflow_and_falkordb_listen_on_loopback_only(airflow, falkordb_server):
    for port in (AIRFLOW_PORT, FALKOR_PORT):
        addresses = listening_addresses(port)
        assert addresses and addresses <= LOOPBACK, f"port {port} listens on {addresses}"


def test_falkordb_with_a_password_refuses_strangers(tmp_path):
    port = 6397 + PORT_OFFSET
    password_file = tmp_path / "secret" / "falkordb_password"
    assert ensure_secret_file(password_file) and not ensure_secret_file(password_file)
    assert password_file.stat().st_mode & 0o777 == 0o600 and len(password_file.read_text()) >= 24
    server = start_falkordb(tmp_path / "data", port, password=password_file.read_text().strip())
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).ping()
        settings = load_settings(graph_uri=f"falkor://127.0.0.1:{port}/secured",
                                 graph_password_file=password_file)
        graph = connect(settings)
        graph.write("CREATE (:Probe {ok: true})")
        assert graph.read("MATCH (p:Probe) RETURN p.ok AS ok") == [{"ok": True}]
        graph.close()
        assert password_file.read_text().strip() not in (tmp_path / "data" / "falkordb.log").read_text()
    finally:
        server.stop()
