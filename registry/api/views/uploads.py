"""The native API for resumable uploads of run artifacts (registry/artifacts/uploads): open a session, PUT parts in
any order (re-sending one replaces it), GET the session to see which parts are stored, complete (a worker
assembles, verifies the sha256 and records the artifact; poll the session), or DELETE to abort.

Access is the artifact path's: edit on the run's experiment to open, send, complete or abort; read to look."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from config.errors import InvalidParameter
from config.openapi import CONFLICT, ErrorOutput, errors
from registry.artifacts.uploads import selectors, services
from registry.artifacts.uploads.models import UploadSession
from tenants.api import TenantAPIView

TAG = "artifacts"
QUOTA = {
    403: OpenApiResponse(ErrorOutput, description="PERMISSION_DENIED, or QUOTA_EXCEEDED (size over quota)")
}


class UploadCreateInput(serializers.Serializer):
    run_id = serializers.CharField(max_length=32)
    path = serializers.CharField(max_length=1024, help_text="The file's path inside the run's artifacts.")
    size = serializers.IntegerField(min_value=1, help_text="The file's total size in bytes.")
    sha256 = serializers.CharField(
        required=False, allow_null=True, help_text="Expected SHA-256 (hex); a mismatch fails the upload."
    )
    part_size = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Bytes per part (5 MiB to 5 GiB); the server picks one if absent.",
    )


class PartOutput(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class UploadSessionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    run_id = serializers.CharField(source="run.run_id")
    path = serializers.SerializerMethodField(help_text="Inside the run's artifacts.")
    artifact_path = serializers.CharField(source="path", help_text="The tenant artifact path (MLflow's).")
    size = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="The expected SHA-256 ('' if none was given).")
    part_size = serializers.IntegerField()
    part_count = serializers.IntegerField()
    status = serializers.CharField(help_text="open, completing, completed, failed, aborted or expired")
    error_code = serializers.CharField(help_text="Why it failed: CHECKSUM_MISMATCH, QUOTA_EXCEEDED, …")
    error_message = serializers.CharField()
    result_sha256 = serializers.CharField(help_text="The SHA-256 of the recorded artifact, once completed.")
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    parts = serializers.SerializerMethodField()
    missing_parts = serializers.SerializerMethodField()

    def get_path(self, session: UploadSession) -> str:
        prefix = f"{session.experiment.number}/{session.run.run_id}/artifacts/"
        return session.path.removeprefix(prefix)

    def get_parts(self, session: UploadSession) -> list[dict]:
        return PartOutput(selectors.stored_parts(session), many=True).data  # type: ignore[return-value]

    def get_missing_parts(self, session: UploadSession) -> list[int]:
        return selectors.missing_parts(session)


def _session_response(session_id, status_code: int = 200) -> Response:
    session = UploadSession.objects.select_related("run", "experiment").get(pk=session_id)
    return Response(UploadSessionOutput(session).data, status=status_code)


class UploadListView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="uploads_create",
        request=UploadCreateInput,
        responses={201: UploadSessionOutput, **errors(QUOTA)},
        description="Open a resumable upload session for a file in a run's artifacts (edit on its experiment). "
        "A size over what the tenant's storage quota leaves is refused at once (403 QUOTA_EXCEEDED).",
    )
    def post(self, request, tenant: str):
        serializer = UploadCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        session = services.upload_session_open(
            principal=self.principal,
            run_id=data["run_id"],
            path=data["path"],
            size=data["size"],
            sha256=data.get("sha256") or None,
            part_size=data.get("part_size"),
        )
        return _session_response(session.pk, 201)


class UploadDetailView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="uploads_get",
        responses={200: UploadSessionOutput, **errors()},
        description="The session: its status, the parts stored so far and those missing (to resume).",
    )
    def get(self, request, tenant: str, session_id: str):
        session = selectors.upload_session_for(self.principal, session_id, "read")
        return _session_response(session.pk)

    @extend_schema(
        tags=[TAG],
        operation_id="uploads_abort",
        responses={200: UploadSessionOutput, **errors(CONFLICT)},
        description="Abort the upload: its parts are removed. 409 while it is completing or once completed.",
    )
    def delete(self, request, tenant: str, session_id: str):
        session = services.upload_abort(principal=self.principal, session_id=session_id)
        return _session_response(session.pk)


class UploadPartView(TenantAPIView):
    parser_classes: list = []  # the body is the part's bytes: streamed, never parsed

    @extend_schema(
        tags=[TAG],
        operation_id="uploads_part_put",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={200: PartOutput, **errors(CONFLICT)},
        description="Store part `number` (1-based; `part_size` bytes, the last one the rest; Content-Length "
        "required). Any order; re-sending a part replaces it. A body cut short stores nothing.",
    )
    def put(self, request, tenant: str, session_id: str, number: int):
        declared = request.META.get("CONTENT_LENGTH")
        if declared is not None and not str(declared).isdigit():
            raise InvalidParameter("Content-Length must be a number.")
        part = services.upload_part_put(
            principal=self.principal,
            session_id=session_id,
            number=number,
            # Django's request stream stops at Content-Length: read in chunks, never the whole body at once.
            read=request._request.read,
            declared_size=int(declared) if declared else None,
        )
        return Response(PartOutput(part).data)


class UploadCompleteView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="uploads_complete",
        request=None,
        responses={202: UploadSessionOutput, **errors(CONFLICT)},
        description="Every part stored: a worker assembles them, verifies the SHA-256 and records the artifact. "
        "Poll the session until `completed` or `failed`. 409 with `details.missing_parts` if parts are missing.",
    )
    def post(self, request, tenant: str, session_id: str):
        session = services.upload_complete(principal=self.principal, session_id=session_id)
        return _session_response(session.pk, 202)
