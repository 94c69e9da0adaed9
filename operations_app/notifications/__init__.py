"""Outbound notifications (issue 5): a tenant's endpoints receive a signed JSON POST
when one of its operations reaches a terminal state; deliveries are retried from
persisted schedules and every attempt is recorded. docs/notifications.md."""
