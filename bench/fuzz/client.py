"""The fuzzer's HTTP side: what it sends, what it counts, and the promise it checks on every response."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from fuzz.values import FRONT_SERVER_STATUSES


@dataclass
class Fixtures:
    experiment_id: str = ""
    experiment_name: str = ""
    run_id: str = ""
    logged_model_id: str = ""
    model_name: str = ""
    version: str = "1"


@dataclass
class Failure:
    method: str
    url: str
    what: str
    status: int
    body: str


@dataclass
class Fuzzer:
    base: str
    tenant: str
    token: str
    max_requests: int
    deadline: float
    rng: random.Random
    session: requests.Session = field(default_factory=requests.Session)
    sent: int = 0
    failures: list[Failure] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    front_server: int = 0
    baseline_refused: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        return f"{self.base}/t/{self.tenant}"

    def exhausted(self) -> bool:
        return self.sent >= self.max_requests or time.monotonic() > self.deadline

    def send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: bytes | None = None,
        query: str = "",
        headers: dict[str, str] | None = None,
        prefix: bool = True,
    ) -> requests.Response | None:
        if self.exhausted():
            return None
        url = (self.root if prefix else self.base) + "/" + path + (f"?{query}" if query else "")
        all_headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        self.sent += 1
        try:
            response = self.session.request(method, url, data=body, headers=all_headers, timeout=60)
        except requests.RequestException as exc:
            self.failures.append(Failure(method, url, what, 0, f"connection failed: {exc}"))
            return None
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        self.check(method, url, what, body, response)
        return response

    def check(
        self, method: str, url: str, what: str, body: bytes | None, response: requests.Response
    ) -> None:
        status = response.status_code
        if status in FRONT_SERVER_STATUSES and response.headers.get("Content-Type", "").startswith(
            "text/html"
        ):
            # gunicorn's own refusal (request line over 4094 bytes, a control character in a header): the
            # request never reached Modelgate, so there is no error code to give. Counted, not failed.
            self.front_server += 1
            return
        problem = ""
        if status >= 500:
            problem = "5xx"
        elif status >= 400:
            try:
                payload = response.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict) or not isinstance(payload.get("error_code"), str):
                problem = "4xx without a JSON error_code"
        if problem:
            shown = body[:300].decode("utf-8", "replace") if body else ""
            self.failures.append(
                Failure(method, url[:300], f"{problem}: {what} body={shown!r}", status, response.text[:300])
            )

    # --- JSON helpers -------------------------------------------------------------------------------------------

    def call(
        self, method: str, api_path: str, params: dict[str, Any], *, what: str, version: str = "2.0"
    ) -> requests.Response | None:
        """One MLflow call: query string for GET, JSON body otherwise (as the MLflow client does)."""
        path = f"api/{version}/{api_path}"
        if method == "GET":
            return self.send(method, path, what=what, query=_query(params))
        return self.send(method, path, what=what, body=_dumps(params))


def _dumps(value: Any) -> bytes:
    # allow_nan: MLflow's client sends NaN literals; lone surrogates are escaped (\ud800), which is what a buggy
    # client would send.
    return json.dumps(value, allow_nan=True).encode()


def _query(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is None:
                continue
            text = item if isinstance(item, str) else json.dumps(item, allow_nan=True)
            parts.append(f"{quote(key)}={quote(text.encode('utf-8', 'surrogatepass'))}")
    return "&".join(parts)
