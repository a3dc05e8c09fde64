"""A real OpenID Connect provider for the tests: the certified `oidc-provider` npm package on
Node, installed once into `.orcai/oidc-provider/` (npm registry), with a login form that
checks passwords, users in the viewer / operator / admin groups, and a `groups` claim.

    provider = start_oidc_provider(workdir, port, redirect_uri)
    provider.issuer, provider.client_id, provider.client_secret_file, provider.users
    provider.stop()
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import port_open
from orcai.localstack.process import Service, start_service, wait_until

VERSION = "9.13.3"  # pinned: the version these tests were written against
INSTALL_DIR = REPO_ROOT / ".orcai" / "oidc-provider"
SCRIPT = Path(__file__).with_name("provider.mjs")
HOST = "127.0.0.2"  # its own loopback address: its cookies never mix with the app's (127.0.0.1)
GROUPS = {"vera": ("Vera Viewer", ["orcai-viewers", "staff"]), "olga": ("Olga Operator", ["orcai-operators"]),
          "ada": ("Ada Admin", ["orcai-admins"]), "nora": ("Nora Nogroup", ["staff"])}


@dataclass
class OidcProvider:
    service: Service
    issuer: str
    client_id: str
    client_secret: str
    client_secret_file: Path
    users: dict[str, dict]  # login -> {password, name, email, groups}

    def stop(self) -> None:
        self.service.stop()


def install_oidc_provider() -> Path:
    """`npm install oidc-provider` once into .orcai/oidc-provider; returns that folder."""
    package = INSTALL_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not package.exists() or json.loads(package.read_text())["version"] != VERSION:
        INSTALL_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", f"oidc-provider@{VERSION}"],
                       cwd=INSTALL_DIR, check=True, timeout=300, capture_output=True)
    shutil.copy(SCRIPT, INSTALL_DIR / "provider.mjs")  # ESM resolves the package from the script's folder
    return INSTALL_DIR


def start_oidc_provider(workdir: Path, port: int, redirect_uri: str, id_token_ttl_s: int = 600,
                        host: str = HOST) -> OidcProvider:
    folder = install_oidc_provider()
    issuer = f"http://{host}:{port}"
    users = {login: {"password": secrets.token_urlsafe(12), "name": name, "email": f"{login}@example.com",
                     "groups": groups} for login, (name, groups) in GROUPS.items()}
    client_secret = secrets.token_urlsafe(24)
    secret_file = workdir / "oidc_client_secret"
    secret_file.write_text(client_secret + "\n")
    secret_file.chmod(0o600)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "ISSUER": issuer, "HOST": host, "PORT": str(port),
           "ID_TOKEN_TTL_S": str(id_token_ttl_s), "OIDC_USERS": json.dumps(users),
           "OIDC_CLIENT": json.dumps({"client_id": "orcai", "client_secret": client_secret,
                                      "redirect_uris": [redirect_uri]})}
    service = start_service(f"oidc-provider:{port}", ["node", str(folder / "provider.mjs")],
                            workdir / f"oidc-provider-{port}.log", env=env, cwd=folder)
    wait_until(lambda: port_open(host, port), service, timeout_s=30)
    return OidcProvider(service, issuer, "orcai", client_secret, secret_file, users)
