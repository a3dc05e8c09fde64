"""The one module that talks to Airflow: its REST API (/api/v2) via apache-airflow-client.

Auth: a JWT from `POST /auth/token` (username/password), refreshed shortly before it
expires and once more on a 401; or a token given in settings. Every request has a
timeout. Failures become AirflowUnreachable / AirflowAuthError / AirflowResponseError,
with a message that names the URL and what to check, never a credential.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from datetime import datetime
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

import pydantic
import urllib3
from airflow_client.client import ApiClient, Configuration
from airflow_client.client.api import AssetApi, DAGApi, DagRunApi, DagVersionApi, PoolApi, TaskApi, TaskInstanceApi
from airflow_client.client.exceptions import ApiException
from airflow_client.client.models import DAGPatchBody, PoolPatchBody

from orcai.airflow.rate import RequestRate, retry_after_s
from orcai.config import Settings
from orcai.errors import AirflowAuthError, AirflowResponseError, AirflowUnreachable

log = logging.getLogger(__name__)

T = TypeVar("T")
TOKEN_REFRESH_MARGIN_S = 60
# A 429/503 asking for a pause this short is waited out and the request retried once;
# a longer one ends this sync (the next cycle retries, after the pause).
RETRY_AFTER_WAIT_MAX_S = 10.0
_NETWORK_ERRORS = (urllib3.exceptions.HTTPError, OSError)


class AirflowClient:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._base_url = settings.airflow_url
        self._lock = threading.Lock()
        self._api_client: ApiClient | None = None  # built lazily: no network in __init__
        self._token_expires_at = 0.0
        self.requests_made = 0  # counted for sync reports and benchmarks
        self.rate = RequestRate(settings.airflow_max_rps)  # ORCAI_AIRFLOW_MAX_RPS, shared by all threads

    # --- auth --------------------------------------------------------------------------

    def _client(self) -> ApiClient:
        with self._lock:
            if self._api_client is None:
                config = Configuration(host=self._base_url)
                config.retries = 1
                self._api_client = ApiClient(config)
            if time.time() > self._token_expires_at - TOKEN_REFRESH_MARGIN_S:
                token, expires_at = self._obtain_token()
                self._api_client.configuration.access_token = token
                self._token_expires_at = expires_at
            return self._api_client

    def _obtain_token(self) -> tuple[str, float]:
        given = self._settings.airflow_token
        if given is not None:
            token = given.get_secret_value()
            return token, _jwt_expiry(token) or float("inf")
        password = self._settings.airflow_password
        if password is None:
            raise AirflowAuthError(
                "no Airflow credentials: set ORCAI_AIRFLOW_PASSWORD, ORCAI_AIRFLOW_PASSWORD_FILE or ORCAI_AIRFLOW_TOKEN")
        body = {"username": self._settings.airflow_username, "password": password.get_secret_value()}
        url = f"{self._base_url}/auth/token"
        try:
            response = urllib3.request("POST", url, json=body, timeout=self._settings.airflow_timeout_s,
                                       retries=False)
        except _NETWORK_ERRORS as exc:
            raise AirflowUnreachable(f"Airflow at {self._base_url} is unreachable ({_reason(exc)})") from None
        self.requests_made += 1
        if response.status in (401, 403):
            raise AirflowAuthError(f"Airflow at {self._base_url} rejected user "
                                   f"{self._settings.airflow_username!r}: check ORCAI_AIRFLOW_PASSWORD")
        if response.status not in (200, 201):
            raise AirflowResponseError(f"POST {url} answered HTTP {response.status}")
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise AirflowResponseError(f"POST {url} returned no access_token") from None
        return token, _jwt_expiry(token) or time.time() + 3600

    # --- calls -------------------------------------------------------------------------

    def _call(self, what: str, request: Callable[[ApiClient], T]) -> T:
        """Run one API request within the rate budget; on a 401 refresh the token once and
        try again; on a 429/503 with a short Retry-After wait it out and try once more."""
        retried_auth = retried_busy = False
        while True:
            client = self._client()
            try:
                self.rate.acquire()
                self.requests_made += 1
                return request(client)
            except ApiException as exc:
                if exc.status == 401 and not retried_auth and self._settings.airflow_token is None:
                    retried_auth = True
                    self._token_expires_at = 0.0  # force a new token
                    continue
                wait = retry_after_s(exc.headers) if exc.status in (429, 503) else None
                if wait is not None:
                    self.rate.pause(wait)  # nobody asks again before the server said we may
                    if wait <= RETRY_AFTER_WAIT_MAX_S and not retried_busy:
                        retried_busy = True
                        log.info("%s: Airflow asked to retry after %.0f s (HTTP %d): waiting", what, wait, exc.status)
                        continue
                raise _api_error(what, exc, self._base_url) from None
            except pydantic.ValidationError as exc:
                where = ".".join(map(str, exc.errors()[0]["loc"])) or "the response is not the expected JSON"
                raise AirflowResponseError(
                    f"{what}: Airflow returned a malformed payload ({exc.error_count()} invalid fields, "
                    f"first: {where})") from None
            except (ValueError, json.JSONDecodeError) as exc:
                raise AirflowResponseError(f"{what}: Airflow returned invalid JSON ({exc})") from None
            except _NETWORK_ERRORS as exc:
                raise AirflowUnreachable(f"Airflow at {self._base_url} is unreachable during {what} ({_reason(exc)})") from None

    def _paginate(self, what: str, fetch_page: Callable[[ApiClient, int, int], object],
                  items_field: str) -> Iterator:
        """Yield every item of a paginated list, by offset, until total_entries is reached.

        The server may cap `limit` at its `maximum_page_limit`, so the offset advances by
        what actually arrived, not by what was asked for.
        """
        offset, limit = 0, self._settings.page_size
        while True:
            page = self._call(what, lambda client: fetch_page(client, offset, limit))
            items = getattr(page, items_field) or []
            yield from items
            offset += len(items)
            if not items or offset >= (page.total_entries or 0):
                return

    def list_dags(self) -> list:
        timeout = self._settings.airflow_timeout_s
        return list(self._paginate("GET /dags", lambda c, offset, limit: DAGApi(c).get_dags(
            limit=limit, offset=offset, order_by=["dag_id"], _request_timeout=timeout), "dags"))

    def list_tasks(self, dag_id: str) -> list:
        page = self._call(f"GET /dags/{dag_id}/tasks", lambda c: TaskApi(c).get_tasks(
            dag_id, _request_timeout=self._settings.airflow_timeout_s))
        return list(page.tasks or [])

    def list_dag_runs(self, dag_id: str, updated_since: datetime | None) -> list:
        timeout = self._settings.airflow_timeout_s
        return list(self._paginate(
            f"GET /dags/{dag_id}/dagRuns",
            lambda c, offset, limit: DagRunApi(c).get_dag_runs(
                dag_id, limit=limit, offset=offset, updated_at_gte=updated_since,
                order_by=["id"], _request_timeout=timeout),
            "dag_runs"))

    def list_task_instances(self, dag_id: str, updated_since: datetime | None) -> list:
        timeout = self._settings.airflow_timeout_s
        return list(self._paginate(
            f"GET /dags/{dag_id}/dagRuns/~/taskInstances",
            lambda c, offset, limit: TaskInstanceApi(c).get_task_instances(
                dag_id, "~", limit=limit, offset=offset, updated_at_gte=updated_since,
                order_by=["id"], _request_timeout=timeout),
            "task_instances"))

    def list_assets(self) -> list:
        timeout = self._settings.airflow_timeout_s
        return list(self._paginate("GET /assets", lambda c, offset, limit: AssetApi(c).get_assets(
            limit=limit, offset=offset, order_by=["id"], _request_timeout=timeout), "assets"))

    # --- all DAGs at once: the incremental stream (GET /dags/~/...) --------------------

    def dag_runs_page(self, updated_since: datetime, cursor: str = "") -> "Page":
        """One page of the runs of every DAG updated since `updated_since`, oldest id first.
        Keyset pagination: pass `Page.next_cursor` for the next page ("" for the first)."""
        timeout = self._settings.airflow_timeout_s
        page = self._call("GET /dags/~/dagRuns", lambda c: DagRunApi(c).get_dag_runs(
            "~", cursor=cursor, limit=self._settings.page_size, updated_at_gte=updated_since,
            order_by=["id"], _request_timeout=timeout))
        return Page(list(page.dag_runs or []), page.next_cursor, page.total_entries, page.total_entries_limit)

    def task_instances_page(self, updated_since: datetime, cursor: str = "") -> "Page":
        """One page of the task instances of every DAG and run updated since `updated_since`,
        in id order (ids are time-ordered UUIDs); keyset pagination as in `dag_runs_page`."""
        timeout = self._settings.airflow_timeout_s
        page = self._call("GET /dags/~/dagRuns/~/taskInstances", lambda c: TaskInstanceApi(c).get_task_instances(
            "~", "~", cursor=cursor, limit=self._settings.page_size, updated_at_gte=updated_since,
            order_by=["id"], _request_timeout=timeout))
        return Page(list(page.task_instances or []), page.next_cursor, page.total_entries,
                    page.total_entries_limit)

    def dag_versions_after(self, version_id: str | None) -> list:
        """DAG versions newer than `version_id` (all DAGs, newest first). Version ids are
        time-ordered UUIDs; without `version_id`, only the newest page (to learn where we are)."""
        timeout = self._settings.airflow_timeout_s
        newer, offset = [], 0
        while True:
            page = self._call("GET /dags/~/dagVersions", lambda c: DagVersionApi(c).get_dag_versions(
                "~", limit=self._settings.page_size, offset=offset, order_by=["-id"], _request_timeout=timeout))
            items = list(page.dag_versions or [])
            fresh = [v for v in items if version_id is None or str(v.id) > version_id]
            newer += fresh
            offset += len(items)
            if version_id is None or len(fresh) < len(items) or not items or offset >= (page.total_entries or 0):
                return newer

    def set_paused(self, dag_id: str, paused: bool):
        return self._call(f"PATCH /dags/{dag_id}", lambda c: DAGApi(c).patch_dag(
            dag_id, DAGPatchBody(is_paused=paused), _request_timeout=self._settings.airflow_timeout_s))

    def get_dag(self, dag_id: str):
        """One DAG as Airflow sees it now (e.g. to confirm `is_paused` after a change)."""
        return self._call(f"GET /dags/{dag_id}", lambda c: DAGApi(c).get_dag(
            dag_id, _request_timeout=self._settings.airflow_timeout_s))

    def get_pool(self, name: str):
        """One pool as Airflow sees it now (slots, occupied, queued...)."""
        return self._call(f"GET /pools/{name}", lambda c: PoolApi(c).get_pool(
            name, _request_timeout=self._settings.airflow_timeout_s))

    def list_pools(self) -> list:
        """Every pool with its slots and what occupies them (running, queued, scheduled)."""
        timeout = self._settings.airflow_timeout_s
        return list(self._paginate("GET /pools", lambda c, offset, limit: PoolApi(c).get_pools(
            limit=limit, offset=offset, order_by=["id"], _request_timeout=timeout), "pools"))

    def waiting_in_pool(self, pool: str, limit: int = 100) -> list:
        """Task instances scheduled but not yet queued in `pool`: those waiting for its slots."""
        page = self._call(f"GET /dags/~/dagRuns/~/taskInstances?pool={pool}", lambda c: TaskInstanceApi(
            c).get_task_instances("~", "~", pool=[pool], state=["scheduled"], limit=limit,
                                  _request_timeout=self._settings.airflow_timeout_s))
        return list(page.task_instances or [])

    def set_pool_slots(self, name: str, slots: int):
        """PATCH /pools/{name} changing only its slots (update_mask). Airflow 3.3 validates the
        body as a whole pool (name, slots, include_deferred), so the current values go along."""
        current = self.get_pool(name)
        body = PoolPatchBody(pool=name, slots=slots, include_deferred=bool(current.include_deferred),
                             description=current.description)
        return self._call(f"PATCH /pools/{name}", lambda c: PoolApi(c).patch_pool(
            name, body, update_mask=["slots"], _request_timeout=self._settings.airflow_timeout_s))

    def trigger_dag_run(self, dag_id: str, conf: dict | None = None):
        from airflow_client.client.models import TriggerDAGRunPostBody
        return self._call(f"POST /dags/{dag_id}/dagRuns", lambda c: DagRunApi(c).trigger_dag_run(
            dag_id, TriggerDAGRunPostBody(logical_date=None, conf=conf),
            _request_timeout=self._settings.airflow_timeout_s))

    def get_dag_run(self, dag_id: str, run_id: str):
        return self._call(f"GET /dags/{dag_id}/dagRuns/{run_id}", lambda c: DagRunApi(c).get_dag_run(
            dag_id, run_id, _request_timeout=self._settings.airflow_timeout_s))

    def get_task_instance(self, dag_id: str, run_id: str, task_id: str):
        """One (unmapped) task instance as Airflow sees it now: state, try_number, dates."""
        return self._call(f"GET /dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}",
                          lambda c: TaskInstanceApi(c).get_task_instance(
                              dag_id, run_id, task_id, _request_timeout=self._settings.airflow_timeout_s))

    def clear_task_instances(self, dag_id: str, run_id: str, task_ids: list[str], dry_run: bool) -> list:
        """Clear (retry) the given task instances of one run whatever their state; with
        `dry_run` Airflow only lists what it would clear. Returns the task instances."""
        from airflow_client.client.models import ClearTaskInstancesBody, ClearTaskInstancesBodyTaskIdsInner
        body = ClearTaskInstancesBody(dag_run_id=run_id, task_ids=[ClearTaskInstancesBodyTaskIdsInner(t) for t in task_ids],
                                      only_failed=False, dry_run=dry_run)
        page = self._call(f"POST /dags/{dag_id}/clearTaskInstances", lambda c: TaskInstanceApi(c).post_clear_task_instances(
            dag_id, body, _request_timeout=self._settings.airflow_timeout_s))
        return list(page.task_instances or [])

    def set_dag_run_state(self, dag_id: str, run_id: str, state: str):
        """Mark a DAG run success, failed or queued (PATCH dagRuns/{run_id})."""
        from airflow_client.client.models import DAGRunPatchBody, DagRunMutableStates
        return self._call(f"PATCH /dags/{dag_id}/dagRuns/{run_id}", lambda c: DagRunApi(c).patch_dag_run(
            dag_id, run_id, DAGRunPatchBody(state=DagRunMutableStates(state)), update_mask=["state"],
            _request_timeout=self._settings.airflow_timeout_s))

    def close(self) -> None:
        if self._api_client is not None:
            self._api_client.rest_client.pool_manager.clear()  # the client has no close()
            self._api_client = None


@dataclass(frozen=True)
class Page:
    """One page of a keyset-paginated list: its items and where the next page starts."""
    items: list
    next_cursor: str | None  # None: this was the last page
    total_entries: int | None = None  # exact below total_entries_limit, capped at it otherwise
    total_entries_limit: int | None = None


def _api_error(what: str, exc: ApiException, base_url: str) -> Exception:
    if exc.status in (401, 403):
        return AirflowAuthError(f"{what}: Airflow at {base_url} answered HTTP {exc.status}: "
                                "check ORCAI_AIRFLOW_USERNAME / ORCAI_AIRFLOW_PASSWORD / ORCAI_AIRFLOW_TOKEN")
    if exc.status == 429:  # a sync that carries on would only hammer a server asking for less
        wait = (exc.headers or {}).get("Retry-After")
        return AirflowUnreachable(f"{what}: Airflow at {base_url} is rate limiting ORC AI (HTTP 429"
                                  f"{f', retry after {wait} s' if wait else ''}); the next cycle retries")
    if exc.status in (502, 503, 504):
        return AirflowUnreachable(f"{what}: Airflow at {base_url} answered HTTP {exc.status} (not ready?)")
    return AirflowResponseError(f"{what}: Airflow answered HTTP {exc.status} {exc.reason or ''}".rstrip())


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = type(reason).__name__
    return "connection refused" if "Refused" in str(reason) or "refused" in str(reason) else text


def _jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (not verified: only used to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
