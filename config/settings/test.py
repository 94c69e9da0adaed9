from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Failing-provider tests should not sleep through production back-off (1, 2, 4, 8 s);
# tests of the back-off itself set their own.
RAGDESK_EMBED_RETRY_BASE_SECONDS = 0.05
