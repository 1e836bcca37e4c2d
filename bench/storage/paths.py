"""Transfer paths: how a file gets into Modelgate and back out. One small function pair per path, registered in
PATHS; the benchmark runs every selected path on every backend and size.

To add a path (the resumable upload API, for example), write `upload(target, file, sha256) -> None` (it must leave
the file at `target.artifact_url(name)` readable) and a `download(target, name) -> Response`, or reuse
`proxy_download`, then add `TransferPath("resumable", upload, proxy_download)` to PATHS. Timing and memory are
measured around the calls, so a path only has to move the bytes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .client import Response, get_discard, put_file

ARTIFACTS = "api/2.0/mlflow-artifacts/artifacts"


@dataclass(frozen=True)
class Target:
    """One running Modelgate on one backend: its tenant URL and credentials."""

    backend: str
    base_url: str  # http://127.0.0.1:P/t/<tenant>
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def artifact_url(self, name: str) -> str:
        # Experiment 0 ("Default") of the tenant, a run-like path: the MLflow client's layout.
        return f"{self.base_url}/{ARTIFACTS}/0/bench/artifacts/{name}"


@dataclass(frozen=True)
class TransferPath:
    name: str
    upload: Callable[[Target, Path, str], None]
    download: Callable[[Target, str], Response]


def proxy_upload(target: Target, file: Path, name: str) -> None:
    """The MLflow client's upload: one PUT of the whole file through the artifact proxy."""
    put_file(target.artifact_url(name), file, target.auth)


def proxy_download(target: Target, name: str) -> Response:
    """The MLflow client's download: one GET through the artifact proxy (a presigned redirect is followed)."""
    return get_discard(target.artifact_url(name), target.auth)


PATHS: dict[str, TransferPath] = {
    "proxy": TransferPath("proxy", proxy_upload, proxy_download),
}
