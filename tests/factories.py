"""factory_boy factories; children take their parent's tenant."""

import factory
from django.contrib.auth import get_user_model

from assets_app.models import Asset, Document, Membership, Role, SourceType, Tenant
from operations_app.models import Operation, OperationType


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-test-123")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Role.ADMIN


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset

    tenant = factory.SubFactory(TenantFactory)
    display_name = factory.Sequence(lambda n: f"Asset {n}")
    source_type = SourceType.UPLOAD
    # A new asset's index has its target settings (services.create._new_asset).
    index_provider = factory.SelfAttribute("embedding_provider", "builtin")
    index_model = factory.SelfAttribute("embedding_model", "hashed-lexical-384")
    index_dimensions = factory.SelfAttribute("embedding_dimensions", 384)
    index_chunk_size = factory.SelfAttribute("chunk_size", 512)
    index_chunk_overlap = factory.SelfAttribute("chunk_overlap", 64)


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    asset = factory.SubFactory(AssetFactory)
    source_key = factory.Sequence(lambda n: f"doc{n}.txt")
    file_name = factory.LazyAttribute(lambda o: o.source_key)
    content_type = "text/plain"


class OperationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Operation

    asset = factory.SubFactory(AssetFactory)
    tenant = factory.LazyAttribute(lambda o: o.asset.tenant)
    asset_name = factory.LazyAttribute(lambda o: o.asset.display_name)
    embedding_provider = factory.LazyAttribute(lambda o: o.asset.embedding_provider)
    embedding_model = factory.LazyAttribute(lambda o: o.asset.embedding_model)
    type = OperationType.INGEST
    created_by = "tester"
