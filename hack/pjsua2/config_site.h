/*
 * GuestGate's pjproject 2.17 build: compile-time sizes of one signalling pod.
 * hack/build-pjsua2.sh copies this file to pjlib/include/pj/config_site.h of the build tree; it
 * is part of the wheel's cache key, so any change here rebuilds the wheel.
 *
 * The PyPI wheel pjsua2-python kept pjsua's defaults: 4 calls, 8 accounts, 254 conference ports,
 * a 64-handle select() I/O queue and asserts that abort the process. A pod needs hundreds of
 * calls (one per browser guest, plus health-check calls) and one account per SipTrunk.
 */

/* Release build: a failed PJ_ASSERT_RETURN logs and returns an error (pjsua2 raises
 * pjsua2.Error) instead of calling abort(). The engine checks its limits first anyway. */
#define PJ_DEBUG                        0

/* Calls and accounts. The engine reads the call cap back (EpConfig().uaConfig.maxCalls) and
 * refuses a call past it or past spec.limits.maxCallsPerPod; PJSUA_MAX_ACC is mirrored in
 * guestgate's engine (one account per trunk plus the local one). */
#define PJSUA_MAX_CALLS                 1024
#define PJSUA_MAX_ACC                   128
/* One port per call's audio stream plus one per bridged browser leg (AudioMediaPort). */
#define PJSUA_MAX_CONF_PORTS            (2 * PJSUA_MAX_CALLS + 64)

/* I/O: epoll (configure --enable-epoll) with room for every call's RTP and RTCP sockets plus
 * SIP TCP/TLS connections. pjsip's transport table follows it (PJSIP_MAX_TRANSPORTS). */
#define PJ_IOQUEUE_MAX_HANDLES          8192
#define PJSIP_MAX_TRANSPORTS            4096
#define PJSIP_TCP_TRANSPORT_BACKLOG     128

/* Transaction and dialog hash tables (2^n - 1): a call holds a dialog and, while it is set up
 * or torn down, a few transactions (INVITE, PRACK, UPDATE, BYE, OPTIONS keepalives). */
#define PJSIP_MAX_TSX_COUNT             (16 * 1024 - 1)
#define PJSIP_MAX_DIALOG_COUNT          (4 * 1024 - 1)

/* A burst of INVITEs and their responses must not overflow the SIP UDP socket. pjlib asks for
 * this size and takes the largest the kernel allows (net.core.rmem_max / wmem_max cap it). */
#define PJSIP_UDP_SO_RCVBUF_SIZE        (8 * 1024 * 1024)
#define PJSIP_UDP_SO_SNDBUF_SIZE        (8 * 1024 * 1024)

/* Media: SRTP with DTLS-SRTP keying (OpenSSL), Opus (libopus, found by configure), no sound
 * device (configure --disable-sound), no video (configure --disable-video). */
#define PJMEDIA_HAS_SRTP                1
#define PJMEDIA_SRTP_HAS_DTLS           1
#define PJMEDIA_HAS_VIDEO               0
#define PJMEDIA_AUDIO_DEV_HAS_NULL_AUDIO 1
