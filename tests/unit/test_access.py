"""Who may do what: roles from IdP groups, the check every write makes, sign-ins that do not
count (another issuer, an expired session, no role), per-client login limits, and the
Streamlit [auth] secrets written from the settings."""

import tomllib

import pytest

from orcai.access import LOCAL_ADMIN, LOCAL_VIEWER, PERMISSIONS, Person, require, roles_from_groups
from orcai.auth import LoginLimiter
from orcai.config import load_settings
from orcai.errors import ConfigError, PermissionDenied, SignInRefused
from orcai.oidc import person_from_claims, write_streamlit_secrets

ISSUER = "http://127.0.0.1:9999/oidc"
NOW_S = 1_800_000_000


def oidc_settings(tmp_path, **overrides):
    return load_settings(oidc_issuer=ISSUER, oidc_client_id="orcai", oidc_client_secret="client-s3cret",
                         home=tmp_path, app_url="https://orcai.example.com", **overrides)


def claims(**overrides):
    return {"is_logged_in": True, "iss": ISSUER, "sub": "u-42", "name": "Olga Operator",
            "groups": ["orcai-operators", "staff"], "iat": NOW_S - 60, **overrides}


def person(role: str) -> Person:
    return Person(f"sub-{role}", role.title(), frozenset({role}))


@pytest.mark.parametrize("permission, viewer, operator, admin", [
    ("review_anomaly", False, True, True), ("undo_action", False, True, True),
    ("switch_policy_mode", False, True, True), ("edit_policy", False, False, True),
    ("delete_policy", False, False, True), ("import_policies", False, False, True),
])
def test_the_role_table(permission, viewer, operator, admin):
    assert [person(r).may(permission) for r in ("viewer", "operator", "admin")] == [viewer, operator, admin]


def test_require_names_the_person_and_the_role_needed():
    with pytest.raises(PermissionDenied, match="Viewer may not edit policy: that takes the admin role"):
        require(person("viewer"), "edit_policy")
    with pytest.raises(PermissionDenied):
        require(None, "review_anomaly")
    assert require(person("operator"), "review_anomaly").name == "Operator"
    assert all(LOCAL_ADMIN.may(p) for p in PERMISSIONS) and not any(LOCAL_VIEWER.may(p) for p in PERMISSIONS)


def test_groups_map_to_roles_by_the_setting():
    mapping = "admin=platform-admins,operator=sre,operator=oncall,viewer=everyone"
    assert roles_from_groups(["oncall", "x"], mapping) == {"operator"}
    assert roles_from_groups(["x"], mapping) == frozenset()
    with pytest.raises(ConfigError, match="ORCAI_OIDC_ROLE_GROUPS"):
        roles_from_groups(["x"], "superuser=x")


def test_a_valid_sign_in_becomes_a_person(tmp_path):
    signed_in = person_from_claims(claims(), oidc_settings(tmp_path), NOW_S)
    assert signed_in == Person("u-42", "Olga Operator", frozenset({"operator"}))
    assert person_from_claims(claims(groups="orcai-admins, x", iss=ISSUER + "/"),
                              oidc_settings(tmp_path), NOW_S).role == "admin"


@pytest.mark.parametrize("changed, reason", [
    ({"iss": "http://127.0.0.1:9998/oidc"}, "issuer"),
    ({"iat": NOW_S - 43_201}, "expired"),
    ({"iat": None}, "expired"),
    ({"groups": ["staff"]}, "no_role"),
    ({"is_logged_in": False}, "claims"),
])
def test_a_sign_in_that_does_not_count_is_refused(tmp_path, changed, reason):
    with pytest.raises(SignInRefused) as refused:
        person_from_claims(claims(**changed), oidc_settings(tmp_path), NOW_S)
    assert refused.value.reason == reason


def test_session_length_is_a_setting(tmp_path):
    short = oidc_settings(tmp_path, oidc_session_max_s=120)
    assert person_from_claims(claims(iat=NOW_S - 100), short, NOW_S)
    with pytest.raises(SignInRefused, match="expired"):
        person_from_claims(claims(iat=NOW_S - 121), short, NOW_S)


def test_oidc_needs_a_client_and_its_secret_comes_from_a_file(tmp_path):
    with pytest.raises(ConfigError, match="ORCAI_OIDC_CLIENT_ID"):
        load_settings(oidc_issuer=ISSUER)
    (tmp_path / "secret").write_text("from-a-file\n")
    settings = load_settings(oidc_issuer=ISSUER, oidc_client_id="orcai", oidc_client_secret_file=tmp_path / "secret")
    assert settings.oidc_enabled and settings.oidc_client_secret.get_secret_value() == "from-a-file"
    assert "from-a-file" not in repr(settings) and not load_settings().oidc_enabled
    assert not load_settings(oidc_issuer="", oidc_client_id="").oidc_enabled  # ${ORCAI_OIDC_ISSUER:-} in compose
    (tmp_path / "empty").write_text("\n")  # compose's secret when ORCAI_OIDC_CLIENT_SECRET is left empty
    with pytest.raises(ConfigError, match="ORCAI_OIDC_CLIENT_SECRET"):
        load_settings(oidc_issuer=ISSUER, oidc_client_id="orcai", oidc_client_secret_file=tmp_path / "empty")


def test_streamlit_secrets_are_written_from_the_settings_for_the_owner_only(tmp_path):
    path = write_streamlit_secrets(oidc_settings(tmp_path, oidc_scopes="openid profile groups"))
    auth = tomllib.loads(path.read_text())["auth"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert auth["redirect_uri"] == "https://orcai.example.com/oauth2callback"
    assert auth["server_metadata_url"] == ISSUER + "/.well-known/openid-configuration"
    assert (auth["client_id"], auth["client_secret"]) == ("orcai", "client-s3cret")
    assert auth["client_kwargs"]["scope"] == "openid profile groups"
    cookie = (tmp_path / "oidc_cookie_secret").read_text().strip()
    assert auth["cookie_secret"] == cookie and len(cookie) >= 20
    assert tomllib.loads(write_streamlit_secrets(oidc_settings(tmp_path)).read_text())["auth"]["cookie_secret"] == cookie


def test_failed_logins_are_limited_per_client_not_globally():
    settings = load_settings(admin_password="s3cret")
    clock = [0.0]
    limiter = LoginLimiter(max_failures=3, window_s=300, clock=lambda: clock[0])
    for guess in ("a", "b", "c", "d"):
        assert not limiter.attempt("10.0.0.66", settings, guess)
    assert limiter.wait_s("10.0.0.66") == 300
    assert limiter.wait_s("127.0.0.1") == 0 and limiter.attempt("127.0.0.1", settings, "s3cret")
    clock[0] = 301
    assert limiter.wait_s("10.0.0.66") == 0 and not limiter._failures


def test_the_slack_notice_of_a_manual_undo_names_the_person():
    from orcai.alerts.messages import Links, policy_action_message
    from orcai.policy.actions import manual_action_notice
    olga = Person("sub-olga", "Olga Operator", frozenset({"operator"}))
    paused = {"policy": "pause-etl", "policy_version": 3, "dag_id": "etl_orders"}
    notice = manual_action_notice("undo:k", paused, olga, "unpause", "done", None, NOW_S * 1000)
    message = policy_action_message([notice], Links("https://orcai.example.com", "https://airflow.example.com"))
    [item] = message.items
    assert message.headline == "Olga Operator acted by hand"
    assert item.title == "Unpaused etl_orders" and item.detail == "Olga Operator undid pause-etl's pause"
    assert item.facts[0] == "manual action by Olga Operator · pause by policy pause-etl v3"
