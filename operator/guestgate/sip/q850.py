"""Q.850 cause values: name, meaning, RFC 3398 SIP mapping and how they mislead (pure data).

RFC 3398 section 8.2.4 maps ISDN causes to SIP responses; gateways also put the cause in a
``Reason: Q.850;cause=N`` header (RFC 3326). The numbers are signalled by whichever box gave up,
often for a reason far from the name: the ``misleading`` notes say when not to trust them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cause:
    value: int
    name: str
    meaning: str
    sip: int | None  # RFC 3398 SIP status for this cause; None: no response (a BYE, say)
    misleading: tuple[str, ...] = ()


_PRACK_65 = (
    "After an answered call, with an unacknowledged reliable 18x (Require: 100rel, RSeq) before it, "
    "cause 65 is the PRACK failure, not a codec problem: RFC 3262 says a UAS whose reliable 1xx "
    "carried SDP must not send 2xx until that 1xx is PRACKed, and gateways such as Cisco CUBE "
    "tear the call down with this cause when the PRACK never comes."
)

CAUSES: dict[int, Cause] = {c.value: c for c in (
    Cause(1, "Unallocated (unassigned) number", "The number is not in service anywhere.", 404,
          ("Also sent for a dialled number a translation or dial-peer did not match: check the "
           "digit manipulation on the way before blaming the destination.",)),
    Cause(2, "No route to specified transit network", "The named transit network is unknown.", 404),
    Cause(3, "No route to destination", "The network cannot reach the destination.", 404,
          ("Often a missing route pattern or dial-peer on the sending side, not the far end.",)),
    Cause(16, "Normal call clearing", "A party hung up.", None,
          ("Sent by some gateways when their own timer or a media failure ends the call; look at "
           "the time between answer and BYE and at RTP before calling it normal.",)),
    Cause(17, "User busy", "The called user cannot take another call.", 486),
    Cause(18, "No user responding", "Nobody answered within the network's time (no alerting).", 408),
    Cause(19, "No answer from user (user alerted)", "It rang, nobody answered.", 480),
    Cause(20, "Subscriber absent", "The mobile or user is not reachable.", 480),
    Cause(21, "Call rejected", "The called side refused the call.", 403,
          ("Also the answer of CUCM and carriers to calls from an address or calling number they "
           "do not accept (trunk security, ACLs): check the source address and the caller ID.",)),
    Cause(22, "Number changed", "The number has moved.", 410),
    Cause(25, "Exchange routing error", "A loop or too many hops on the way.", 483,
          ("Gateways use it for 482 Loop Detected and 483 Too Many Hops: a routing loop between "
           "two trunks, not a fault of the destination.",)),
    Cause(26, "Non-selected user clearing", "Another device answered the call.", 404),
    Cause(27, "Destination out of order", "The far interface is down.", 502),
    Cause(28, "Invalid number format (address incomplete)", "The number is malformed or too short.", 484),
    Cause(29, "Facility rejected", "A supplementary service was refused.", 501),
    Cause(31, "Normal, unspecified", "A normal event with no better cause.", 480),
    Cause(34, "No circuit/channel available", "No trunk channel free.", 503,
          ("CUBE and CUCM also send it when call admission control or a max-conn limit on a "
           "dial-peer refuses the call, with plenty of channels free.",)),
    Cause(38, "Network out of order", "The network is not working for a long time.", 503),
    Cause(41, "Temporary failure", "Try again soon.", 503,
          ("Often a SIP timer or transport failure inside a gateway (no response to its INVITE "
           "on the next hop), not a fault of the called line.",)),
    Cause(42, "Switching equipment congestion", "The exchange is overloaded.", 503),
    Cause(44, "Requested circuit/channel not available", "The chosen channel is busy.", 503),
    Cause(47, "Resource unavailable, unspecified", "A resource ran out.", 503,
          ("Also seen instead of 65 when a reliable 18x is never PRACKed (some CUBE releases), "
           "or when a transcoder/MTP could not be allocated: read the ladder first.",)),
    Cause(55, "Incoming calls barred within CUG", "Closed user group barring.", 403),
    Cause(57, "Bearer capability not authorized", "The user may not use this bearer.", 403),
    Cause(58, "Bearer capability not presently available", "The bearer exists but not now.", 503),
    Cause(63, "Service or option not available, unspecified", "A service is not available.", 503),
    Cause(65, "Bearer capability not implemented", "The bearer (codec, data rate) is not supported.",
          488, (_PRACK_65,
                "Cause 65 on a 488 to an offer with no codec in common is a real codec problem: "
                "compare the codecs of offer and answer.")),
    Cause(66, "Channel type not implemented", "The channel type is not supported.", 488),
    Cause(69, "Requested facility not implemented", "A facility is not supported.", 501),
    Cause(70, "Only restricted digital information bearer capability is available",
          "Only restricted digital bearer available.", 488),
    Cause(79, "Service or option not implemented, unspecified", "Something is not implemented.", 501,
          ("Also the cause gateways give for a required SIP extension they lack (420/421 with "
           "100rel or timer), so read Require/Unsupported in the ladder.",)),
    Cause(81, "Invalid call reference value", "The call reference is unknown.", 500),
    Cause(87, "User not member of CUG", "Closed user group check failed.", 403),
    Cause(88, "Incompatible destination", "The destination cannot take this kind of call.", 503,
          ("Cisco gateways send it when the offer's codecs or media types do not match the "
           "dial-peer's codec class, which is a codec mismatch in SIP terms.",)),
    Cause(95, "Invalid message, unspecified", "A malformed message.", 400),
    Cause(96, "Mandatory information element is missing", "A required field is missing.", 400),
    Cause(97, "Message type non-existent or not implemented", "Unknown message type.", 500),
    Cause(99, "Information element non-existent or not implemented", "Unknown field.", 500),
    Cause(100, "Invalid information element contents", "A field has a bad value.", 400),
    Cause(102, "Recovery on timer expiry", "A protocol timer ran out.", 504,
          ("In SIP gateways this is mostly a SIP timer (no 200 to a request, no ACK, no PRACK): "
           "look for the request that was never answered.",)),
    Cause(111, "Protocol error, unspecified", "A protocol error.", 500),
    Cause(127, "Interworking, unspecified", "The cause was lost crossing networks.", 500,
          ("Says only that a gateway between networks could not map the real cause.",)),
)}

# RFC 3398 section 8.2.6.1: SIP final response -> the cause a gateway puts on the ISDN side.
SIP_TO_CAUSE: dict[int, int] = {
    400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102, 410: 22,
    413: 127, 414: 28, 415: 79, 416: 127, 420: 127, 421: 127, 423: 127, 480: 18, 481: 41,
    482: 25, 483: 25, 484: 28, 485: 1, 486: 17, 488: 65, 500: 41, 501: 79, 502: 38, 503: 41,
    504: 102, 505: 127, 513: 127, 600: 17, 603: 21, 604: 1, 606: 58,
}


def lookup(value: int) -> Cause | None:
    return CAUSES.get(value)


def name_of(value: int) -> str:
    cause = CAUSES.get(value)
    return cause.name if cause else "unknown cause"
