"""Sign-in with the team's OpenID Connect identity provider.

Streamlit does the protocol itself (`st.login` / `st.user`, through Authlib): it reads an
`[auth]` section from its secrets. This module writes that section from ORC AI's settings
(`streamlit_secrets_toml`, into a file only its owner reads, before the app starts; see
orcai.serve_app) and turns the claims Streamlit hands back into a `Person`, refusing a
sign-in that does not count (`person_from_claims`):

- the token's issuer is not `ORCAI_OIDC_ISSUER` (Authlib already checks the ID token
  against the provider's metadata; this check also holds if the metadata URL is wrong);
- the sign-in is older than `ORCAI_OIDC_SESSION_MAX_S` (Streamlit's cookie lives 30 days);
- none of the person's groups (claim `ORCAI_OIDC_GROUPS_CLAIM`) maps to a role.

Pure apart from writing the secrets file; never imports streamlit, never logs a secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from orcai.access import Person, roles_from_groups
from orcai.config import Settings
from orcai.errors import SignInRefused
from orcai.localstack.secret_files import ensure_secret_file

CALLBACK_PATH = "/oauth2callback"  # Streamlit's fixed callback route
COOKIE_SECRET_FILE = "oidc_cookie_secret"
SECRETS_FILE = Path("streamlit") / "secrets.toml"


def metadata_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def cookie_secret(settings: Settings) -> str:
    """ORCAI_OIDC_COOKIE_SECRET(_FILE), else one generated once into `home`."""
    if settings.oidc_cookie_secret is not None:
        return settings.oidc_cookie_secret.get_secret_value()
    path = settings.home / COOKIE_SECRET_FILE
    ensure_secret_file(path)
    return path.read_text().strip()


def auth_section(settings: Settings) -> dict:
    """Streamlit's `[auth]` section for the configured provider."""
    return {"redirect_uri": settings.app_url + CALLBACK_PATH, "cookie_secret": cookie_secret(settings),
            "client_id": settings.oidc_client_id,
            "client_secret": settings.oidc_client_secret.get_secret_value(),
            "server_metadata_url": metadata_url(settings.oidc_issuer),
            "client_kwargs": {"scope": settings.oidc_scopes, "prompt": "login"}}


def streamlit_secrets_toml(section: dict) -> str:
    """`[auth]` as TOML (strings JSON-escaped, which TOML basic strings accept)."""
    lines = ["[auth]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in section.items() if not isinstance(value, dict)]
    for key, value in ((k, v) for k, v in section.items() if isinstance(v, dict)):
        lines += ["", f"[auth.{key}]"] + [f"{k} = {json.dumps(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def write_streamlit_secrets(settings: Settings) -> Path:
    """Write the `[auth]` secrets file (mode 600) under `home`; returns its path."""
    path = (settings.home / SECRETS_FILE).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(streamlit_secrets_toml(auth_section(settings)))
    return path


def groups_of(claims: Mapping, claim: str) -> list[str]:
    """The groups claim as a list (IdPs send a list, some a comma-separated string)."""
    value = claims.get(claim) or []
    if isinstance(value, str):
        value = value.split(",")
    return [str(g).strip() for g in value if str(g).strip()]


def person_from_claims(claims: Mapping, settings: Settings, now_s: float) -> Person:
    """The signed-in person from Streamlit's `st.user`; SignInRefused when it does not count."""
    if not claims.get("is_logged_in") or not claims.get("sub"):
        raise SignInRefused("claims", "not signed in")
    if str(claims.get("iss", "")).rstrip("/") != settings.oidc_issuer.rstrip("/"):
        raise SignInRefused("issuer", "this sign-in comes from another identity provider than ORCAI_OIDC_ISSUER")
    signed_in_at = claims.get("auth_time") or claims.get("iat")
    if not isinstance(signed_in_at, (int, float)) or now_s - signed_in_at > settings.oidc_session_max_s:
        raise SignInRefused("expired", "your session has expired: sign in again")
    name = str(claims.get("name") or claims.get("preferred_username") or claims.get("email") or claims["sub"])
    roles = roles_from_groups(groups_of(claims, settings.oidc_groups_claim), settings.oidc_role_groups)
    if not roles:
        raise SignInRefused("no_role", f"{name} is signed in but in no group that ORC AI maps to a role "
                                       "(ORCAI_OIDC_ROLE_GROUPS): ask an admin for access")
    return Person(subject=str(claims["sub"]), name=name, roles=roles)
