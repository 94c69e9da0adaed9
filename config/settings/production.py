"""Production: DATABASE_URL and DJANGO_SECRET_KEY must be set; DEBUG is off."""

import os

from .base import *  # noqa: F403

if not os.environ.get("DATABASE_URL") or not os.environ.get("DJANGO_SECRET_KEY"):
    raise RuntimeError("production settings need DATABASE_URL and DJANGO_SECRET_KEY")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
