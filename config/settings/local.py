from .base import *  # noqa: F403

DEBUG = True
LOGGING["loggers"]["django_q"]["level"] = "INFO"  # noqa: F405
