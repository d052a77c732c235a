"""GuestCluster: the signalling pods, their Services, configuration and web front end."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from guestgate.api.branding import Branding
from guestgate.api.common import (
    CONDITIONS_DESCRIPTION,
    DNS_SUBDOMAIN,
    HTTP_URL,
    ORIGIN,
    Condition,
    Model,
    VideoPolicy,
    schema_extra,
)
from guestgate.config.rtp import ENGINE_RTP_FIRST, ENGINE_RTP_LAST

DEFAULT_SIGNAL_IMAGE = "ghcr.io/guestgate/signal:0.1.0"
DEFAULT_TURN_IMAGE = "ghcr.io/guestgate/turn:0.1.0"
DEFAULT_MEDIA_IMAGE = "ghcr.io/guestgate/media:0.1.0"
# Fewer replicas than this give no redundancy: one pod down during a rollout is half the capacity
# with two pods, and a zone or node outage takes everything with one.
REDUNDANT_REPLICAS = 3

Transport = Literal["udp", "tcp", "tls"]
Quantity = int | str


class SipSettings(Model):
    """How the signalling pods speak SIP."""

    port: int = Field(default=5060, ge=1, le=65535, description="SIP port of every pod (UDP and TCP).")
    tls_port: int = Field(default=5061, ge=1, le=65535, description="SIP over TLS port, when tls is enabled.")
    transports: list[Transport] = Field(
        default_factory=lambda: list[Transport](["udp", "tcp"]),
        min_length=1,
        max_length=3,
        description="SIP transports the pods listen on: udp, tcp, tls.",
        json_schema_extra=schema_extra(
            ("self.all(t, self.exists_one(u, u == t))", "transports must be unique")
        ),
    )
    external_address: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[A-Za-z0-9.:-]+$",
        description="Address written into SDP and Contact when the pods sit behind NAT "
        "(a public IP or host name). Empty: the pod's own address.",
    )
    tls_secret_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN,
        max_length=253,
        description="Secret of type kubernetes.io/tls with the SIP TLS certificate; required for tls.",
    )


class WebSettings(Model):
    """The web front end: link pages and the WebRTC signalling."""

    port: int = Field(default=8080, ge=1, le=65535, description="HTTP(S) port of link pages on every pod.")
    tls_secret_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN,
        max_length=253,
        description="Secret of type kubernetes.io/tls for HTTPS; empty when TLS ends at an ingress.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="Origins (scheme://host[:port]) allowed to open the signalling connection for "
        "every link; empty allows the publicURL's own origin only.",
        json_schema_extra={"items": {"type": "string", "pattern": ORIGIN, "maxLength": 253}},
    )


class IceSettings(Model):
    """ICE servers handed to browsers."""

    stun_urls: list[str] = Field(
        default_factory=list,
        alias="stunURLs",
        max_length=8,
        description="STUN server URLs, e.g. stun:stun.example.com:3478.",
        json_schema_extra={"items": {"type": "string", "pattern": r"^stuns?:[^\s]+$", "maxLength": 253}},
    )
    turn_urls: list[str] = Field(
        default_factory=list,
        alias="turnURLs",
        max_length=8,
        description="TURN server URLs, e.g. turn:turn.example.com:3478?transport=udp.",
        json_schema_extra={"items": {"type": "string", "pattern": r"^turns?:[^\s]+$", "maxLength": 253}},
    )
    turn_secret_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN,
        max_length=253,
        description="Secret with key `sharedSecret`: the TURN REST API secret used to mint "
        "time-limited TURN credentials for each browser (and checked by the managed TURN server). "
        "Empty: the operator generates <cluster>-turn-secret when spec.turn is enabled.",
    )
    ice_transport_policy: Literal["all", "relay"] = Field(
        default="all",
        description="RTCPeerConnection iceTransportPolicy of the link pages: all (direct, STUN and "
        "TURN candidates) or relay (media only through TURN, as behind a strict firewall).",
    )


class Limits(Model):
    """Per-pod protection against overload."""

    max_calls_per_pod: int = Field(
        default=100, ge=1, le=10000, description="Maximum concurrent calls per pod."
    )
    new_calls_per_second_per_pod: int = Field(
        default=10, ge=1, le=1000, description="Maximum new calls per second per pod."
    )


class Resources(Model):
    """Compute resources of each signalling pod (as in a container's resources)."""

    requests: dict[str, Quantity] = Field(
        default_factory=lambda: dict[str, Quantity]({"cpu": "100m", "memory": "128Mi"}),
        description="Minimum resources, e.g. {cpu: 100m, memory: 128Mi}.",
    )
    limits: dict[str, Quantity] = Field(
        default_factory=lambda: dict[str, Quantity]({"memory": "512Mi"}),
        description="Maximum resources, e.g. {memory: 512Mi}."
    )


ServiceType = Literal["LoadBalancer", "NodePort", "HostNetwork"]


class PortRange(Model):
    """A range of UDP ports, both ends included."""

    model_config = ConfigDict(json_schema_extra=schema_extra(("self.min <= self.max", "min must not exceed max")))

    min: int = Field(default=49152, ge=1024, le=65535, description="First port.")
    max: int = Field(default=65535, ge=1024, le=65535, description="Last port.")


class TurnQuotas(Model):
    """Allocation quotas of the TURN server (coturn user-quota, total-quota, max-bps)."""

    per_user: int = Field(
        default=10, ge=0, le=10000,
        description="Allocations one TURN user (one link's credentials) may hold at once; 0: no limit.",
    )
    total: int = Field(default=2000, ge=0, le=1000000, description="Allocations the server holds at once; 0: no limit.")
    max_bps: int = Field(
        default=0, ge=0, le=1_000_000_000, description="Bytes per second one allocation may relay; 0: no limit."
    )


class TurnSettings(Model):
    """The managed TURN edge (coturn): the one address a visitor's browser must reach for media.

    It relays only to the signalling pods' media ports (a dynamic allow-list of the pods'
    addresses, everything else denied, and a NetworkPolicy); credentials are the TURN REST API
    form minted by the pods with the cluster's shared secret (ice.turnSecretName)."""

    model_config = ConfigDict(
        json_schema_extra=schema_extra(
            (
                "self.serviceType != 'HostNetwork' || self.replicas == 1",
                "turn.replicas must be 1 with serviceType HostNetwork (one TURN pod per node address)",
            ),
        )
    )

    enabled: bool = Field(default=True, description="Run the managed TURN server (coturn).")
    image: str = Field(default=DEFAULT_TURN_IMAGE, min_length=1, max_length=512, description="TURN server image.")
    replicas: int = Field(default=1, ge=1, le=20, description="TURN server pods.")
    service_type: ServiceType = Field(
        default="LoadBalancer",
        description="How visitors reach the TURN server: a LoadBalancer Service, a NodePort Service, or "
        "HostNetwork (the pod listens on its node's addresses, as jambonz and LiveKit run media).",
    )
    external_address: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[A-Za-z0-9.:-]+$",
        description="Address (IP or host name) visitors reach the TURN server at, written into the "
        "page's TURN URLs. Empty: the LoadBalancer's address; required for NodePort and HostNetwork.",
    )
    port: int = Field(default=3478, ge=1024, le=65535, description="TURN port (UDP and TCP).")
    tls_port: Literal[5349, 443] = Field(
        default=5349, description="TURN over TLS port: 5349, or 443 to pass strict firewalls."
    )
    tls_secret_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN,
        max_length=253,
        description="Secret of type kubernetes.io/tls (cert-manager writes such Secrets) for TURN over TLS; "
        "empty: no TLS listener and no turns: URL.",
    )
    realm: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="TURN realm. Empty: the publicURL's host name.",
    )
    relay_ports: PortRange = Field(
        default_factory=PortRange, description="UDP ports the TURN server relays from (coturn min-port/max-port)."
    )
    quotas: TurnQuotas = Field(default_factory=TurnQuotas, description="Allocation quotas.")
    resources: Resources = Field(
        default_factory=lambda: Resources(requests={"cpu": "100m", "memory": "64Mi"}, limits={"memory": "256Mi"}),
        description="Compute resources of each TURN pod.",
    )


class MediaSettings(Model):
    """The media relay (Sipwise rtpengine, userspace), a sidecar of every signalling pod: every
    browser call's audio and video go through it untouched (transcoded only when the page and the
    trunk share no codec); the signalling container carries no media of its own."""

    # rtpengine and the SIP engine's own RTP share the pod's network namespace.
    model_config = ConfigDict(
        json_schema_extra=schema_extra(
            (
                f"self.ports.max < {ENGINE_RTP_FIRST} || self.ports.min > {ENGINE_RTP_LAST}",
                f"media.ports must stay clear of {ENGINE_RTP_FIRST}-{ENGINE_RTP_LAST}, the SIP engine's RTP ports",
            ),
        )
    )

    @model_validator(mode="before")
    @classmethod
    def _retired_relay(cls, data: Any) -> Any:
        """`relay` (on/off) is gone: every pod runs the relay. A GuestCluster stored with it (an
        older CRD still in the cluster: Helm never upgrades CRDs) is read as if it were not there,
        rather than refused as invalid."""
        if isinstance(data, dict) and "relay" in data:
            return {k: v for k, v in data.items() if k != "relay"}
        return data

    image: str = Field(default=DEFAULT_MEDIA_IMAGE, min_length=1, max_length=512, description="rtpengine image.")
    ports: PortRange = Field(
        default_factory=lambda: PortRange(min=30000, max=30999),
        description="UDP ports rtpengine relays on (four per call: RTP and RTCP towards the browser and the trunk).",
    )
    advertised_address: str | None = Field(
        default=None,
        max_length=45,
        pattern=r"^[0-9A-Fa-f.:]+$",
        description="IP address rtpengine writes into SDP when peers reach the pods at another address "
        "(a node's or a load balancer's). Empty: the pod's own address.",
    )
    video_policy: VideoPolicy = Field(
        default="sendrecv",
        description="Video of a browser call, as Jabber Guest's videoPolicy: sendrecv (the visitor sends and "
        "receives), recvonly (the visitor only watches), inactive (audio only). A GuestLink may override it.",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(requests={"cpu": "50m", "memory": "32Mi"}, limits={"memory": "256Mi"}),
        description="Compute resources of the rtpengine container.",
    )


GUESTCLUSTER_RULES = (
    (
        "!('tls' in self.sip.transports) || has(self.sip.tlsSecretName)",
        "sip.tlsSecretName is required when sip.transports contains tls",
    ),
    (
        "size(self.ice.turnURLs) == 0 || has(self.ice.turnSecretName)",
        "ice.turnSecretName is required when ice.turnURLs is set (TURN needs time-limited credentials)",
    ),
    ("self.sip.port != self.web.port", "sip.port and web.port must differ"),
)


class GuestClusterSpec(Model):
    """Desired state of a GuestCluster."""

    model_config = ConfigDict(json_schema_extra=schema_extra(*GUESTCLUSTER_RULES))

    replicas: int = Field(
        default=REDUNDANT_REPLICAS,
        ge=1,
        le=50,
        description="Number of signalling pods. Fewer than 3 works but gives no redundancy "
        "(the Redundant condition turns False).",
    )
    image: str = Field(
        default=DEFAULT_SIGNAL_IMAGE, min_length=1, max_length=512, description="Signalling pod image."
    )
    public_url: str = Field(
        alias="publicURL",
        max_length=2048,
        pattern=HTTP_URL,
        description="Base URL visitors reach the pods at; link URLs are <publicURL>/call/... .",
    )
    sip: SipSettings = Field(default_factory=SipSettings, description="SIP settings of the pods.")
    web: WebSettings = Field(default_factory=WebSettings, description="Web front end settings.")
    ice: IceSettings = Field(default_factory=IceSettings, description="STUN and TURN servers for browsers.")
    turn: TurnSettings = Field(default_factory=TurnSettings, description="The managed TURN edge (coturn).")
    limits: Limits = Field(default_factory=Limits, description="Per-pod call limits.")
    media: MediaSettings = Field(default_factory=MediaSettings, description="The media relay of the pods.")
    resources: Resources = Field(default_factory=Resources, description="Pod compute resources.")
    branding: Branding | None = Field(
        default=None,
        description="The enterprise's look on every link page (title, logo, colours, short text); "
        "a GuestLink may override each field.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level of the signalling pods."
    )


class GuestClusterStatus(Model):
    """Observed state of a GuestCluster."""

    conditions: list[Condition] = Field(default_factory=list, description=CONDITIONS_DESCRIPTION)
    observed_generation: int = Field(default=0, ge=0, description="The generation last reconciled.")
    replicas: int = Field(default=0, ge=0, description="Signalling pods that exist.")
    ready_replicas: int = Field(default=0, ge=0, description="Signalling pods that are ready.")
    link_base_url: str = Field(default="", alias="linkBaseURL", description="Base of the links' URLs.")
    config_hash: str = Field(default="", description="Hash of the configuration published to the pods.")
    config_digest: str = Field(
        default="", description="Digest of the configuration the pods should serve (config.digest of their /v1/status)."
    )
    pods_serving_config: int = Field(
        default=0, ge=0, description="Ready signalling pods that serve the current configuration (configDigest)."
    )
    trunks: int = Field(default=0, ge=0, description="SipTrunks published in the configuration.")
    links: int = Field(default=0, ge=0, description="GuestLinks published (enabled and valid now).")
    turn_address: str = Field(
        default="", description="Where visitors reach the managed TURN server (host:port), once known."
    )
