"""Database URLs as every part of seethrough opens them (web store, doctor, tune storage)."""

from __future__ import annotations

import importlib.util

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def normalize_database_url(url: str) -> str:
    """The URL SQLAlchemy should get for ``url``.

    ``postgres://`` (the form many hosting services hand out) becomes ``postgresql://``,
    and a ``postgresql://`` URL without a driver uses psycopg 3 (what the ``postgres``
    extra installs) when psycopg2, SQLAlchemy's default, is not installed. Anything
    else is returned unchanged.
    """
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg2") is None \
            and importlib.util.find_spec("psycopg") is not None:
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"
