"""Secrets mounted into the pod: the admin token and the trunks' digest credentials.

Layout (constants in config/schema.py), relative to --secrets-dir:
  admin/token                              bearer token of the admin API
  credentials/<credentialsKey>.username    digest user of a trunk
  credentials/<credentialsKey>.password    digest password of a trunk
Values are read on each (re)load, so a rotated Secret takes effect with the next reload.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from guestgate.config.schema import ADMIN_TOKEN_FILE, CREDENTIALS_DIR, TrunkProfile
from guestgate.engine.config import Credentials

MIN_TOKEN_LENGTH = 16


class SecretError(ValueError):
    """A secret is missing or unusable; the message names the file."""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SecretError(f"{path}: {error.strerror or error}") from error


def admin_token(secrets_dir: Path) -> str:
    token = _read(secrets_dir / ADMIN_TOKEN_FILE)
    if len(token) < MIN_TOKEN_LENGTH:
        raise SecretError(
            f"{secrets_dir / ADMIN_TOKEN_FILE}: the admin token must be at least {MIN_TOKEN_LENGTH} characters"
        )
    return token


def trunk_credentials(secrets_dir: Path, profiles: Iterable[TrunkProfile]) -> dict[str, Credentials]:
    """credentialsKey -> Credentials for every trunk with auth whose files are present."""
    found: dict[str, Credentials] = {}
    for profile in profiles:
        if profile.auth is None:
            continue
        key = profile.auth.credentials_key
        base = secrets_dir / CREDENTIALS_DIR
        try:
            found[key] = Credentials(_read(base / f"{key}.username"), _read(base / f"{key}.password"))
        except SecretError:
            continue  # the engine refuses that trunk and says which credentials are missing
    return found
