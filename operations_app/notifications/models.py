"""Outbound notifications (issue 5): a tenant's HTTPS endpoints, and one delivery per
endpoint and terminal operation, with every attempt. Imported by
operations_app.models, so they belong to the operations_app label."""

from __future__ import annotations

import uuid

from django.db import models


class NotificationEndpoint(models.Model):
    """An https URL of a tenant that receives a signed POST when one of its
    operations ends. ``secret_sealed`` is the signing secret encrypted with a key
    derived from SECRET_KEY (signing.py): it must be read back to sign."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        "assets_app.Tenant", on_delete=models.CASCADE, related_name="+"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    secret_sealed = models.TextField()
    secret_prefix = models.CharField(max_length=16, help_text="to recognise it")
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at", "-id"])]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"  # an attempt is due or in flight
    SUCCEEDED = "SUCCEEDED"  # a 2xx answer
    FAILED = "FAILED"  # gave up after RAGDESK_NOTIFY_MAX_ATTEMPTS


class NotificationDelivery(models.Model):
    """One event for one endpoint. ``body`` is the exact JSON sent (frozen at the
    transition, so every attempt sends the same bytes and signature input);
    ``event_id`` is shared by the deliveries of one event to several endpoints."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        "assets_app.Tenant", on_delete=models.CASCADE, related_name="+"
    )
    endpoint = models.ForeignKey(
        NotificationEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    operation = models.ForeignKey(
        "operations_app.Operation", null=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=40)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0, help_text="attempts started")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-created_at", "-id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="unique_delivery_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id}"


class NotificationAttempt(models.Model):
    """One POST of a delivery: when, the answer's status code (None: no answer),
    the error (empty on a 2xx), and how long it took (ms)."""

    delivery = models.ForeignKey(
        NotificationDelivery, on_delete=models.CASCADE, related_name="attempt_rows"
    )
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="unique_attempt_number"
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
