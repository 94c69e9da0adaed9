"""The assets dashboard through Django's test client: access, creating assets from
uploads or a folder, settings with the re-index confirmation, refresh.

Operations stay PENDING (``no_enqueue``) unless a test runs them with ``run_queued``.
Bad input re-renders the form with status 400 and an inline error, and writes
nothing: no Asset, UploadedFile or Operation row."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assets_app.models import Asset, UploadedFile
from operations_app.models import Operation, OperationStatus, OperationType
from tests.factories import AssetFactory, MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def login(client, member):
    client.force_login(member.user)
    return client


def list_url(tenant):
    return f"/t/{tenant.slug}/"


def create_url(tenant, kind=None):
    return f"/t/{tenant.slug}/assets/new/" + (f"?kind={kind}" if kind else "")


def detail_url(asset):
    return f"/t/{asset.tenant.slug}/assets/{asset.id}/"


def settings_url(asset):
    return f"{detail_url(asset)}settings/"


def refresh_url(asset):
    return f"{detail_url(asset)}refresh/"


def files(*specs: tuple[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data) for name, data in specs]


def upload_post(files_, *, name="", size=512, overlap=64) -> dict:
    return {
        "kind": "upload",
        "up-display_name": name,
        "up-files": files_,
        "up-chunk_size": size,
        "up-chunk_overlap": overlap,
    }


def assert_nothing_written():
    assert not Asset.objects.exists()
    assert not UploadedFile.objects.exists()
    assert not Operation.objects.exists()


def field_error(response, html_name: str) -> str:
    """The text of the inline error paragraph of one field (empty when none)."""
    html = response.content.decode()
    marker = f'id="{html_name}-error">'
    start = html.find(marker)
    if start < 0:
        return ""
    start += len(marker)
    return html[start : html.index("</p>", start)]


THREE_FILES = (
    ("notes.txt", b"Plain notes about the quarterly plan.\n" * 20),
    ("guide.md", b"# Guide\n\n## Setup\n\nInstall it and run it.\n" * 10),
    ("page.html", b"<html><body><h1>Page</h1><p>Some web text here.</p></body></html>"),
)


@pytest.fixture
def asset(admin_member, no_enqueue):
    return AssetFactory(tenant=admin_member.tenant, display_name="Handbook")


@pytest.fixture
def folder_root(tmp_path, settings):
    root = (tmp_path / "allowed").resolve()
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("# A\n\nAlpha text.\n")
    settings.RAGDESK_FOLDER_ROOTS = [root]
    return root


# -- access ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/t/{slug}/", "/t/{slug}/assets/new/", "/t/{slug}/operations/"]
)
def test_anonymous_visitor_is_redirected_to_login(client, tenant, path):
    url = path.format(slug=tenant.slug)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_anonymous_refresh_post_is_redirected_to_login(client, tenant, no_enqueue):
    asset = AssetFactory(tenant=tenant)
    response = client.post(refresh_url(asset))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Operation.objects.exists()


def test_non_member_of_tenant_gets_403(client, admin_member):
    other = TenantFactory()
    response = login(client, admin_member).get(list_url(other))
    assert response.status_code == 403


def test_unknown_tenant_gets_404(client, admin_member):
    response = login(client, admin_member).get("/t/no-such-tenant/")
    assert response.status_code == 404


def test_home_redirects_to_the_users_first_tenant(client, db):
    user = UserFactory(username="multi")
    MembershipFactory(user=user, tenant=TenantFactory(slug="zeta"))
    MembershipFactory(user=user, tenant=TenantFactory(slug="alpha"))
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/t/alpha/"


def test_home_of_user_without_tenant_explains_and_is_403(client, db):
    client.force_login(UserFactory(username="lonely"))
    response = client.get("/")
    assert response.status_code == 403
    assert "not a member of any tenant" in response.content.decode()


def test_tenant_switcher_lists_every_tenant_of_the_user(client, db):
    user = UserFactory(username="multi")
    for slug in ("alpha", "beta", "gamma"):
        MembershipFactory(user=user, tenant=TenantFactory(slug=slug, name=slug.title()))
    TenantFactory(slug="stranger", name="Stranger")
    client.force_login(user)
    html = client.get("/t/beta/").content.decode()
    switcher = html[html.index('id="tenant-switcher"') : html.index("</details>")]
    for slug in ("alpha", "beta", "gamma"):
        assert f'href="/t/{slug}/"' in switcher
    assert 'href="/t/beta/" aria-current="true"' in switcher
    assert "Stranger" not in switcher


def test_asset_list_shows_only_the_tenants_assets(client, admin_member):
    AssetFactory(tenant=admin_member.tenant, display_name="Mine")
    AssetFactory(tenant=TenantFactory(), display_name="Theirs")
    html = (
        login(client, admin_member).get(list_url(admin_member.tenant)).content.decode()
    )
    assert "Mine" in html
    assert "Theirs" not in html


# -- create from uploads --------------------------------------------------------------


def test_upload_of_several_files_creates_asset_and_pending_ingest(
    client, editor_member, no_enqueue
):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant), upload_post(files(*THREE_FILES), name="Docs")
    )
    asset = Asset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(asset)
    assert asset.display_name == "Docs"
    assert sorted(UploadedFile.objects.values_list("file_name", flat=True)) == [
        "guide.md",
        "notes.txt",
        "page.html",
    ]
    op = Operation.objects.get()
    assert (op.type, op.status, op.asset_id) == (
        OperationType.INGEST,
        OperationStatus.PENDING,
        asset.id,
    )
    assert no_enqueue == [str(op.id)]


def test_the_model_picker_lists_the_catalogue_and_creates_with_the_chosen_model(
    client, editor_member, no_enqueue
):
    logged_in = login(client, editor_member)
    page = logged_in.get(create_url(editor_member.tenant)).content.decode()
    assert 'value="openai/text-embedding-3-large"' in page
    label = "3072 dimensions, up to 8191 tokens per chunk, 0.13 USD per 1M tokens"
    assert label in page
    post = {**upload_post(files(*THREE_FILES)),
            "up-embedding_model": "openai/text-embedding-3-large"}  # fmt: skip
    assert logged_in.post(create_url(editor_member.tenant), post).status_code == 302
    asset = Asset.objects.get()
    assert (asset.embedding_provider, asset.embedding_model) == (
        "openai", "text-embedding-3-large"
    )  # fmt: skip
    assert asset.embedding_dimensions == 3072


def test_ingest_started_from_the_dashboard_completes_and_asset_page_shows_documents(
    client, editor_member, run_queued
):
    login(client, editor_member).post(
        create_url(editor_member.tenant), upload_post(files(*THREE_FILES))
    )
    assert run_queued() == [OperationStatus.COMPLETED]
    asset = Asset.objects.get()
    assert asset.display_name == "notes.txt"  # no name given: the first file's
    html = client.get(detail_url(asset)).content.decode()
    for name in ("notes.txt", "guide.md", "page.html"):
        assert f"<td>{name}</td>" in html
    assert "3 documents" in html
    assert "0 chunks" not in html
    assert "COMPLETED" in html


@pytest.mark.parametrize(
    "specs, expected",
    [
        ((("report.txt", b"fine"), ("payload.exe", b"MZ\x90\x00")), "payload.exe"),
        ((("empty.txt", b""),), "empty"),
        ((), "No file given."),
    ],
    ids=["unsupported-type", "empty-file", "no-file"],
)
def test_bad_upload_shows_inline_error_and_writes_nothing(
    client, editor_member, no_enqueue, specs, expected
):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant), upload_post(files(*specs))
    )
    assert response.status_code == 400
    assert expected in field_error(response, "up-files")
    assert_nothing_written()
    assert no_enqueue == []


def test_unsupported_type_error_names_the_accepted_types(
    client, editor_member, no_enqueue
):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant), upload_post(files(("payload.exe", b"MZ")))
    )
    assert "unsupported type" in field_error(response, "up-files")
    assert ".md" in field_error(response, "up-files")


def test_upload_over_the_size_limit_shows_inline_error_and_writes_nothing(
    client, editor_member, no_enqueue, settings
):
    settings.RAGDESK_MAX_UPLOAD_BYTES = 100
    response = login(client, editor_member).post(
        create_url(editor_member.tenant),
        upload_post(files(("small.txt", b"ok"), ("big.txt", b"x" * 101))),
    )
    assert response.status_code == 400
    assert "big.txt" in field_error(response, "up-files")
    assert_nothing_written()


def test_chunk_overlap_not_below_size_shows_error_on_the_overlap_field(
    client, editor_member, no_enqueue
):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant),
        upload_post(files(("a.txt", b"text")), size=100, overlap=100),
    )
    assert response.status_code == 400
    assert "smaller than the chunk size" in field_error(response, "up-chunk_overlap")
    assert field_error(response, "up-files") == ""
    assert_nothing_written()


def test_viewer_cannot_create_an_asset(client, viewer_member, no_enqueue):
    response = login(client, viewer_member).post(
        create_url(viewer_member.tenant), upload_post(files(("a.txt", b"text")))
    )
    assert response.status_code == 400
    assert "cannot create assets" in response.content.decode()
    assert_nothing_written()


def test_viewer_sees_no_new_asset_button(client, viewer_member):
    html = (
        login(client, viewer_member)
        .get(list_url(viewer_member.tenant))
        .content.decode()
    )
    assert "New asset" not in html


# -- create from a folder -------------------------------------------------------------


def folder_post(path, glob="**/*.md") -> dict:
    return {
        "kind": "folder",
        "folder-display_name": "",
        "folder-path": str(path),
        "folder-glob": glob,
        "folder-chunk_size": 512,
        "folder-chunk_overlap": 64,
    }


def test_admin_sees_the_folder_tab_and_form(client, admin_member):
    html = (
        login(client, admin_member)
        .get(create_url(admin_member.tenant, "folder"))
        .content.decode()
    )
    assert "Folder on the server" in html
    assert 'id="folder-form"' in html


def test_editor_does_not_see_the_folder_tab(client, editor_member):
    html = (
        login(client, editor_member)
        .get(create_url(editor_member.tenant, "folder"))
        .content.decode()
    )
    assert "Folder on the server" not in html
    assert 'id="folder-form"' not in html
    assert 'id="upload-form"' in html


def test_admin_creates_folder_asset_with_pending_ingest(
    client, admin_member, folder_root, no_enqueue
):
    response = login(client, admin_member).post(
        create_url(admin_member.tenant), folder_post(folder_root / "docs")
    )
    asset = Asset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(asset)
    assert asset.source_parameters == {
        "path": str(folder_root / "docs"),
        "glob": "**/*.md",
    }
    assert Operation.objects.get().status == OperationStatus.PENDING


def test_folder_outside_allowed_roots_shows_inline_error_and_writes_nothing(
    client, admin_member, folder_root, tmp_path, no_enqueue
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    response = login(client, admin_member).post(
        create_url(admin_member.tenant), folder_post(outside)
    )
    assert response.status_code == 400
    assert "outside the allowed folder roots" in field_error(response, "folder-path")
    assert_nothing_written()


def test_folder_post_by_editor_is_refused_with_inline_error(
    client, editor_member, folder_root, no_enqueue
):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant), folder_post(folder_root / "docs")
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "cannot create folder assets" in html
    assert 'id="folder-form"' not in html
    assert_nothing_written()


# -- settings -------------------------------------------------------------------------


def settings_post(asset, **changes) -> dict:
    data = {
        "display_name": asset.display_name,
        "chunk_size": asset.chunk_size,
        "chunk_overlap": asset.chunk_overlap,
    }
    data.update(changes)
    return data


def test_settings_page_shows_current_values(client, admin_member, asset):
    html = login(client, admin_member).get(settings_url(asset)).content.decode()
    assert 'value="Handbook"' in html
    assert f'value="{asset.chunk_size}"' in html


def test_name_only_change_applies_at_once_without_operation(
    client, editor_member, asset
):
    response = login(client, editor_member).post(
        settings_url(asset), settings_post(asset, display_name="Staff handbook")
    )
    assert response.status_code == 302
    assert response["Location"] == detail_url(asset)
    asset.refresh_from_db()
    assert asset.display_name == "Staff handbook"
    assert not Operation.objects.exists()


def test_chunk_change_without_confirmation_asks_and_saves_nothing(
    client, editor_member, run_queued
):
    login(client, editor_member).post(
        create_url(editor_member.tenant), upload_post(files(*THREE_FILES), name="Docs")
    )
    run_queued()
    asset = Asset.objects.get()
    response = client.post(
        settings_url(asset),
        settings_post(asset, display_name="Renamed", chunk_size=256),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "This re-embeds 3 documents" in html
    assert 'id="confirm-reindex"' in html
    asset.refresh_from_db()
    assert (asset.display_name, asset.chunk_size) == ("Docs", 512)
    assert list(Operation.objects.values_list("type", flat=True)) == [
        OperationType.INGEST
    ]


def form_inputs(html: str, form_id: str) -> list[tuple[str, str]]:
    """The (name, value) pairs a browser submits for the form's <input> elements."""
    start = html.index(f'id="{form_id}"')
    form = html[start : html.index("</form>", start)]
    return re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', form)


def test_confirm_button_of_the_reindex_question_saves_and_starts_reindex(
    client, editor_member, asset
):
    html = (
        login(client, editor_member)
        .post(settings_url(asset), settings_post(asset, chunk_size=300))
        .content.decode()
    )
    data: dict[str, list[str]] = {}
    for name, value in form_inputs(html, "settings-form"):
        data.setdefault(name, []).append(value)
    assert data["chunk_size"] == ["300"]
    response = client.post(settings_url(asset), data)
    assert response.status_code == 302
    asset.refresh_from_db()
    assert asset.chunk_size == 300
    assert Operation.objects.get().type == OperationType.REINDEX


def test_confirmed_chunk_change_saves_and_starts_reindex(client, editor_member, asset):
    response = login(client, editor_member).post(
        settings_url(asset),
        settings_post(asset, chunk_size=256, chunk_overlap=32, confirm_reindex="on"),
    )
    assert response.status_code == 302
    asset.refresh_from_db()
    assert (asset.chunk_size, asset.chunk_overlap) == (256, 32)
    op = Operation.objects.get()
    assert (op.type, op.status, op.asset_id) == (
        OperationType.REINDEX,
        OperationStatus.PENDING,
        asset.id,
    )


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"chunk_size": 100, "chunk_overlap": 100}, "chunk_overlap", "smaller than"),
        ({"chunk_size": 8192}, "chunk_size", "8191"),
        ({"chunk_size": 15, "chunk_overlap": 0}, "chunk_size", "from 16"),
    ],
    ids=["overlap-not-below-size", "size-above-model-max", "size-below-minimum"],
)
@pytest.mark.parametrize("confirm", ["", "on"], ids=["unconfirmed", "confirmed"])
def test_invalid_chunking_is_400_with_inline_error_and_saves_nothing(
    client, editor_member, asset, changes, field, message, confirm
):
    response = login(client, editor_member).post(
        settings_url(asset),
        settings_post(
            asset, display_name="Renamed", confirm_reindex=confirm, **changes
        ),
    )
    assert response.status_code == 400
    assert message in field_error(response, field)
    assert 'id="reindex-confirm"' not in response.content.decode()
    asset.refresh_from_db()
    assert (asset.display_name, asset.chunk_size, asset.chunk_overlap) == (
        "Handbook",
        512,
        64,
    )
    assert not Operation.objects.exists()


def test_empty_name_is_400_and_saves_nothing(client, editor_member, asset):
    response = login(client, editor_member).post(
        settings_url(asset), settings_post(asset, display_name="")
    )
    assert response.status_code == 400
    assert field_error(response, "display_name")
    asset.refresh_from_db()
    assert asset.display_name == "Handbook"


def test_viewer_cannot_change_settings(client, viewer_member, asset):
    response = login(client, viewer_member).post(
        settings_url(asset), settings_post(asset, display_name="Mine now")
    )
    assert response.status_code == 400
    assert "VIEWER" in response.content.decode()
    asset.refresh_from_db()
    assert asset.display_name == "Handbook"


# -- refresh and the asset page -------------------------------------------------------


def test_refresh_button_starts_a_refresh_operation(client, editor_member, asset):
    response = login(client, editor_member).post(refresh_url(asset))
    assert response.status_code == 302
    assert response["Location"] == detail_url(asset)
    op = Operation.objects.get()
    assert (op.type, op.status, op.asset_id) == (
        OperationType.REFRESH,
        OperationStatus.PENDING,
        asset.id,
    )


def test_refresh_by_get_is_405_and_starts_nothing(client, editor_member, asset):
    response = login(client, editor_member).get(refresh_url(asset))
    assert response.status_code == 405
    assert not Operation.objects.exists()


def test_refresh_by_viewer_is_refused_with_a_message(client, viewer_member, asset):
    response = login(client, viewer_member).post(refresh_url(asset), follow=True)
    assert "cannot refresh assets" in response.content.decode()
    assert not Operation.objects.exists()


def test_viewer_sees_no_refresh_or_settings_buttons(client, viewer_member, asset):
    html = login(client, viewer_member).get(detail_url(asset)).content.decode()
    assert 'id="refresh-button"' not in html
    assert settings_url(asset) not in html


def test_asset_page_htmx_request_returns_only_the_asset_contents_fragment(
    client, editor_member, run_queued
):
    login(client, editor_member).post(
        create_url(editor_member.tenant), upload_post(files(("a.txt", b"Alpha text.")))
    )
    run_queued()
    asset = Asset.objects.get()
    response = client.get(detail_url(asset), headers={"HX-Request": "true"})
    assert response.status_code == 286  # the ingest has ended: polling stops
    html = response.content.decode().strip()
    assert html.startswith('<section id="asset-contents"')
    assert "<html" not in html
    assert 'id="operation-rows"' not in html
    assert "<td>a.txt</td>" in html
    assert "1 document ·" in html


def test_full_asset_page_includes_the_contents_and_the_operations(
    client, editor_member, asset
):
    html = login(client, editor_member).get(detail_url(asset)).content.decode()
    assert "<html" in html
    assert 'id="asset-contents"' in html
    assert 'id="operation-rows"' in html


# -- QA fixes: bad input never ends in an error page or an "Internal error" --------


@pytest.mark.parametrize("glob", ["**a", ".", "docs/**x"])
def test_folder_glob_that_pathlib_rejects_shows_inline_error_and_writes_nothing(
    client, admin_member, folder_root, no_enqueue, glob
):
    response = login(client, admin_member).post(
        create_url(admin_member.tenant), folder_post(folder_root / "docs", glob=glob)
    )
    assert response.status_code == 400
    assert "cannot be used" in field_error(response, "folder-glob")
    assert field_error(response, "folder-path") == ""
    assert_nothing_written()
    assert no_enqueue == []


@pytest.mark.parametrize("search", ["\x00", "Mi\x00ne"])
def test_asset_search_with_a_nul_character_is_not_an_error(
    client, admin_member, search
):
    AssetFactory(tenant=admin_member.tenant, display_name="Mine")
    AssetFactory(tenant=admin_member.tenant, display_name="Other")
    response = login(client, admin_member).get(
        list_url(admin_member.tenant), {"search": search}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert ">Mine</a>" in html
    if search != "\x00":  # what remains without the NUL still filters
        assert ">Other</a>" not in html


def csrf_client(client, member):
    """The test client with CSRF checks on, as a browser meets them, and the token
    of the New asset page."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member.user)
    html = browser.get(create_url(member.tenant)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    return browser, token


def test_upload_of_more_files_than_the_limit_shows_inline_error_and_writes_nothing(
    client, editor_member, no_enqueue, settings
):
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
    assert limit == 200
    browser, token = csrf_client(client, editor_member)
    many = files(*((f"note{i}.txt", b"text") for i in range(limit + 1)))
    response = browser.post(
        create_url(editor_member.tenant),
        {"csrfmiddlewaretoken": token, **upload_post(many)},
    )
    assert response.status_code == 400
    assert field_error(response, "up-files") == "Choose at most 200 files at once."
    assert 'id="upload-form"' in response.content.decode()
    assert_nothing_written()


def test_upload_of_exactly_the_limit_of_files_is_accepted(
    client, editor_member, no_enqueue
):
    browser, token = csrf_client(client, editor_member)
    many = files(*((f"note{i}.txt", b"text") for i in range(200)))
    response = browser.post(
        create_url(editor_member.tenant),
        {"csrfmiddlewaretoken": token, **upload_post(many)},
    )
    assert response.status_code == 302
    assert UploadedFile.objects.count() == 200


def test_new_asset_post_without_csrf_token_is_still_refused(
    client, editor_member, no_enqueue
):
    browser, _ = csrf_client(client, editor_member)
    response = browser.post(
        create_url(editor_member.tenant), upload_post(files(("a.txt", b"text")))
    )
    assert response.status_code == 403
    assert_nothing_written()


def test_files_field_states_the_number_of_files_allowed_at_once(client, editor_member):
    html = login(client, editor_member).get(create_url(editor_member.tenant))
    assert "up to 200 at once" in html.content.decode()


def test_empty_file_error_names_the_file(client, editor_member, no_enqueue):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant),
        upload_post(files(("notes.txt", b"text"), ("blank.md", b""))),
    )
    assert response.status_code == 400
    assert field_error(response, "up-files") == "blank.md: the file is empty."
    assert "The submitted file is empty" not in response.content.decode()
    assert_nothing_written()


@pytest.mark.parametrize(
    "size, overlap, field, message",
    [
        (0, 0, "chunk_size", "from 16"),
        (-1, 0, "chunk_size", "from 16"),
        (15, 0, "chunk_size", "from 16"),
        (512, -1, "chunk_overlap", "≥ 0"),
    ],
)
def test_create_form_states_the_real_chunking_minimums(
    client, editor_member, no_enqueue, size, overlap, field, message
):
    response = login(client, editor_member).post(
        create_url(editor_member.tenant),
        upload_post(files(("a.txt", b"text")), size=size, overlap=overlap),
    )
    assert response.status_code == 400
    assert message in field_error(response, f"up-{field}")
    assert_nothing_written()


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"chunk_size": -1}, "chunk_size", "from 16"),
        ({"chunk_size": 0}, "chunk_size", "from 16"),
        ({"chunk_overlap": -1}, "chunk_overlap", "≥ 0"),
    ],
)
def test_settings_form_states_the_real_chunking_minimums(
    client, editor_member, asset, changes, field, message
):
    response = login(client, editor_member).post(
        settings_url(asset), settings_post(asset, **changes)
    )
    assert response.status_code == 400
    assert message in field_error(response, field)
    asset.refresh_from_db()
    assert (asset.chunk_size, asset.chunk_overlap) == (512, 64)


def test_chunk_size_inputs_carry_the_real_minimum(client, admin_member, asset):
    login(client, admin_member)
    for url in (create_url(admin_member.tenant), settings_url(asset)):
        html = client.get(url).content.decode()
        size_input = re.search(r'<input[^>]*name="(?:up-)?chunk_size"[^>]*>', html)
        assert 'min="16"' in size_input.group(0)


# -- the asset page's Documents section polls while an operation is active ---------


def test_asset_contents_poll_every_2s_while_an_operation_is_active(
    client, editor_member, asset
):
    Operation.objects.create(
        tenant=asset.tenant,
        asset=asset,
        asset_name=asset.display_name,
        type=OperationType.REFRESH,
        created_by="tester",
    )
    login(client, editor_member)
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(detail_url(asset), headers=headers)
        assert response.status_code == 200
        section = re.search(
            r'<section id="asset-contents"[^>]*>', response.content.decode()
        )
        assert 'hx-trigger="operations-settled from:body, every 2s"' in section.group(0)


@pytest.mark.parametrize("status", [OperationStatus.COMPLETED, None])
def test_asset_contents_stop_polling_with_286_once_no_operation_is_active(
    client, editor_member, asset, status
):
    if status:
        Operation.objects.create(
            tenant=asset.tenant,
            asset=asset,
            asset_name=asset.display_name,
            type=OperationType.INGEST,
            created_by="tester",
            status=status,
        )
    response = login(client, editor_member).get(
        detail_url(asset), headers={"HX-Request": "true"}
    )
    assert response.status_code == 286
    section = re.search(
        r'<section id="asset-contents"[^>]*>', response.content.decode()
    )
    assert 'hx-trigger="operations-settled from:body"' in section.group(0)


# -- what a VIEWER is shown --------------------------------------------------------


def test_viewer_opening_new_asset_sees_a_read_only_notice_instead_of_the_forms(
    client, viewer_member
):
    response = login(client, viewer_member).get(create_url(viewer_member.tenant))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="read-only-notice"' in html
    assert "VIEWER" in html
    assert 'id="upload-form"' not in html
    assert 'id="folder-form"' not in html


def test_viewer_opening_settings_sees_a_read_only_notice_instead_of_the_form(
    client, viewer_member, asset
):
    response = login(client, viewer_member).get(settings_url(asset))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="read-only-notice"' in html
    assert 'id="settings-form"' not in html


def test_editor_opening_new_asset_and_settings_sees_the_forms(
    client, editor_member, asset
):
    login(client, editor_member)
    create_html = client.get(create_url(editor_member.tenant)).content.decode()
    settings_html = client.get(settings_url(asset)).content.decode()
    assert 'id="upload-form"' in create_html
    assert 'id="settings-form"' in settings_html
    assert 'id="read-only-notice"' not in create_html + settings_html


# -- error pages and the page head -------------------------------------------------


def test_pages_declare_an_empty_icon_so_browsers_do_not_ask_for_favicon(
    client, editor_member
):
    html = login(client, editor_member).get(list_url(editor_member.tenant))
    assert '<link rel="icon" href="data:,">' in html.content.decode()


def test_non_member_gets_a_403_page_that_says_to_ask_a_tenant_admin(
    client, admin_member, settings
):
    assert settings.DEBUG is False
    other = TenantFactory(slug="other-co")
    response = login(client, admin_member).get(list_url(other))
    assert response.status_code == 403
    html = response.content.decode()
    assert "You are not a member of tenant &#x27;other-co&#x27;." in html
    assert "ask a tenant admin" in html
    assert 'class="topbar"' in html  # the site's layout, not a bare "403 Forbidden"


@pytest.mark.parametrize(
    "path", ["/t/no-such-tenant/", "/t/{slug}/assets/{missing}/", "/no/such/page/"]
)
def test_not_found_gets_a_404_page_in_the_sites_layout(client, admin_member, path):
    import uuid

    url = path.format(slug=admin_member.tenant.slug, missing=uuid.uuid4())
    response = login(client, admin_member).get(url)
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Not found</h1>" in html
    assert 'class="topbar"' in html
