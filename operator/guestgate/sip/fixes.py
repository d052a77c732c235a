"""What to change on each side for each finding, worded for the platform that side runs (pure).

One row per catalogue code: the caller's fix and the callee's fix per platform, with "generic"
as the fallback. Templates take ``{placeholders}`` filled from the finding (Min-SE, codecs, the
dialled number...). Commands come from sip-field-guide.md and the vendors' documentation; keep
them short enough to paste.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

PerPlatform = Mapping[str, str]

_NOTHING = "nothing to change on this side for this finding"

FIXES: Final[dict[str, tuple[PerPlatform, PerPlatform]]] = {
    "OK": ({"generic": _NOTHING}, {"generic": _NOTHING}),
    "PEER_UNREACHABLE": (
        {
            "guestgate": "check spec.peer (host, port, transport) and that no firewall or NetworkPolicy "
                         "drops SIP from the signalling pods to it",
            "cube": "check `session target` and transport on the outbound dial-peer; "
                    "`voice-class sip options-keepalive` marks it busy-out while the peer is silent",
            "cucm": "check the SIP Trunk destination address, port and the SIP Trunk Security Profile "
                    "transport; reset the trunk after changes",
            "asterisk": "check the aor `contact` and transport; `qualify_frequency` shows it Unreachable",
            "freeswitch": "check the gateway `proxy`/`realm` and transport; `sofia status gateway <name>`",
            "kamailio": "check the dispatcher destination and `ds_ping_interval` state, and the route to it",
            "generic": "check the destination address, port and transport, and any firewall in between",
        },
        {
            "guestgate": "make sure the signalling Service is reachable on the SIP port and transport "
                         "the peer uses",
            "cucm": "CUCM only accepts SIP from addresses configured as trunk destinations: add the "
                    "caller's address to the SIP Trunk, check the security profile's incoming port",
            "cube": "allow the caller under `voice service voip` / `ip address trusted list` and check "
                    "the SIP bind interface (`voice-class sip bind control`)",
            "asterisk": "check the transport `bind` address/port and an `identify` section that matches "
                        "the caller's address",
            "freeswitch": "check the profile's `sip-ip`/`sip-port` and `apply-inbound-acl`",
            "kamailio": "check the `listen=` sockets and that `pike`/permissions do not block the caller",
            "generic": "make sure it listens on that address, port and transport and accepts the caller",
        },
    ),
    "PRACK_MISSING": (
        {
            "guestgate": "spec.prack: supported (GuestGate then answers every reliable 18x with PRACK)",
            "cucm": 'SIP Profile of the trunk (Device > Device Settings > SIP Profile): set "SIP Rel1XX '
                    'Options" to "Send PRACK for all 1xx Messages", then reset the SIP trunk',
            "cube": 'on the dial-peer toward the callee: `voice-class sip rel1xx supported "100rel"` '
                    '(or globally under `voice service voip` / `sip`: `rel1xx supported "100rel"`)',
            "asterisk": "pjsip.conf endpoint: `100rel = yes`",
            "freeswitch": 'sofia profile: `<param name="enable-100rel" value="true"/>`',
            "kamailio": "Kamailio only relays PRACK: check `topos` (known PRACK routing bugs) and "
                        "`record_route` so the caller's PRACK reaches the callee",
            "generic": "enable RFC 3262 (100rel) so every reliable 18x is answered with PRACK",
        },
        {
            "guestgate": "spec.prack: supported (not require): send 18x reliably only to callers that "
                         "support 100rel",
            "cube": 'on the dial-peer facing the caller: `voice-class sip rel1xx supported "100rel"` '
                    "(reliable 18x only when the caller offers 100rel) instead of `rel1xx require "
                    '"100rel"`, or `voice-class sip rel1xx disable`',
            "cucm": 'SIP Profile of the trunk toward the caller: "SIP Rel1XX Options" = "Disabled" '
                    "when the caller cannot PRACK, then reset the trunk",
            "asterisk": "pjsip.conf endpoint: `100rel = peer_supported` (or `no`) instead of `required`",
            "freeswitch": 'profile facing the caller: `<param name="enable-100rel" value="false"/>`',
            "kamailio": "the UAS sits behind Kamailio: check `topos`/`record_route` for PRACK, then the UAS",
            "generic": "send 18x reliably only when the INVITE says Supported: 100rel; RFC 3262 forbids "
                       "the 2xx before a reliable 18x with SDP is PRACKed",
        },
    ),
    "PRACK_MISSING_DOWNSTREAM": (
        {
            "generic": "nothing on this leg: the missing PRACK is on a hop behind the callee",
        },
        {
            "cube": "trace the other leg (`debug ccsip messages` on both dial-peers): the provider's "
                    "reliable 18x is not PRACKed there; set `voice-class sip rel1xx supported "
                    '"100rel"` on the outbound dial-peer',
            "cucm": "trace the next trunk CUCM routes this call to and set its SIP Profile's "
                    '"SIP Rel1XX Options" to "Send PRACK for all 1xx Messages"',
            "asterisk": "trace the outbound leg to the provider; check that endpoint's `100rel` option",
            "freeswitch": "trace the outbound gateway leg; check `enable-100rel` on its profile",
            "kamailio": "Kamailio relays the call: trace the UAS behind it ({callee_address}) and check "
                        "`topos`/`record_route` for PRACK on that leg",
            "guestgate": "trace the leg from GuestGate to its next hop; check spec.prack on that SipTrunk",
            "generic": "trace the callee's next leg toward the destination: a reliable 18x there was "
                       "never PRACKed",
        },
    ),
    "PRACK_UNANSWERED": (
        {
            "kamailio": "check `topos` and loose routing: the PRACK must follow the dialog's Route set",
            "generic": "check that the PRACK follows the dialog's Route set and that its RAck matches "
                       "the 18x (RSeq, CSeq, INVITE)",
        },
        {
            "cube": "`show sip-ua calls` while the call rings: a 481 means the dialog or RSeq is not "
                    'known; keep `rel1xx supported "100rel"` the same on both dial-peers',
            "kamailio": "check `topos` (known PRACK bugs) and `record_route`: the PRACK must reach the UAS",
            "generic": "answer every PRACK whose RAck matches a reliable 18x with 200; a 481 means the "
                       "dialog or RSeq was lost (a B2BUA or topology hiding in between?)",
        },
    ),
    "BAD_EXTENSION_100REL": (
        {
            "guestgate": "spec.prack: supported (not require)",
            "cube": 'on the dial-peer: `voice-class sip rel1xx supported "100rel"` instead of '
                    '`rel1xx require "100rel"`',
            "asterisk": "pjsip.conf endpoint: `100rel = yes` instead of `required`",
            "freeswitch": "do not add `Require: 100rel` (sip_h_Require) toward this peer",
            "generic": "only list 100rel in Supported, not in Require, toward this peer",
        },
        {
            "guestgate": "spec.prack: supported",
            "cucm": 'SIP Profile: "SIP Rel1XX Options" = "Send PRACK for all 1xx Messages", then reset '
                    "the SIP trunk",
            "cube": 'on the dial-peer: `voice-class sip rel1xx supported "100rel"`',
            "asterisk": "pjsip.conf endpoint: `100rel = yes`",
            "freeswitch": 'sofia profile: `<param name="enable-100rel" value="true"/>`',
            "generic": "enable RFC 3262 (100rel) support",
        },
    ),
    "NO_RINGBACK": (
        {
            "guestgate": "spec.earlyMedia.localRingback: always (play ringback until the answer when "
                         "the 18x brings no audio)",
            "cucm": 'SIP Profile: tick "Disable Early Media on 180" so the phone plays local ringback, '
                    "then reset the SIP trunk",
            "cube": "on the dial-peer facing the callee: `voice-class sip block 183 sdp absent` so a "
                    "183 without SDP does not stop the ringback made upstream",
            "asterisk": "dialplan: `Dial(...,r)` or `Ringing()` to make ringback toward the caller",
            "freeswitch": "set `ringback=${{us-ring}}` (and `instant_ringback=true`) before the bridge",
            "generic": "play local ringback while the callee alerts without sending audio",
        },
        {
            "cube": "on the dial-peer facing the caller: `voice-class sip block 183 sdp absent` "
                    "(and, with care, `voice-class sip block 180 sdp absent`)",
            "asterisk": "send 180 (`Ringing()`), or `inband_progress = yes` to send ringback as audio",
            "freeswitch": "send 180 while alerting, or pre-answer with `ringback=${{us-ring}}`",
            "generic": "send 180 Ringing while alerting, or send the early media the 18x's SDP promises",
        },
    ),
    "EARLY_MEDIA_ON_180": (
        {
            "guestgate": "spec.earlyMedia.disableOn180: true plays local ringback and ignores this SDP; "
                         "false plays the callee's early media",
            "cucm": 'SIP Profile "Disable Early Media on 180" decides: ticked, CUCM plays local ringback '
                    "and ignores this SDP",
            "cube": "`voice-class sip block 180 sdp present` on the dial-peer facing the callee turns "
                    "it into a plain 180 (local ringback)",
            "freeswitch": "`ignore_early_media=true` plays local ringback instead",
            "generic": "nothing, unless callers hear silence: then play local ringback on 180",
        },
        {
            "generic": "nothing required; send early media on 183 Session Progress if every caller "
                       "must hear it",
        },
    ),
    "CODEC_MISMATCH": (
        {
            "guestgate": "spec.codecs: [PCMU, PCMA, G722] (offer a codec the callee accepts: "
                         "{callee_codecs})",
            "cube": "`voice class codec 1` / `codec preference 1 g711ulaw` / `codec preference 2 "
                    "g711alaw`, then `voice-class codec 1` on the dial-peer",
            "cucm": "the Region's audio codec preference for the trunk, or tick \"Media Termination "
                    'Point Required" so an MTP/transcoder bridges codecs',
            "asterisk": "pjsip.conf endpoint: `allow = !all,ulaw,alaw,g722`",
            "freeswitch": "profile: `outbound-codec-prefs` = PCMU,PCMA,G722",
            "kamailio": "Kamailio does not choose codecs: fix the endpoints or rtpengine transcoding",
            "generic": "offer a codec the callee accepts (callee: {callee_codecs})",
        },
        {
            "guestgate": "spec.codecs: [PCMU, PCMA, G722] (accept a codec the caller offers: "
                         "{caller_codecs})",
            "cube": "add the caller's codec ({caller_codecs}) to the `voice class codec` of the "
                    "inbound dial-peer, or `transcoder` resources",
            "cucm": "allow the caller's codec ({caller_codecs}) in the Region of the trunk, or add an "
                    "MTP/transcoder to the trunk's Media Resource Group List",
            "asterisk": "pjsip.conf endpoint: `allow = !all,ulaw,alaw,g722`",
            "freeswitch": "profile: `inbound-codec-prefs` = PCMU,PCMA,G722",
            "kamailio": "Kamailio does not choose codecs: fix the UAS behind it",
            "generic": "accept a codec the caller offers ({caller_codecs})",
        },
    ),
    "AUTH_FAILED": (
        {
            "guestgate": "spec.auth.secretName: a Secret with the username and password the peer "
                         "expects; spec.auth.realm: {realm}",
            "cube": "`sip-ua` / `authentication username <user> password 0 <pw> realm {realm}` (or the "
                    "same in the `voice class tenant` of the dial-peer)",
            "cucm": "the digest credentials of the trunk (SIP Realm / Application User) for realm "
                    "{realm}",
            "asterisk": "endpoint `outbound_auth = <auth>` with `username`/`password` in that auth section",
            "freeswitch": "gateway params `username`, `password` (and `realm` {realm})",
            "generic": "configure the username and password the peer expects for realm {realm}",
        },
        {
            "cucm": "SIP Trunk Security Profile (Enable Digest Authentication) and the Application "
                    "User's digest credentials; a 403 often means the caller's address is not a "
                    "trunk destination",
            "cube": "`voice service voip` / `ip address trusted list` (a 403 often means the source "
                    "address is not trusted) and the configured credentials",
            "asterisk": "the endpoint's `auth` section, or `identify` by address to skip digest",
            "freeswitch": "the directory user or the profile's `auth-calls` / `apply-inbound-acl`",
            "kamailio": "auth_db credentials, or the permissions `address` table for IP trust",
            "generic": "check the credentials configured for this caller and any address list",
        },
    ),
    "DESTINATION_NOT_FOUND": (
        {
            "guestgate": "check the destination number the link or probe dials ({number})",
            "cube": "check translation profiles and the outbound dial-peer's `destination-pattern` "
                    "for {number}",
            "cucm": "check the route pattern and the called party transformations for {number}",
            "generic": "check the number sent in the Request-URI ({number}) and its prefix",
        },
        {
            "cucm": "a route pattern or directory number must match {number} in the trunk's inbound "
                    "Calling Search Space (mind Significant Digits)",
            "cube": "an `incoming called-number` dial-peer and an outbound `destination-pattern` must "
                    "match {number}",
            "asterisk": "the endpoint's `context` needs an extension matching {number}",
            "freeswitch": "the profile's dialplan `context` needs a condition matching {number}",
            "kamailio": "the location/dispatcher lookup finds nothing for {number}",
            "generic": "make the destination {number} routable",
        },
    ),
    "BUSY": (
        {"generic": "nothing to change; for health checks call a number that is always free "
                    "(an echo or test number)"},
        {
            "cube": "check `max-conn` on the dial-peer and `show call active voice brief`",
            "cucm": "check the line's Busy Trigger and Maximum Number of Calls",
            "asterisk": "check `device_state_busy_at` and any GROUP()/call limit",
            "freeswitch": "check `limit` in the dialplan and `max-sessions`",
            "generic": "check call limits on the destination",
        },
    ),
    "NO_ANSWER": (
        {"generic": "nothing to change; for health checks call a number that answers by itself "
                    "(an echo or test number)"},
        {
            "cucm": "check the device is registered, and Call Forward No Answer to voicemail",
            "asterisk": "check the device is registered (`pjsip show contacts`) and the Dial() timeout",
            "freeswitch": "check `sofia status profile <name> reg` and `call_timeout`",
            "generic": "check the called device is registered and forward unanswered calls",
        },
    ),
    "PEER_UNAVAILABLE": (
        {
            "guestgate": "retry after {retry_after}; list a second peer in spec.fallbackPeers to fail over to",
            "cube": "`voice-class sip options-keepalive` on the dial-peer and a second dial-peer with "
                    "a lower `preference` to hunt to",
            "cucm": 'a Route List with a second trunk, and "Enable OPTIONS Ping" on the SIP Profile',
            "generic": "retry after {retry_after} and fail over to another peer",
        },
        {
            "cube": "check `show call active voice brief`, dial-peer `max-conn`, call admission "
                    "control and `call threshold`",
            "cucm": "check that the route to the destination is in service and the location's "
                    "bandwidth (CAC)",
            "asterisk": "check `pjsip show endpoint <name>` and the log for why it answered 5xx",
            "freeswitch": "check `sofia status`, `max-sessions` and `sessions-per-second`",
            "kamailio": "check that the dispatcher set has an active destination "
                        "(`kamcmd dispatcher.list`) and that `pike` does not block the caller",
            "generic": "check why it refuses calls (overload, no route, limits)",
        },
    ),
    "SESSION_INTERVAL_TOO_SMALL": (
        {
            "guestgate": "spec.sessionTimer.expires: {min_se} or more (the Session-Expires GuestGate "
                         "offers must reach the peer's Min-SE)",
            "cube": "`voice service voip` / `sip` / `min-se {min_se} session-expires {min_se}` (or more)",
            "cucm": 'raise the Cisco CallManager service parameter "SIP Session Expires Timer" to at '
                    "least {min_se} s",
            "asterisk": "endpoint: `timers_sess_expires = {min_se}` (or more)",
            "freeswitch": "profile: `session-timeout` = {min_se} (or more)",
            "generic": "offer Session-Expires of at least {min_se} s",
        },
        {
            "guestgate": "spec.sessionTimer.minSE: at most the caller's Session-Expires",
            "cube": "lower `min-se` under `voice service voip` / `sip`",
            "cucm": 'lower the Cisco CallManager service parameter "SIP Min-SE Value"',
            "asterisk": "endpoint: lower `timers_min_se`",
            "freeswitch": "profile: lower `minimum-session-expires`",
            "generic": "lower its Min-SE to what the caller offers",
        },
    ),
    "NO_MEDIA": (
        {
            "guestgate": "check the media address in GuestGate's SDP ({caller_media}) is reachable from "
                         "the peer (NAT, the RTP port range in firewalls and NetworkPolicy)",
            "cube": "check the media address in the SDP (`voice-class sip bind media`) and NAT/ACLs "
                    "for the RTP port range",
            "cucm": 'tick "Media Termination Point Required" on the trunk when phones cannot reach '
                    "the far media address; check Regions/Locations",
            "asterisk": "endpoint: `direct_media = no`, `rtp_symmetric = yes`, `force_rport = yes`; "
                        "`external_media_address` behind NAT",
            "freeswitch": "profile: `ext-rtp-ip`, `aggressive-nat-detection`",
            "kamailio": "check rtpengine is engaged (`rtpengine_manage`) and its interfaces",
            "generic": "make the SDP address ({caller_media}) reachable from the callee (NAT, firewall)",
        },
        {
            "cube": "check the media address in the SDP (`voice-class sip bind media`) and NAT/ACLs",
            "cucm": "check Regions/Locations and MTP; the phone must reach the caller's media address",
            "asterisk": "endpoint: `direct_media = no`, `rtp_symmetric = yes`; `external_media_address`",
            "freeswitch": "profile: `ext-rtp-ip` and `rtp-ip`",
            "kamailio": "check rtpengine is engaged and its interfaces",
            "generic": "make the SDP address ({callee_media}) reachable from the caller and send RTP",
        },
    ),
    "DROPPED_AFTER_ANSWER": (
        {"generic": "nothing wrong seen on this side; the callee cleared the call ({cause_text})"},
        {
            "cube": "`debug ccsip messages` and `debug voip ccapi inout` on both legs show which leg "
                    "cleared first and why",
            "cucm": "CDR/CMR and the SDL trace show the disconnect reason",
            "asterisk": "the channel's HANGUPCAUSE and the verbose log",
            "freeswitch": "the channel's `hangup_cause` and `sofia loglevel all 9`",
            "kamailio": "Kamailio relays the BYE: look at the UAS behind it",
            "generic": "look in its logs for why it cleared the call ({cause_text})",
        },
    ),
    "CALL_REJECTED": (
        {"generic": "read the response ({status}) and its Warning/Reason headers; fix what they name"},
        {"generic": "check why it answers {status} to this INVITE"},
    ),
    # A partial trace proves nothing: the diagnosis words the suspected code's fix "if confirmed".
    "INCONCLUSIVE": (
        {"generic": "nothing to change until a capture of the whole call (next capture) shows what failed"},
        {"generic": "nothing to change until a capture of the whole call (next capture) shows what failed"},
    ),
}


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def fix_for(code: str, caller_platform: str, callee_platform: str,
            params: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(caller fix, callee fix) for a code, in each side's platform's words."""
    caller_table, callee_table = FIXES[code]
    values = _Blank(params or {})
    caller = caller_table.get(caller_platform, caller_table["generic"])
    callee = callee_table.get(callee_platform, callee_table["generic"])
    return caller.format_map(values), callee.format_map(values)
