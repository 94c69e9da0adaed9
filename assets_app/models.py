"""Tenants, members, assets (data sources), their documents and chunks, model prices."""

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MinValueValidator
from django.db import models
from pgvector.django import VectorField


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    VIEWER = "VIEWER", "Viewer"
    EDITOR = "EDITOR", "Editor"
    ADMIN = "ADMIN", "Admin"


ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class ModelPrice(models.Model):
    """An embedding model and its price in USD per 1,000,000 billed tokens."""

    provider = models.CharField(max_length=50)
    model = models.CharField(max_length=100)
    dimensions = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    max_input_tokens = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    price_per_million_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, validators=[MinValueValidator(0)]
    )  # USD; up to 999,999.999999
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model"], name="unique_model_price"),
            # The validators' rules, also for writes that skip them (a negative price
            # would make costs negative; 0 dimensions no vector column).
            models.CheckConstraint(
                condition=models.Q(price_per_million_tokens__gte=0),
                name="model_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(dimensions__gte=1, max_input_tokens__gte=1),
                name="model_price_dimensions_and_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


class SourceType(models.TextChoices):
    UPLOAD = "upload", "Uploaded files"
    FOLDER = "folder", "Server folder"
    WEB = "web", "Web pages"
    GIT = "git", "Git repository"


class Asset(models.Model):
    """A data source. ``source_parameters`` depend on the source type:
    upload → ``{}`` (files live in UploadedFile); folder → ``{"path", "glob"}``; web and
    git → see ``assets_app.sources.descriptors``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="assets")
    display_name = models.CharField(max_length=200)
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    source_parameters = models.JSONField(default=dict, blank=True)
    vectorized = models.BooleanField(default=True)
    embedding_provider = models.CharField(max_length=50, default="builtin")
    embedding_model = models.CharField(max_length=100, default="hashed-lexical-384")
    embedding_dimensions = models.PositiveIntegerField(default=384)
    chunk_size = models.PositiveIntegerField(default=512, help_text="tokens")
    chunk_overlap = models.PositiveIntegerField(default=64, help_text="tokens")
    # The fields above are the *target*: what the next run builds with. These are the
    # settings the current chunks were built with (the *index*, what search embeds
    # queries with), switched when a staged run completes (ingestion/switch.py).
    index_provider = models.CharField(max_length=50, default="builtin")
    index_model = models.CharField(max_length=100, default="hashed-lexical-384")
    index_dimensions = models.PositiveIntegerField(default=384)
    index_chunk_size = models.PositiveIntegerField(default=512, help_text="tokens")
    index_chunk_overlap = models.PositiveIntegerField(default=64, help_text="tokens")
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    # Budget limits in billed tokens (null: unlimited). USD limits are stored as
    # these, converted with the model price (API.md "PATCH semantics"; budgets.py).
    token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    daily_token_budget = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(chunk_overlap__lt=models.F("chunk_size")),
                name="asset_overlap_below_size",
            )
        ]

    def __str__(self) -> str:
        return self.display_name


class UploadedFile(models.Model):
    """The bytes of an uploaded file, kept in PostgreSQL so that every worker machine
    can re-read them on refresh without a shared file system."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="uploaded_files")
    file_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(help_text="bytes")
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "file_name"], name="unique_upload_name")
        ]


class DocumentStatus(models.TextChoices):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class Document(models.Model):
    """One item of a source. ``content_hash`` (SHA-256 of the source bytes) is set only
    once all of the document's chunks are stored, so an interrupted document is
    re-embedded by the next refresh. ``version`` is the chunk generation in use."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="documents")
    source_key = models.CharField(max_length=1024, help_text="path or name within the source")
    file_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    source_url = models.CharField(max_length=2048, blank=True)
    file_size = models.PositiveBigIntegerField(default=0, help_text="bytes")
    content_hash = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    chunk_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveBigIntegerField(default=0)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The generation being built (chunks of ``building_version`` stored part-way) and
    # what it is built from: content hash + chunking and embedding settings. A resumed
    # operation continues it after its last stored chunk instead of embedding again.
    building_version = models.PositiveIntegerField(default=0)
    building_key = models.CharField(max_length=200, blank=True)
    # A complete generation built by a staged run (a re-index), waiting for the run's
    # switch to become current (0: none). Always equal to ``building_version`` when set,
    # so ``building_key`` says what it is built from.
    staged_version = models.PositiveIntegerField(default=0)
    last_operation = models.ForeignKey(
        "operations_app.Operation", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="the operation that last completed or failed it",
    )
    # What the source said about the stored version, kept while COMPLETED: HTTP
    # validators ("etag", "lastModified", RFC 9110 §8.8) and a page's links (web), the
    # blob id (git). The next refresh asks "changed since?" with them.
    source_validators = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["file_name"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "source_key"], name="unique_document_key")
        ]

    def __str__(self) -> str:
        return self.file_name


class Chunk(models.Model):
    """A piece of a document, its embedding and full-text vector. Offsets are
    characters of the parsed text; lines are 1-based; ``token_count`` is in the
    embedding model's tokens. The embedding column has no fixed dimension so assets
    may use different models; HNSW indexes are partial per dimension (migration 0002)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="chunks")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    document_version = models.PositiveIntegerField()
    chunk_index = models.PositiveIntegerField()
    content = models.TextField()
    token_count = models.PositiveIntegerField()
    start_char_idx = models.PositiveIntegerField()
    end_char_idx = models.PositiveIntegerField()
    start_line = models.PositiveIntegerField()
    end_line = models.PositiveIntegerField()
    heading_path = models.JSONField(default=list, blank=True)
    page_number = models.PositiveIntegerField(null=True, blank=True)
    embedding = VectorField(null=True)
    embedding_dimensions = models.PositiveSmallIntegerField()
    search_vector = models.GeneratedField(
        expression=SearchVector("content", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    operation = models.ForeignKey(
        "operations_app.Operation", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "chunk_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "document_version", "chunk_index"],
                name="unique_chunk_position",
            )
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
            models.Index(fields=["asset"], name="chunk_asset_idx"),
        ]


class UsagePeriod(models.TextChoices):
    TOTAL = "TOTAL"
    MONTH = "MONTH"
    DAY = "DAY"


class BudgetUsage(models.Model):
    """Billed tokens of an asset in one period: ``TOTAL`` (``start`` 1970-01-01,
    ingestion only), ``MONTH`` (first day of a UTC month), ``DAY`` (a UTC day; both
    count ingestion and search queries). ``reserved``: tokens of batches in flight
    (budgets.py). Kept with ``asset`` null when the asset is deleted, so the tenant's
    totals stay."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    asset = models.ForeignKey(
        Asset, null=True, on_delete=models.SET_NULL, related_name="budget_usage"
    )
    period = models.CharField(max_length=5, choices=UsagePeriod.choices)
    start = models.DateField()
    used = models.BigIntegerField(default=0, help_text="billed tokens")
    reserved = models.BigIntegerField(default=0, help_text="tokens")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "period", "start"], name="unique_budget_usage"
            )
        ]
        indexes = [models.Index(fields=["tenant", "period", "start"])]


class BudgetReservation(models.Model):
    """Tokens reserved for one embedding batch (or search query) until it settles;
    deleting the row is what settles or releases it, exactly once."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    operation_id = models.UUIDField(null=True, blank=True, db_index=True)
    tokens = models.BigIntegerField()
    periods = models.JSONField(help_text="[[period, start ISO date], …]")
    created_at = models.DateTimeField(auto_now_add=True)


class AutoUpdateStrategy(models.TextChoices):
    WEBHOOK = "WEBHOOK", "Webhook"
    POLL = "POLL", "Poll on a schedule"


class PollFrequency(models.TextChoices):
    HOURLY = "HOURLY", "Hourly"
    DAILY = "DAILY", "Daily"
    WEEKLY = "WEEKLY", "Weekly"
    MONTHLY = "MONTHLY", "Monthly"


class Weekday(models.TextChoices):
    MONDAY = "MONDAY", "Monday"
    TUESDAY = "TUESDAY", "Tuesday"
    WEDNESDAY = "WEDNESDAY", "Wednesday"
    THURSDAY = "THURSDAY", "Thursday"
    FRIDAY = "FRIDAY", "Friday"
    SATURDAY = "SATURDAY", "Saturday"
    SUNDAY = "SUNDAY", "Sunday"


class WebhookAuthMode(models.TextChoices):
    URL_SECRET = "URL_SECRET", "Secret in the URL"
    HMAC_SHA256 = "HMAC_SHA256", "HMAC-SHA256 signature"


class WebhookStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"


class AssetAutoUpdate(models.Model):
    """An asset's auto-update settings (API.md ``autoUpdateConfig``); no row means
    ``autoUpdate: false``. Written by ``assets_app.autoupdate.services``.

    POLL: ``schedule`` is the django-q2 Schedule that starts each SCHEDULED_REFRESH;
    its ``next_run`` is computed in ``timezone`` (autoupdate/timing.py), not by
    django-q2. WEBHOOK: the asset's ACTIVE AssetWebhook receives the deliveries;
    ``filter`` (a gitignore-style pattern) limits which changed files of a push count.
    """

    asset = models.OneToOneField(
        Asset, on_delete=models.CASCADE, primary_key=True, related_name="auto_update"
    )
    strategy = models.CharField(max_length=10, choices=AutoUpdateStrategy.choices)
    poll_frequency = models.CharField(
        max_length=10, choices=PollFrequency.choices, blank=True
    )
    poll_day = models.CharField(max_length=10, choices=Weekday.choices, blank=True)
    poll_day_of_month = models.PositiveSmallIntegerField(null=True, blank=True)
    poll_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    poll_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA name")
    filter = models.CharField(max_length=500, blank=True)
    webhook_auth_mode = models.CharField(
        max_length=12, choices=WebhookAuthMode.choices, blank=True
    )
    schedule = models.OneToOneField(
        "django_q.Schedule", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(poll_day_of_month__isnull=True)
                | models.Q(poll_day_of_month__gte=1, poll_day_of_month__lte=28),
                name="auto_update_day_of_month_1_28",
            ),
            models.CheckConstraint(
                condition=models.Q(poll_hour__isnull=True)
                | models.Q(poll_hour__lte=23),
                name="auto_update_hour_0_23",
            ),
            models.CheckConstraint(
                condition=models.Q(poll_minute__isnull=True)
                | models.Q(poll_minute__lte=59),
                name="auto_update_minute_0_59",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.strategy} {self.poll_frequency}".strip()


class AssetWebhook(models.Model):
    """An inbound webhook of an asset (API.md "AssetWebhook"). Its URL and signing
    secret are shown once; what is stored cannot give them back:

    - ``URL_SECRET``: ``secret_hash`` is the SHA-256 of the URL's secret;
    - ``HMAC_SHA256``: the signing secret is derived from the server's key, the id
      and ``signing_salt`` (autoupdate/webhooks.py); ``secret_hash`` is its SHA-256.

    Regenerating revokes the row and mints a new one (a new id, so the old URL is
    404 at once); at most one is ACTIVE per asset."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="webhooks")
    provider = models.CharField(max_length=20, help_text="payloads it understands")
    auth_mode = models.CharField(max_length=12, choices=WebhookAuthMode.choices)
    status = models.CharField(
        max_length=8, choices=WebhookStatus.choices, default=WebhookStatus.ACTIVE
    )
    secret_hash = models.CharField(max_length=64)
    signing_salt = models.CharField(max_length=64, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset"],
                condition=models.Q(status="ACTIVE"),
                name="one_active_webhook_per_asset",
            )
        ]

    def __str__(self) -> str:
        return f"{self.auth_mode} webhook {self.id} ({self.status})"


class WebhookDelivery(models.Model):
    """A delivery id (or signature) a webhook has accepted, kept until
    ``expires_at`` so that a replay of it is refused."""

    webhook = models.ForeignKey(
        AssetWebhook, on_delete=models.CASCADE, related_name="deliveries"
    )
    key = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "key"], name="unique_webhook_delivery"
            )
        ]

    def __str__(self) -> str:
        return self.key


class ApiToken(models.Model):
    """A personal API token: ``rdk_<prefix>_<secret>``. Only the SHA-256 of the whole
    token is stored; the prefix is shown to identify it. Revoked tokens stay listed."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (rdk_{self.prefix}…)"


class EmbeddingRateSlot(models.Model):
    """The request-rate limiter's state for one key (``asset:<id>`` or
    ``global:<base URL>``): the earliest time the next embedding request may start
    (GCRA, see assets_app.embedding.ratelimit). Rows are tiny and one per key."""

    key = models.CharField(max_length=300, primary_key=True)
    next_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} → {self.next_at:%H:%M:%S.%f}"
