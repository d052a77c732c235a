"""The rendered configuration: pushed by the operator, or on disk; keep the last good one.

The operator pushes the configuration to every pod over the admin API (`PUT /v1/config`) as soon
as it renders it: that is how an edit reaches running pods within a second. The mounted ConfigMap
is the fallback: read at start, and followed after that for whenever the operator cannot push.

Kubernetes updates a mounted ConfigMap by swapping a symlink (`..data`), so modification times
say little; the loader compares the files' content instead, on a short poll. The kubelet brings
the files up to date a minute or so after the operator pushed the same content, or an older one
when edits came quickly: a configuration the pod served already is never taken from disk again
(the operator pushes whatever is current). A change that does not parse is reported (log, admin
API, metric) and the configuration in force stays.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from guestgate.config.schema import (
    CLUSTER_FILE,
    CONFIG_FILES,
    LINKS_FILE,
    TRUNKS_FILE,
    LinksFile,
    PublishedConfig,
    files_digest,
    is_links_file,
)

log = logging.getLogger("guestgate.signal.config")

_FILE_OF_MODEL = {"ClusterConfig": CLUSTER_FILE, "TrunksFile": TRUNKS_FILE, "LinksFile": LINKS_FILE}
MAX_FILE_BYTES = 4 * 1024 * 1024  # a ConfigMap holds 1 MiB; anything far larger is not ours
SERVED_MEMORY = 64  # digests served lately (pushed or read), never taken from disk again


class ConfigError(ValueError):
    """The configuration directory cannot be used; the message says which file and why."""


class BaseMismatch(LookupError):
    """A pushed change is relative to a configuration the pod does not serve."""


@dataclass(frozen=True)
class LoadedConfig:
    config: PublishedConfig
    digest: str  # of the files' content, to notice changes
    files: Mapping[str, str] = field(default_factory=dict)  # what it was parsed from
    # Each links shard's text and parse: the next configuration parses only the shards that changed.
    shards: Mapping[str, tuple[str, LinksFile]] = field(default_factory=dict)


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


def load_config(config_dir: Path) -> LoadedConfig:
    """Read and validate the directory; ConfigError says what is wrong."""
    try:
        files = _read(config_dir)
    except OSError as error:
        raise ConfigError(f"{config_dir}: {error.strerror or error}") from error
    return parse_files(files, str(config_dir))


def parse_files(
    files: Mapping[str, str], where: str, previous: LoadedConfig | None = None, digest: str | None = None
) -> LoadedConfig:
    """Validate the files of a configuration (read from `where`: a folder, or "pushed"). The
    links shards of `previous` whose text is unchanged are taken as they were parsed then.
    `digest`: files_digest(files), when the caller has it (3 MB hashed once, not twice)."""
    if CLUSTER_FILE not in files:
        raise ConfigError(f"{where}/{CLUSTER_FILE}: missing (the operator writes it into the ConfigMap)")
    known = previous.shards if previous is not None else {}
    decoded: dict[str, Any] = {}
    for name, text in files.items():
        before = known.get(name)
        if before is not None and (before[0] is text or before[0] == text):
            continue  # parsed before
        try:
            decoded[name] = json.loads(text)
        except ValueError as error:
            raise ConfigError(f"{where}/{name}: not valid JSON: {error}") from error
    try:
        config, shards = PublishedConfig.from_files_reusing(files, known, decoded)
    except ValidationError as error:
        first = error.errors()[0]
        at = ".".join(str(p) for p in first["loc"]) or "(top)"
        name = _FILE_OF_MODEL.get(error.title, "") if error.title != "LinksFile" else _links_file_of(files, error)
        raise ConfigError(f"{where}/{name}: {at}: {first['msg']} ({error.error_count()} error(s))") from error
    ids = [t.id for t in config.trunks.trunks]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"{where}/trunks.json: trunk ids are not unique")
    return LoadedConfig(config, digest or files_digest(files), dict(files), shards)


def _links_file_of(files: Mapping[str, str], error: ValidationError) -> str:
    """Which links file a LinksFile error came from: the first shard that does not validate."""
    for name in sorted(files):
        if is_links_file(name):
            try:
                LinksFile.model_validate(json.loads(files[name]))
            except ValidationError:
                return name
    return LINKS_FILE


class ConfigWatcher:
    """Holds the configuration in force and tells when a valid new one appears (on disk or pushed)."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.current: LoadedConfig | None = None
        self.last_error = ""
        self.source = ""  # where the configuration in force came from: "disk" or "pushed"
        self._seen_digest = ""  # of the files on disk, last time they were read
        self._served: deque[str] = deque(maxlen=SERVED_MEMORY)

    def load_initial(self) -> LoadedConfig:
        self.current = load_config(self.config_dir)
        self._seen_digest = self.current.digest
        self._served.append(self.current.digest)
        self.source = "disk"
        return self.current

    def poll(self) -> LoadedConfig | None:
        """A new valid configuration on disk, or None (unchanged, served before, or bad: last good kept)."""
        try:
            files = _read(self.config_dir)
            digest = files_digest(files)
        except (OSError, ConfigError) as error:
            self._bad(str(error), "")
            return None
        if digest == self._seen_digest:
            return None
        self._seen_digest = digest
        if digest in self._served:
            return None  # the kubelet caught up with a push (or with an older one): nothing new
        try:
            loaded = parse_files(files, str(self.config_dir), self.current, digest)
        except ConfigError as error:
            self._bad(str(error), digest)
            return None
        return self._take(loaded, "disk")

    def push(
        self, files: Mapping[str, str], base: str | None = None, removed: Sequence[str] = ()
    ) -> LoadedConfig | None:
        """Take a configuration the operator pushed; None when it is the one in force already.
        ConfigError (nothing changed) when it does not validate.

        With `base` (the digest of the configuration in force), `files` are only the files that
        changed and `removed` the ones that went: the rest is taken from the configuration in
        force (an edit to one link sends one shard, not megabytes). BaseMismatch when the pod
        serves something else (the operator then sends every file)."""
        if base is not None:
            current = self.current
            if current is None or current.digest != base:
                raise BaseMismatch(
                    f"the configuration in force is {current.digest if current else 'none'}, not {base}"
                )
            files = {**{k: v for k, v in current.files.items() if k not in removed}, **files}
        digest = files_digest(files)
        if self.current is not None and digest == self.current.digest:
            return None
        return self._take(parse_files(files, "pushed", self.current, digest), "pushed")

    def _take(self, loaded: LoadedConfig, source: str) -> LoadedConfig:
        self.current = loaded
        self.source = source
        self.last_error = ""
        if loaded.digest in self._served:
            self._served.remove(loaded.digest)
        self._served.append(loaded.digest)
        log.info(
            "configuration loaded source=%s digest=%s trunks=%d links=%d",
            source, loaded.digest, len(loaded.config.trunks.trunks), len(loaded.config.links.links),
        )
        return loaded

    def _bad(self, message: str, digest: str) -> None:
        if message != self.last_error:
            log.error("configuration rejected, keeping the last good one error=%s", message)
        self.last_error = message
        if digest:
            self._seen_digest = digest
