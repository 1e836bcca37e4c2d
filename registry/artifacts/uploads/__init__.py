"""Resumable uploads of one large run artifact: a session (its expected size, optional sha256 and part size), parts
sent in any order and re-sendable, completion by a Celery worker that assembles the parts, verifies the sha256 and
records the artifact exactly like a plain upload, and expiry of abandoned sessions.

Modules: `models` (UploadSession, UploadPart; imported by `registry.models`, so they belong to the registry app),
`staging` (storage I/O of parts and assembly, no database), `selectors`, `services` (writes), `assembly` (what the
worker runs) and `tasks`. Nothing is imported here: `registry.models` imports `models` while apps load."""
