"""The MLflow artifact proxy (`mlflow_artifacts.proto`): upload, download, list and delete under
`/api/2.0/mlflow-artifacts/artifacts/<path>`, mounted under `t/<tenant>/` and unprefixed (tenant from
`X-MLFLOW-WORKSPACE`).

Paths are the tenant's artifact tree: `<experiment number>/<run id>/artifacts/…` and
`<experiment number>/models/<m-id>/artifacts/…` (the first segment names the experiment whose permission applies:
read to download or list, edit to upload or delete). `_registry/<registered model pk>/<version>/…` serves the
immutable snapshot of a READY model version, read-only, with the model's read permission.

A thin view: reads go through `registry.artifacts.selectors`, writes (storage and rows) through
`registry.artifacts.services`. Downloads stream (`registry.artifacts.reading`, never a whole file in memory),
honour one `Range: bytes=…` (206 with `Content-Range`, 416 when unsatisfiable), and with `?verify=1` are hashed
before the first byte is sent (409 `ARTIFACT_CORRUPT` instead of bad bytes). With `ARTIFACT_PRESIGNED_DOWNLOADS`
(S3 only), a whole-file GET is authorised and audited (`artifact.presigned`) the same way and answered with a 302
to a short-lived presigned S3 URL; Range and `?verify=1` requests are still proxied. Uploads are never parsed: the body is streamed from the WSGI input in 1 MiB chunks into storage while hashing
(memory stays flat in the file size), and only then recorded in a short transaction."""

from __future__ import annotations

import posixpath
from datetime import timedelta
from typing import Literal

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import path, re_path
from django.utils import timezone
from django.utils.http import content_disposition_header
from rest_framework.response import Response

from config.errors import ArtifactCorrupt, InvalidParameter, NotFound, PermissionDenied
from config.validation import ascii_digits
from registry import usage
from registry.artifacts import reading, selectors, services, storage
from tenants.api import TenantAPIView

REGISTRY_PREFIX = "_registry"


def _registry_parts(path: str) -> tuple[str, str, str] | None:
    """`_registry/<pk>/<version>/<rel>` → (pk, version, rel); None for other paths."""
    if path != REGISTRY_PREFIX and not path.startswith(REGISTRY_PREFIX + "/"):
        return None
    parts = path.split("/", 3)
    if len(parts) < 3:
        raise NotFound("Model version artifacts not found.")
    return parts[1], parts[2], parts[3] if len(parts) > 3 else ""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | Literal["unsatisfiable"]:
    """One `Range: bytes=…` of RFC 9110 → (first, last) inclusive, for a body of `size` bytes.

    None (serve the whole body, 200) for no header, a malformed one, another unit or several ranges (a server may
    ignore Range; multipart/byteranges is not worth its complexity here); "unsatisfiable" (416) when the range
    starts past the end or asks for an empty suffix."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not (first_text or last_text):
        return None
    if (first_text and not ascii_digits(first_text)) or (last_text and not ascii_digits(last_text)):
        return None
    if not first_text:  # `-n`: the last n bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: ignored, like a malformed header
    if first >= size:
        return "unsatisfiable"
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _download(request, tenant_id: int, sha256: str, size: int, path: str) -> HttpResponseBase:
    """Stream a blob, whole or the requested range. With `?verify=1` the whole blob is first re-read and hashed:
    a body already sent cannot be taken back, so corrupt bytes are refused before the first one goes out."""
    if _wants_verify(request):
        actual = reading.hash_blob(tenant_id, sha256)
        if actual is None:
            raise NotFound("The artifact's content is missing from storage.")
        if actual != (sha256, size):
            raise ArtifactCorrupt(
                f"The stored content of '{path}' no longer matches its sha256 {sha256}: not served.",
                details={
                    "sha256": sha256,
                    "actual_sha256": actual[0],
                    "size": size,
                    "actual_size": actual[1],
                },
            )
    wanted = parse_range(request.headers.get("Range"), size)
    if wanted == "unsatisfiable":
        response: HttpResponseBase = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    if wanted is None:
        first, last = 0, size - 1
        response = StreamingHttpResponse(
            reading.open_range(tenant_id, sha256), content_type=storage.content_type_for(path)
        )
    else:
        first, last = wanted
        response = StreamingHttpResponse(
            reading.open_range(tenant_id, sha256, first, last),
            status=206,
            content_type=storage.content_type_for(path),
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(last - first + 1 if size else 0)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(True, posixpath.basename(path))
    response["X-Content-SHA256"] = sha256
    return response


def _wants_verify(request) -> bool:
    return request.query_params.get("verify") in ("1", "true", "yes")


def _presigns(request) -> bool:
    """Whether this download is answered with a presigned URL. Range and `?verify=1` stay proxied: a presigned URL
    of the whole object knows nothing of the range the client asked this server for (and the MLflow client's
    retries would re-send it here anyway), and a verified download must be hashed before its first byte goes out,
    which only the proxy can do."""
    return (
        settings.ARTIFACT_PRESIGNED_DOWNLOADS
        and storage.is_s3(storage.backend())
        and not request.headers.get("Range")
        and not _wants_verify(request)
    )


def _presigned_redirect(*, principal, path: str, sha256: str, size: int, version=None):
    """Audit the hand-out, then sign (after the commit: no unaudited URL) and redirect to the presigned GET."""
    ttl = int(settings.ARTIFACT_PRESIGNED_TTL_SECONDS)
    expires_at = timezone.now() + timedelta(seconds=ttl)
    services.artifact_presign_record(
        principal=principal, path=path, sha256=sha256, size=size, expires_at=expires_at, version=version
    )
    url = reading.presigned_url(
        principal.tenant.pk,
        sha256,
        filename=posixpath.basename(path),
        content_type=storage.content_type_for(path),
        ttl=ttl,
    )
    if url is None:  # _presigns() checked the backend is S3: only a reconfiguration mid-request gets here
        raise RuntimeError("the artifact storage cannot presign URLs")
    response = HttpResponseRedirect(url)
    # The URL is a bearer credential until it expires: no shared cache may keep it.
    response["Cache-Control"] = "no-store"
    response["X-Content-SHA256"] = sha256
    return response


def _body_reader(request):
    """The raw request body, as a `read(n)` callable that never buffers the whole body.

    Django reads a body without Content-Length as empty, so a chunked upload would silently store an empty file.
    Servers that decode chunked bodies and mark the stream terminated (gunicorn sets `wsgi.input_terminated`, as
    the WSGI amendment says) are read to EOF; anything else must send Content-Length."""
    meta = request._request.META
    if meta.get("CONTENT_LENGTH"):
        return request._request.read
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        if meta.get("wsgi.input_terminated"):
            return meta["wsgi.input"].read

        def refuse(size: int) -> bytes:
            # Raised on the first read, i.e. after the permission and quota checks, which answer first.
            raise InvalidParameter(
                "Chunked uploads are not supported by this server: send a Content-Length header."
            )

        return refuse
    return request._request.read


class ArtifactView(TenantAPIView):
    """GET (download), PUT (upload), DELETE one artifact path."""

    parser_classes: list = []  # the body is the file: never parsed, streamed by `put`
    schema = None

    def get(self, request, artifact_path: str, tenant: str | None = None):
        path = storage.validate_artifact_path(artifact_path)
        registry = _registry_parts(path)
        if registry is not None:
            version = selectors.registry_version_for_artifacts(self.principal, registry[0], registry[1])
            file = selectors.registry_file(version, registry[2]) if registry[2] else None
            if file is None:
                raise NotFound(f"No artifact at '{path}'.")
            if _presigns(request):
                return _presigned_redirect(
                    principal=self.principal,
                    path=path,
                    sha256=file.sha256,
                    size=file.size,
                    version=version,
                )
            return _download(request, version.model.tenant_id, file.sha256, file.size, path)
        selectors.artifact_experiment(self.principal, path, "read")
        entry = selectors.artifact_entry(self.principal, path)
        if entry is None:
            raise NotFound(f"No artifact at '{path}'.")
        if _presigns(request):
            return _presigned_redirect(
                principal=self.principal, path=path, sha256=entry.sha256, size=entry.size
            )
        return _download(request, self.principal.tenant.pk, entry.sha256, entry.size, path)

    def put(self, request, artifact_path: str, tenant: str | None = None):
        path = storage.validate_artifact_path(artifact_path)
        if _registry_parts(path) is not None:
            raise PermissionDenied("Registered model version artifacts are immutable.")
        declared = request.META.get("CONTENT_LENGTH")
        services.artifact_upload(
            principal=self.principal,
            path=path,
            read=_body_reader(request),
            declared_size=int(declared) if declared and declared.isdigit() else None,
        )
        return Response({})

    def delete(self, request, artifact_path: str, tenant: str | None = None):
        path = storage.validate_artifact_path(artifact_path)
        if _registry_parts(path) is not None:
            raise PermissionDenied("Registered model version artifacts are immutable.")
        services.artifact_delete(principal=self.principal, path=path)
        return Response({})


class ArtifactListView(TenantAPIView):
    """GET `?path=<dir>` → `{"files": [{"path", "is_dir", "file_size"?}]}`; `{}` for a missing dir or a file."""

    schema = None

    def get(self, request, tenant: str | None = None):
        raw = request.query_params.get("path", "")
        path = storage.validate_artifact_path(raw, allow_empty=True)
        if not path:
            return Response({})  # the tenant's root spans experiments the caller may not read: list nothing
        registry = _registry_parts(path)
        if registry is not None:
            version = selectors.registry_version_for_artifacts(self.principal, registry[0], registry[1])
            files = selectors.registry_list(version, registry[2])
            if not registry[2].strip("/"):
                # A client fetching a version lists its root once, then GETs each file: count the listing, so
                # one download of an N-file model counts once (provenance's "who downloaded it").
                usage.record_use(self.principal, version, "download")
        else:
            selectors.artifact_experiment(self.principal, path, "read")
            files = selectors.artifact_list(self.principal, path)
        return Response({"files": files} if files else {})


urlpatterns = [
    path("api/2.0/mlflow-artifacts/artifacts", ArtifactListView.as_view()),
    re_path(r"^api/2\.0/mlflow-artifacts/artifacts/(?P<artifact_path>.+)$", ArtifactView.as_view()),
]
