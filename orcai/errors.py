"""ORC AI's exceptions: a small tree, each saying what went wrong and what to check.

    OrcaiError
    ├── ConfigError            a setting is invalid (names the ORCAI_* variable)
    ├── AirflowError           talking to Airflow's REST API failed
    │   ├── AirflowUnreachable     connection refused, DNS, timeout
    │   ├── AirflowAuthError       401/403: wrong credentials or expired token
    │   └── AirflowResponseError   unexpected status or a malformed payload
    ├── GraphError             talking to the graph database failed
    │   ├── GraphUnavailable       server down or unreachable
    │   └── GraphQueryError        the server rejected a query
    ├── PrometheusError        a PromQL query for a resource fact failed
    │   └── PrometheusUnreachable  connection refused, DNS, timeout
    ├── SlackError             a Slack message was not delivered; `reason` says why
    │                          (rate_limited, server_error, auth, network, rejected)
    ├── PolicyError            a policy cannot be saved or run
    │   ├── PolicyInvalid          it fails validation; `problems` lists each reason
    │   ├── PolicyConflict         it changed since it was read (another admin, the worker)
    │   └── ConditionRuntimeError  a valid condition failed on real facts (e.g. division by zero)
    │       └── ConditionTimeout       an evaluation ran past its time budget and was stopped
    └── AccessError            who is asking may not see or do this
        ├── SignInRefused          a sign-in that does not count (another issuer, an expired
        │                          session, no group that maps to a role); `reason` says which
        └── PermissionDenied       the person's role does not allow this write; names the role

Messages never contain secrets: they are built from URLs, statuses and setting names.
"""


class OrcaiError(Exception):
    """Base of every error ORC AI raises on purpose."""


class ConfigError(OrcaiError):
    pass


class AirflowError(OrcaiError):
    pass


class AirflowUnreachable(AirflowError):
    pass


class AirflowAuthError(AirflowError):
    pass


class AirflowResponseError(AirflowError):
    pass


class GraphError(OrcaiError):
    pass


class GraphUnavailable(GraphError):
    pass


class GraphQueryError(GraphError):
    pass


class PrometheusError(OrcaiError):
    """A PromQL query failed (bad query, HTTP error, unexpected answer)."""


class PrometheusUnreachable(PrometheusError):
    """Prometheus did not answer (down, wrong ORCAI_PROMETHEUS_URL, timeout)."""


class SlackError(OrcaiError):
    """A Slack send failed. `reason` classifies it; `retry_after_s` is Slack's Retry-After."""

    def __init__(self, reason: str, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class PolicyError(OrcaiError):
    pass


class PolicyInvalid(PolicyError, ValueError):
    """A policy that cannot be saved; `problems` lists each reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class PolicyConflict(PolicyError):
    """The policy changed since it was read (another admin or the worker saved it)."""


class ConditionRuntimeError(PolicyError):
    """A valid condition failed on real facts (e.g. a division by zero)."""


class ConditionTimeout(ConditionRuntimeError):
    """An evaluation ran past its time budget; the evaluator process was killed."""


class AccessError(OrcaiError):
    pass


class SignInRefused(AccessError):
    """A sign-in that does not count; `reason` is issuer, expired, no_role or claims."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class PermissionDenied(AccessError):
    """The person's role does not allow this write; `needed` is the role it takes."""

    def __init__(self, person_name: str, permission: str, needed: str):
        super().__init__(f"{person_name} may not {permission.replace('_', ' ')}: that takes the {needed} role")
        self.permission = permission
        self.needed = needed
