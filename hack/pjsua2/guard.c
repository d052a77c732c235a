/*
 * GuestGate's SIP guard: a pjsip module compiled into GuestGate's pjsua2 build
 * (hack/build-pjsua2.sh appends it to the SWIG wrapper) that refuses, before any dialog or pjsua
 * sees it, every request that would make the pod act for the far side. GuestGate places calls
 * over its trunks and takes nothing from them but answers, BYE, re-INVITE/UPDATE, PRACK,
 * CANCEL, ACK, OPTIONS and DTMF: a B2BUA that takes orders from the trunk side is a toll-fraud
 * hole (a REFER made pjsua dial a premium number; an INVITE with Replaces took over a call).
 *
 * Refused, with a stateful response (retransmissions absorbed, ACKs matched):
 *   INVITE with Replaces or Join            403 (no call is taken over or joined)
 *   INVITE outside a dialog                 480 from a peer, 403 from anyone else: pjsua never
 *                                           creates a call GuestGate did not place itself
 *   REFER                                   403 (no call is placed for the far side)
 *   SUBSCRIBE                               489 Bad Event (no event package is served)
 *   NOTIFY                                  481 (GuestGate holds no subscription)
 *   MESSAGE, PUBLISH, REGISTER              405 with Allow
 *   INFO but DTMF (application/dtmf-relay, application/dtmf) in a dialog
 *                                           415 in a dialog, 481 outside one
 *   any other method                        501
 * An OPTIONS inside a call is answered here too (200, or 481 for no such dialog): pjsip's dialog
 * layer would answer it 500.
 * Each refusal is logged at level 3 as
 *   "refused <METHOD> from <address>:<port> status=<code> why=<text>"
 * by the sender "gg-sip-guard", which the engine counts (guestgate_sip_requests_refused_total).
 *
 * C API (looked up with ctypes in the loaded _pjsua2 extension):
 *   int  guestgate_guard_version(void);                  1
 *   int  guestgate_guard_install(void);                  after libInit; 0 or a pj_status_t
 *   void guestgate_guard_set_peers(const char *csv);     the trunks' peer addresses, comma-separated
 * All three are called on the pjsua thread, where the module's callback runs too.
 */
#include <pjsip.h>
#include <pjsua-lib/pjsua.h>
#include <stdlib.h>
#include <string.h>

#define GG_GUARD_SENDER "gg-sip-guard"
#define GG_GUARD_ALLOW "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE, INFO"

static char *gg_guard_peers = NULL; /* ",a,b,c," */

static pj_bool_t gg_guard_on_rx_request(pjsip_rx_data *rdata);

static pjsip_module gg_guard_module = {
    NULL, NULL,                                  /* prev, next */
    {(char *)"mod-guestgate-guard", 19},         /* name */
    -1,                                          /* id */
    PJSIP_MOD_PRIORITY_UA_PROXY_LAYER - 1,       /* before dialogs and pjsua, after transactions */
    NULL, NULL, NULL, NULL,                      /* load, start, stop, unload */
    &gg_guard_on_rx_request,                     /* on_rx_request */
    NULL, NULL, NULL, NULL                       /* on_rx_response, on_tx_request, on_tx_response, on_tsx_state */
};

static int gg_guard_is(const pj_str_t *name, const char *text)
{
    pj_str_t wanted = pj_str((char *)text);
    return pj_stricmp(name, &wanted) == 0;
}

static int gg_guard_has_header(pjsip_msg *msg, const char *name)
{
    pj_str_t wanted = pj_str((char *)name);
    return pjsip_msg_find_hdr_by_name(msg, &wanted, NULL) != NULL;
}

static int gg_guard_from_peer(pjsip_rx_data *rdata)
{
    char needle[PJ_INET6_ADDRSTRLEN + 16];
    if (gg_guard_peers == NULL)
        return 0;
    pj_ansi_snprintf(needle, sizeof(needle), ",%s,", rdata->pkt_info.src_name);
    return strstr(gg_guard_peers, needle) != NULL;
}

static int gg_guard_is_dtmf(pjsip_msg *msg)
{
    pjsip_msg_body *body = msg->body;
    if (body == NULL || !gg_guard_is(&body->content_type.type, "application"))
        return 0;
    return gg_guard_is(&body->content_type.subtype, "dtmf-relay") ||
           gg_guard_is(&body->content_type.subtype, "dtmf");
}

/* An OPTIONS inside a call (some SBCs use it to check the call is alive): pjsip's dialog answers it
 * 500 "Unhandled by dialog usages", which may make the peer end the call. 200 with what we take
 * when the dialog exists, 481 when it does not. Not a refusal: not logged. */
static pj_bool_t gg_guard_options_in_dialog(pjsip_rx_data *rdata)
{
    pjsip_dialog *dlg = pjsip_ua_find_dialog(&rdata->msg_info.cid->id, &rdata->msg_info.to->tag,
                                             &rdata->msg_info.from->tag, PJ_FALSE);
    pjsip_hdr headers;
    pj_str_t name = pj_str((char *)"Allow");
    pj_str_t value = pj_str((char *)GG_GUARD_ALLOW);
    pj_list_init(&headers);
    pj_list_push_back(&headers, pjsip_generic_string_hdr_create(rdata->tp_info.pool, &name, &value));
    pjsip_endpt_respond(pjsua_get_pjsip_endpt(), NULL, rdata, dlg ? 200 : 481, NULL, &headers, NULL, NULL);
    return PJ_TRUE;
}

static pj_bool_t gg_guard_on_rx_request(pjsip_rx_data *rdata)
{
    pjsip_msg *msg = rdata->msg_info.msg;
    const pj_str_t *method = &msg->line.req.method.name;
    int in_dialog = rdata->msg_info.to != NULL && rdata->msg_info.to->tag.slen > 0;
    int code = 0;
    const char *why = "";
    pjsip_hdr headers;
    pj_status_t status;

    pj_list_init(&headers);
    switch (msg->line.req.method.id) {
    case PJSIP_INVITE_METHOD:
        if (gg_guard_has_header(msg, "Replaces") || gg_guard_has_header(msg, "Join")) {
            code = 403;
            why = "Replaces and Join are not accepted";
        } else if (!in_dialog) {
            code = gg_guard_from_peer(rdata) ? 480 : 403;
            why = "GuestGate places calls, it takes none";
        }
        break;
    case PJSIP_OPTIONS_METHOD:
        if (in_dialog)
            return gg_guard_options_in_dialog(rdata);
        break; /* pjsua answers it */
    case PJSIP_ACK_METHOD:
    case PJSIP_BYE_METHOD:
    case PJSIP_CANCEL_METHOD:
        break;
    default:
        if (gg_guard_is(method, "PRACK") || gg_guard_is(method, "UPDATE")) {
            break;
        } else if (gg_guard_is(method, "INFO")) {
            if (!in_dialog) {
                code = 481;
                why = "INFO outside a call";
            } else if (!gg_guard_is_dtmf(msg)) {
                pj_str_t name = pj_str((char *)"Accept");
                pj_str_t value = pj_str((char *)"application/dtmf-relay, application/dtmf");
                pj_list_push_back(&headers, pjsip_generic_string_hdr_create(rdata->tp_info.pool, &name, &value));
                code = 415;
                why = "only DTMF is taken in INFO";
            }
        } else if (gg_guard_is(method, "REFER")) {
            code = 403;
            why = "transfers are not accepted";
        } else if (gg_guard_is(method, "SUBSCRIBE")) {
            code = 489;
            why = "no event package is served";
        } else if (gg_guard_is(method, "NOTIFY")) {
            code = 481;
            why = "no subscription";
        } else if (gg_guard_is(method, "MESSAGE") || gg_guard_is(method, "PUBLISH") ||
                   gg_guard_is(method, "REGISTER")) {
            pj_str_t name = pj_str((char *)"Allow");
            pj_str_t value = pj_str((char *)GG_GUARD_ALLOW);
            pj_list_push_back(&headers, pjsip_generic_string_hdr_create(rdata->tp_info.pool, &name, &value));
            code = 405;
            why = "not taken from a trunk";
        } else {
            code = 501;
            why = "unknown method";
        }
        break;
    }
    if (code == 0)
        return PJ_FALSE; /* on to dialogs and pjsua */

    /* The standard reason phrase on the wire; why in the log. */
    status = pjsip_endpt_respond(pjsua_get_pjsip_endpt(), NULL, rdata, code, NULL,
                                 pj_list_empty(&headers) ? NULL : &headers, NULL, NULL);
    if (status != PJ_SUCCESS) {
        /* A request pjsip cannot answer statefully (already in a transaction): answer statelessly. */
        pjsip_endpt_respond_stateless(pjsua_get_pjsip_endpt(), rdata, code, NULL, NULL, NULL);
    }
    PJ_LOG(3, (GG_GUARD_SENDER, "refused %.*s from %s:%d status=%d why=%s", (int)method->slen, method->ptr,
               rdata->pkt_info.src_name, rdata->pkt_info.src_port, code, why));
    return PJ_TRUE;
}

#ifdef __cplusplus
extern "C" {
#endif

__attribute__((visibility("default"))) int guestgate_guard_version(void)
{
    return 1;
}

__attribute__((visibility("default"))) int guestgate_guard_install(void)
{
    pjsip_endpoint *endpt = pjsua_get_pjsip_endpt();
    if (endpt == NULL)
        return PJ_EINVALIDOP;
    if (gg_guard_module.id != -1)
        return PJ_SUCCESS;
    return pjsip_endpt_register_module(endpt, &gg_guard_module);
}

__attribute__((visibility("default"))) void guestgate_guard_set_peers(const char *csv)
{
    size_t length = csv ? strlen(csv) : 0;
    char *copy = (char *)malloc(length + 3);
    if (copy == NULL)
        return;
    copy[0] = ',';
    if (length)
        memcpy(copy + 1, csv, length);
    copy[length + 1] = ',';
    copy[length + 2] = '\0';
    free(gg_guard_peers);
    gg_guard_peers = copy;
}

#ifdef __cplusplus
}
#endif
