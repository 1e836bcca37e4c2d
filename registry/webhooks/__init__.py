"""Signed webhooks: subscriptions, an outbox of deliveries written in the transaction of the change, delivery by a
Celery worker with retries and backoff, a per-attempt log, and replay. See the README's "Webhooks" section."""
