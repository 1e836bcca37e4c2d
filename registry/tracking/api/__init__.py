"""The native tracking API under `/t/<tenant>/api/v1/`: `views`, `serializers`, `urls`."""
