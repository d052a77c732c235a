"""Schema of the configuration the operator renders and the signalling server loads.

The operator writes it into the GuestCluster's ConfigMap as three JSON files; the pods mount it
as a directory (`guestgate signal --config-dir DIR`). Everything is camelCase JSON on disk, the
same pydantic models on both sides, so the two can never disagree about a field.

- cluster.json: settings a pod needs at start (ports, transports, ICE, limits). A change to it
  rolls the pods (its hash is in the pod template).
- trunks.json: one TrunkProfile per SipTrunk of the cluster. Reloaded live.
- links.json: the published GuestLinks and the paths of withdrawn (disabled) ones. Reloaded live.
  Compact JSON, and sharded once it grows: a ConfigMap holds at most 1 MiB, so past
  LINK_SHARD_BYTES the links are spread by a hash of their id over links.json, links-1.json, ...
  (each shard file in a ConfigMap of its own, all projected into the one config dir).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel

CLUSTER_FILE = "cluster.json"
TRUNKS_FILE = "trunks.json"
LINKS_FILE = "links.json"
CONFIG_FILES = (CLUSTER_FILE, TRUNKS_FILE, LINKS_FILE)
# links.json is shard 0; shards 1.. are links-<n>.json. A shard's target size leaves room under
# the 1 MiB of a ConfigMap for the unevenness of the hash; 16 shards carry ~10 MiB of links.
MAX_LINK_SHARDS = 16
LINK_SHARD_BYTES = 640 * 1024
LINK_SHARD_FILE = re.compile(r"links-([1-9][0-9]*)\.json")


def link_shard_file(index: int) -> str:
    return LINKS_FILE if index == 0 else f"links-{index}.json"


def is_links_file(name: str) -> bool:
    return name == LINKS_FILE or LINK_SHARD_FILE.fullmatch(name) is not None


def link_shard_count(size: int) -> int:
    """How many shard files carry links whose compact entries take `size` characters."""
    return min(MAX_LINK_SHARDS, max(1, math.ceil(size / LINK_SHARD_BYTES)))


def links_shard_text(links: Iterable[str], withdrawn: Iterable[str]) -> str:
    """A links shard file from its entries' compact JSON, in order."""
    return '{"links":[' + ",".join(links) + '],"withdrawn":[' + ",".join(withdrawn) + "]}\n"


def link_shard(link_id: str, shards: int) -> int:
    """The shard of a link: stable across processes and runs (not Python's salted hash())."""
    return _link_hash(link_id) % shards


@functools.lru_cache(maxsize=65536)
def _link_hash(link_id: str) -> int:
    """Remembered: every render shards every link again (10,000 hashes per edit otherwise)."""
    return int.from_bytes(hashlib.sha256(link_id.encode()).digest()[:8], "big")


# Where the pod finds its secrets (mounted by the StatefulSet); relative to the secrets dir.
SIGNING_KEY_FILE = "signing/key"
ADMIN_TOKEN_FILE = "admin/token"
TURN_SECRET_FILE = "turn/sharedSecret"
CREDENTIALS_DIR = "credentials"  # <trunk credentialsKey>.username / .password


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=2) + "\n"


class PeerConfig(ConfigModel):
    host: str
    port: int = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"

    def hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class AuthConfig(ConfigModel):
    # Files <secrets-dir>/credentials/<credentials_key>.username and .password
    credentials_key: str
    realm: str | None = None


class EarlyMediaConfig(ConfigModel):
    local_ringback: Literal["auto", "always", "never"] = "auto"
    disable_on_180: bool = Field(default=False, alias="disableOn180")


class SessionTimerConfig(ConfigModel):
    enabled: bool = True
    expires: int = 1800
    min_se: int = Field(default=90, alias="minSE")


class KeepaliveConfig(ConfigModel):
    interval_seconds: int = 30
    failure_threshold: int = 3


class DestinationConfig(ConfigModel):
    name: str
    number: str


class HealthCheckConfig(ConfigModel):
    destinations: tuple[DestinationConfig, ...] = ()
    interval_seconds: int = 0
    timeout_seconds: int = 30
    min_media_seconds: int = 3


class TrunkProfile(ConfigModel):
    """Everything a pod needs to run one SipTrunk."""

    id: str  # "<namespace>/<name>", unique in the cluster
    namespace: str
    name: str
    peers: tuple[PeerConfig, ...]  # the peer first, then the fallbacks in order
    platform: str = "generic"
    auth: AuthConfig | None = None
    prack: Literal["supported", "require"] = "supported"
    early_media: EarlyMediaConfig = EarlyMediaConfig()
    codecs: tuple[str, ...] = ("PCMU", "PCMA", "G722")
    dtmf: Literal["rfc4733", "sip-info", "inband"] = "rfc4733"
    session_timer: SessionTimerConfig = SessionTimerConfig()
    keepalive: KeepaliveConfig = KeepaliveConfig()
    health_check: HealthCheckConfig = HealthCheckConfig()

    def hash(self) -> str:
        return content_hash(self.to_json())


class BrandingConfig(ConfigModel):
    """The look of the link pages (GuestCluster branding, or a link's override of some fields)."""

    title: str | None = None
    logo_url: str | None = Field(default=None, alias="logoURL")
    logo_file: str | None = None  # relative to the config dir: brand/<configmap>/<key> (projected)
    logo_alt: str | None = None
    accent: str | None = None  # #rrggbb
    background: str | None = None  # #rrggbb
    text: str | None = None

    def over(self, base: BrandingConfig | None) -> BrandingConfig:
        """This (a link's) branding over the cluster's: each field set here wins; a logo is one
        field (a link's URL replaces the cluster's ConfigMap image and the other way round)."""
        if base is None:
            return self
        own = self.model_dump(exclude_none=True)
        if self.logo_url or self.logo_file:
            base = base.model_copy(update={"logo_url": None, "logo_file": None, "logo_alt": None})
        return base.model_copy(update=own)


class AccessConfig(ConfigModel):
    require_token: bool = False
    allowed_origins: tuple[str, ...] = ()
    max_concurrent_calls: int = 10
    calls_per_minute_per_ip: int = Field(default=6, alias="callsPerMinutePerIP")


class LinkConfig(ConfigModel):
    """A published GuestLink. Pods enforce the validity window themselves (410 outside it)."""

    id: str  # "<namespace>/<name>"
    namespace: str
    name: str
    path: str  # "/call/<namespace>/<name>" or "/call/<slug>"
    url: str
    trunk: str  # TrunkProfile.id
    destination: str
    display_name: str
    caller_name: str | None = None
    auto_call_after_seconds: int | None = None
    language: str | None = None  # en, de, fr, es; None: the visitor's Accept-Language
    branding: BrandingConfig | None = None  # the link's own fields, over the cluster's
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    audio: bool = True
    video: bool = False
    # Video of relayed calls: sendrecv, recvonly, inactive (the link's, else its cluster's media.videoPolicy)
    video_policy: str = "inactive"
    access: AccessConfig = AccessConfig()


class WithdrawnLink(ConfigModel):
    """A disabled link: no longer published, but its URL answers 403 with a friendly page."""

    path: str
    display_name: str


class SipListenConfig(ConfigModel):
    port: int = 5060
    tls_port: int = 5061
    transports: tuple[Literal["udp", "tcp", "tls"], ...] = ("udp", "tcp")
    external_address: str | None = None
    tls_cert_dir: str | None = None  # relative to the secrets dir: tls.crt, tls.key


class WebConfig(ConfigModel):
    port: int = 8080
    tls_cert_dir: str | None = None
    allowed_origins: tuple[str, ...] = ()


class IceConfig(ConfigModel):
    stun_urls: tuple[str, ...] = Field(default=(), alias="stunURLs")
    turn_urls: tuple[str, ...] = Field(default=(), alias="turnURLs")
    turn_secret: bool = False  # the TURN shared secret is mounted at TURN_SECRET_FILE
    ice_transport_policy: Literal["all", "relay"] = "all"


class LimitsConfig(ConfigModel):
    max_calls_per_pod: int = 100
    new_calls_per_second_per_pod: int = 10


class ClusterConfig(ConfigModel):
    """Pod-start settings of a GuestCluster."""

    namespace: str
    name: str
    public_url: str = Field(alias="publicURL")
    admin_port: int = 9090
    sip: SipListenConfig = SipListenConfig()
    web: WebConfig = WebConfig()
    ice: IceConfig = IceConfig()
    limits: LimitsConfig = LimitsConfig()
    log_level: str = "info"
    branding: BrandingConfig | None = None  # read live by the pages: not part of the pod-start hash

    def pod_start_hash(self) -> str:
        """Hash of what a pod reads only when it starts: a change rolls the pods. Branding is
        read by the pages on each request (the ConfigMap reaches running pods), so it is left out."""
        return content_hash(self.model_copy(update={"branding": None}).to_json())


class TrunksFile(ConfigModel):
    trunks: tuple[TrunkProfile, ...] = ()


class LinksFile(ConfigModel):
    links: tuple[LinkConfig, ...] = ()
    withdrawn: tuple[WithdrawnLink, ...] = ()
    # The operator's render (render.link_memo.RenderMemo) hands the links over as the shard files'
    # text, made from each link's compact JSON kept from render to render, without 10,000 models;
    # `links` and `withdrawn` are then empty, count() and the logos say what they would hold.
    _rendered: tuple[int, tuple[str, ...], dict[str, str]] | None = PrivateAttr(default=None)
    _by_path: tuple[dict[str, LinkConfig], dict[str, WithdrawnLink]] | None = PrivateAttr(default=None)
    _parts: tuple[LinksFile, ...] | None = PrivateAttr(default=None)  # the shards it was joined from

    @staticmethod
    def compact(entry: ConfigModel) -> str:
        return _compact(entry)

    @classmethod
    def rendered(cls, count: int, logos: Sequence[str], files: Mapping[str, str]) -> LinksFile:
        """Links already rendered: how many are published, their logos, the shard files."""
        made = cls()
        made._rendered = (count, tuple(logos), dict(files))
        return made

    def count(self) -> int:
        """Links published."""
        return self._rendered[0] if self._rendered is not None else len(self.links)

    def logo_files(self) -> tuple[str, ...]:
        if self._rendered is not None:
            return self._rendered[1]
        return tuple(link.branding.logo_file for link in self.links if link.branding and link.branding.logo_file)

    def shard_files(self) -> dict[str, str]:
        """links.json, and links-1.json... when the links need more than one shard; compact JSON.

        Every shard file is written, empty ones included, so a shard that empties is replaced
        rather than left stale."""
        if self._rendered is not None:
            return dict(self._rendered[2])
        links = [(link.id, _compact(link)) for link in self.links]
        withdrawn = [(item.path, _compact(item)) for item in self.withdrawn]
        shards = link_shard_count(sum(len(text) + 1 for _, text in links + withdrawn))
        parts: list[tuple[list[str], list[str]]] = [([], []) for _ in range(shards)]
        for link_id, text in links:
            parts[link_shard(link_id, shards)][0].append(text)
        for path, text in withdrawn:
            parts[link_shard(path, shards)][1].append(text)
        return {link_shard_file(index): links_shard_text(own, gone) for index, (own, gone) in enumerate(parts)}

    def find(self, path: str) -> LinkConfig | WithdrawnLink | None:
        """The first link at `path`, else the first withdrawn link there (paths compared as
        "/" + path.strip("/")); by an index built on first use, not a scan of every link. A file
        joined from shards (PublishedConfig.from_files_reusing) asks each shard's own index: a
        pushed edit builds the index of the one shard it changed, not of 10,000 links."""
        key = _path_key(path)
        if self._parts is not None:
            # Links are in id order across the shards: the first link at the path is the one with
            # the least id; withdrawn links are in shard order.
            found = [link for part in self._parts if (link := part._indexes()[0].get(key)) is not None]
            if found:
                return min(found, key=attrgetter("id"))
            return next((gone for part in self._parts if (gone := part._indexes()[1].get(key)) is not None), None)
        links, withdrawn = self._indexes()
        return links.get(key) or withdrawn.get(key)

    def _indexes(self) -> tuple[dict[str, LinkConfig], dict[str, WithdrawnLink]]:
        """Path -> the first link, path -> the first withdrawn link; built once."""
        if self._by_path is None:
            links: dict[str, LinkConfig] = {}
            for link in self.links:
                links.setdefault(_path_key(link.path), link)
            withdrawn: dict[str, WithdrawnLink] = {}
            for gone in self.withdrawn:
                withdrawn.setdefault(_path_key(gone.path), gone)
            self._by_path = (links, withdrawn)
        return self._by_path

    @classmethod
    def joined(cls, parts: Sequence[LinksFile]) -> LinksFile:
        """The shards' links as one file (links by id, withdrawn in shard order), without
        validating again what each shard validated."""
        if len(parts) == 1:
            return parts[0]
        links = [link for part in parts for link in part.links]
        links.sort(key=attrgetter("id"))
        withdrawn = tuple(gone for part in parts for gone in part.withdrawn)
        made = cls.model_construct(links=tuple(links), withdrawn=withdrawn)
        made._parts = tuple(parts)
        return made


class PublishedConfig(ConfigModel):
    """The whole rendered configuration of one GuestCluster."""

    cluster: ClusterConfig
    trunks: TrunksFile = TrunksFile()
    links: LinksFile = LinksFile()

    def logo_files(self) -> tuple[str, ...]:
        """Logo images the pods serve from their config dir (ConfigMap keys projected there)."""
        own = {self.cluster.branding.logo_file} if self.cluster.branding and self.cluster.branding.logo_file else set()
        return tuple(sorted(own | set(self.links.logo_files())))

    def files(self) -> dict[str, str]:
        """The files of the config dir: cluster.json, trunks.json and the links shard files."""
        return {CLUSTER_FILE: self.cluster.to_json(), TRUNKS_FILE: self.trunks.to_json(), **self.link_files()}

    def link_files(self) -> dict[str, str]:
        """The links shard files (LinksFile.shard_files)."""
        return self.links.shard_files()

    @classmethod
    def from_files(cls, files: dict[str, str]) -> PublishedConfig:
        """Parse the files back (links from every shard file, in shard order); raises
        pydantic.ValidationError or ValueError on bad content."""
        return cls.from_files_reusing(files, {})[0]

    @classmethod
    def from_files_reusing(
        cls,
        files: Mapping[str, str],
        known: Mapping[str, tuple[str, LinksFile]],
        decoded: Mapping[str, Any] | None = None,
    ) -> tuple[PublishedConfig, dict[str, tuple[str, LinksFile]]]:
        """from_files, reusing the links shards parsed before (`known`: name -> (text, parsed)):
        a shard whose text did not change is not parsed again, so an edit to one link costs one
        shard's parse, not all 10,000 links'. `decoded`: files the caller has json.loads-ed
        already (not decoded twice). Returns the shards of this configuration too."""
        decoded = decoded or {}

        def load(name: str, default: str = "{}") -> Any:
            return decoded[name] if name in decoded else json.loads(files.get(name, default))

        parts: list[LinksFile] = []
        shards: dict[str, tuple[str, LinksFile]] = {}
        for name in sorted((n for n in files if is_links_file(n)), key=_shard_index):
            text = files[name]
            before = known.get(name)
            if before is not None and (before[0] is text or before[0] == text):
                shard = before[1]
            else:
                shard = LinksFile.model_validate(load(name))
            shards[name] = (text, shard)
            parts.append(shard)
        config = cls(
            cluster=ClusterConfig.model_validate(load(CLUSTER_FILE)),
            trunks=TrunksFile.model_validate(load(TRUNKS_FILE)),
            links=LinksFile.joined(parts) if parts else LinksFile(),
        )
        return config, shards


def _path_key(path: str) -> str:
    return "/" + path.strip("/")


def _compact(model: ConfigModel) -> str:
    return model.model_dump_json(by_alias=True, exclude_none=True)


def _shard_index(name: str) -> int:
    match = LINK_SHARD_FILE.fullmatch(name)
    return int(match.group(1)) if match else 0


def content_hash(text: str) -> str:
    """Short stable hash used in annotations and status (sha256, 16 hex digits)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def files_digest(files: Mapping[str, str]) -> str:
    """Digest of a config dir's files (name and content of each): what a pod reports it serves
    (`/v1/status` config.digest) and what the operator compares it with."""
    sha = hashlib.sha256()
    for name in sorted(files):
        sha.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return sha.hexdigest()[:16]
