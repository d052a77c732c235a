"""SipTrunk -> trunk profile: every field the pods need, in the order the user gave."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.render.profile import render_trunk_profile

from .objects import trunk


@pytest.mark.parametrize(
    ("case", "spec", "check"),
    [
        ("defaults", {}, lambda p: (p.prack, p.codecs, p.dtmf, p.early_media.local_ringback)
         == ("supported", ("PCMU", "PCMA", "G722"), "rfc4733", "auto")),
        ("peer then fallbacks in order", {"fallbackPeers": [{"host": "b", "port": 5070, "transport": "tcp"},
                                                           {"host": "c"}]},
         lambda p: [x.hostport() for x in p.peers] == ["10.0.0.1:5060", "b:5070", "c:5060"]),
        ("require 100rel", {"prack": "require"}, lambda p: p.prack == "require"),
        ("codec order kept", {"codecs": ["G722", "PCMA"]}, lambda p: p.codecs == ("G722", "PCMA")),
        ("early media", {"earlyMedia": {"localRingback": "always", "disableOn180": True}},
         lambda p: (p.early_media.local_ringback, p.early_media.disable_on_180) == ("always", True)),
        ("auth becomes a credentials key, never the secret itself", {"auth": {"secretName": "creds"}},
         lambda p: p.auth is not None and p.auth.credentials_key == "team.cucm"),
        ("health check destinations", {"healthCheck": {"destinations": [{"name": "local", "number": "2001"}],
                                                        "intervalSeconds": 300}},
         lambda p: [(d.name, d.number) for d in p.health_check.destinations] == [("local", "2001")]
         and p.health_check.interval_seconds == 300),
        ("session timer", {"sessionTimer": {"expires": 600, "minSE": 120}},
         lambda p: (p.session_timer.expires, p.session_timer.min_se) == (600, 120)),
        ("platform", {"platform": "cube"}, lambda p: p.platform == "cube"),
    ],
)
def test_trunk_profile(case: str, spec: dict[str, Any], check: object) -> None:
    profile = render_trunk_profile(trunk(**spec))
    assert callable(check)
    assert check(profile), case
    assert profile.id == "team/cucm"


def test_profile_hash_changes_with_the_profile_only() -> None:
    a = render_trunk_profile(trunk()).hash()
    assert a == render_trunk_profile(trunk()).hash()
    assert a != render_trunk_profile(trunk(prack="require")).hash()
