"""The rendered configuration on disk: load it, notice changes, keep the last good one.

Kubernetes updates a mounted ConfigMap by swapping a symlink (`..data`), so modification times
say little; the loader compares the files' content instead, on a short poll. A change that does
not parse is reported (log, admin API, metric) and the configuration in force stays.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from guestgate.config.schema import (
    CLUSTER_FILE,
    CONFIG_FILES,
    LINKS_FILE,
    TRUNKS_FILE,
    LinksFile,
    PublishedConfig,
    is_links_file,
)

log = logging.getLogger("guestgate.signal.config")

_FILE_OF_MODEL = {"ClusterConfig": CLUSTER_FILE, "TrunksFile": TRUNKS_FILE, "LinksFile": LINKS_FILE}
MAX_FILE_BYTES = 4 * 1024 * 1024  # a ConfigMap holds 1 MiB; anything far larger is not ours


class ConfigError(ValueError):
    """The configuration directory cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class LoadedConfig:
    config: PublishedConfig
    digest: str  # of the files' content, to notice changes


def _read(config_dir: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    # links.json may come sharded (links-1.json, ...: one ConfigMap each, projected together).
    shards = sorted(p.name for p in config_dir.glob("links-*.json") if is_links_file(p.name))
    for name in (*CONFIG_FILES, *shards):
        path = config_dir / name
        if not path.exists():
            if name == CLUSTER_FILE:
                raise ConfigError(f"{path}: missing (the operator writes it into the ConfigMap)")
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        files[name] = path.read_text(encoding="utf-8")
    return files


def _digest(files: dict[str, str]) -> str:
    sha = hashlib.sha256()
    for name in sorted(files):
        sha.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return sha.hexdigest()[:16]


def load_config(config_dir: Path) -> LoadedConfig:
    """Read and validate the directory; ConfigError says what is wrong."""
    try:
        files = _read(config_dir)
    except OSError as error:
        raise ConfigError(f"{config_dir}: {error.strerror or error}") from error
    for name, text in files.items():
        try:
            json.loads(text)
        except ValueError as error:
            raise ConfigError(f"{config_dir / name}: not valid JSON: {error}") from error
    try:
        config = PublishedConfig.from_files(files)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        name = _FILE_OF_MODEL.get(error.title, "") if error.title != "LinksFile" else _links_file_of(files, error)
        raise ConfigError(f"{config_dir / name}: {where}: {first['msg']} ({error.error_count()} error(s))") from error
    ids = [t.id for t in config.trunks.trunks]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"{config_dir}/trunks.json: trunk ids are not unique")
    return LoadedConfig(config, _digest(files))


def _links_file_of(files: dict[str, str], error: ValidationError) -> str:
    """Which links file a LinksFile error came from: the first shard that does not validate."""
    for name in sorted(files):
        if is_links_file(name):
            try:
                LinksFile.model_validate(json.loads(files[name]))
            except ValidationError:
                return name
    return LINKS_FILE


class ConfigWatcher:
    """Holds the configuration in force and tells when a valid new one appears."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.current: LoadedConfig | None = None
        self.last_error = ""
        self._seen_digest = ""

    def load_initial(self) -> LoadedConfig:
        self.current = load_config(self.config_dir)
        self._seen_digest = self.current.digest
        return self.current

    def poll(self) -> LoadedConfig | None:
        """A new valid configuration, or None (unchanged, or changed but bad: last good kept)."""
        try:
            files = _read(self.config_dir)
            digest = _digest(files)
        except (OSError, ConfigError) as error:
            self._bad(str(error), "")
            return None
        if digest == self._seen_digest:
            return None
        self._seen_digest = digest
        try:
            loaded = load_config(self.config_dir)
        except ConfigError as error:
            self._bad(str(error), digest)
            return None
        self.current = loaded
        self.last_error = ""
        log.info("configuration reloaded digest=%s trunks=%d", loaded.digest, len(loaded.config.trunks.trunks))
        return loaded

    def _bad(self, message: str, digest: str) -> None:
        if message != self.last_error:
            log.error("configuration rejected, keeping the last good one error=%s", message)
        self.last_error = message
        if digest:
            self._seen_digest = digest
