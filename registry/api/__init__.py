"""The native REST API of the registry (`/t/<tenant>/api/v1/models/…`), documented in the OpenAPI schema."""
