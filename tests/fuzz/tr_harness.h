/**
 * @file tr_harness.h  The translator (libtranslator: the brain without its
 *                     main) under libFuzzer, shared by fuzz_tr_sip and
 *                     fuzz_tr_xmpp.
 *
 * Once per process: a temporary store (mkdtemp) and a baseline committed
 * into it, one of each kind of state the peers' input can act on:
 *
 *   A  X2S call CALLING     (alice's session-initiate, our INVITE out)
 *   B  X2S call ACTIVE      (200 OK with SDP and Record-Route, ACKed)
 *   C  S2X call RINGING     (a phone's INVITE, session-initiate to alice)
 *   D  S2X call ACTIVE      (alice's session-accept, 200 OK out)
 *   E  X2S call WAITING     (a session-initiate without candidates)
 *   F  S2X call PROPOSED    (INVITE to carol, not online: XEP-0353)
 *   G  X2S call CANCELLING  (alice hung up before the answer: CANCEL out)
 *   M  chat -> SIP MESSAGE out (a receipt asked)
 *   N  SIP MESSAGE -> chat out
 *
 * and SIP accounts (jabber:iq:register sets to sip.localhost, then the
 * registrar's answers fed as responses to their REGISTERs; tr_reg.c),
 * one per user <x>@localhost:
 *
 *   L  rl    LINKING, the IQ owed; password, no proxy (REGISTER in flight)
 *   K  rk    LINKING, challenged once (401 MD5 qop; REGISTER with
 *            credentials in flight); ha1, auth_user, proxy
 *   R  dave  REGISTERED (407 SHA-256+MD5, then 200 with Contact;expires
 *            and Service-Route); password, proxy, display name
 *   S  rs    REFRESHING (the refresh REGISTER in flight); ha1, no proxy
 *   Q  rq    FAILED (a refresh answered 503; retry deadline); password,
 *            proxy over TCP
 *   U  ru    UNLINKING (the Expires: 0 REGISTER in flight)
 *   H  X2S call CALLING through dave's account (its proxy, Service-Route)
 *   J  the same, challenged once (INVITE with credentials in flight)
 *   P  dave's chat -> MESSAGE out through his account
 *   O  the same, challenged once (MESSAGE with credentials in flight)
 *
 * Every iteration runs against that baseline and leaves it unchanged: the
 * input is split into events (at most TRH_MAX_EVENTS, separated by
 * TRH_SEP), each handed to the translator's entry point as the front
 * would (tr_from_sip_request / tr_from_sip_response or tr_from_xmpp),
 * then tr_commit runs as after a loop turn, except that the store
 * transaction is aborted instead of committed (store_commit is wrapped:
 * -Wl,--wrap=store_commit). What tr_commit sent to the fronts is read
 * back and checked: every frame decodes, every stanza parses as XML,
 * every SIP header, request URI, branch and reason phrase is one line: no
 * NUL, no CR or LF but each header's CRLF. TRH_LAX=1 lets through, in
 * headers and request URIs, a bare CR or a folded break (LF followed by
 * SP/HT) that libre keeps inside a peer's header value (a SIP parser joins
 * a fold back; the sip-front refuses a start line holding one): see
 * tests/fuzz/crashes/README.md.
 * TRH_DUMP=1 prints the placeholders and every frame sent, TRH_LOG=1 the
 * translator's log (debug).
 *
 * Placeholders in the input are replaced before anything is handed over:
 * @X.name@ with the baseline's values (X one of the letters above; for a
 * call: ltag, rtag, callid, sid, out, branch, iqid, id, state; for a
 * registration: id, callid, ftag, contact, aor, cseq, out (0 if none in
 * flight), branch, state; M.out, N.xid, P.out, O.out), so that seeds can
 * speak in dialogs whose tags the gateway chose at random.
 *
 * A SIP event may start with meta lines:
 *   #out N     the outbox id a response answers (default @A.out@)
 *   #tx N      a request's server transaction (default 100 + event index)
 *   #src TEXT  where a request came from (default "udp 127.0.0.1:5070")
 *   #fail N    a local failure: MSG_SIP_IN_RESPONSE with status N, no raw
 * and in either target an event "#expire" runs every deadline (the clock a
 * week ahead), as translator.c's sweep does. An event starting with
 * "SIP/2.0 " is a response (status and phrase from its first line).
 */
#ifndef XSGW_TR_HARNESS_H
#define XSGW_TR_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#define TRH_SEP "\n~~~\n"
enum { TRH_MAX_EVENTS = 8 };

enum trh_kind {
	TRH_SIP,  /**< events are SIP requests/responses (raw bytes) */
	TRH_XMPP, /**< events are stanzas (MSG_XMPP_IN) */
};

/** Set up once (idempotent): store, baseline. Exits on failure. */
void trh_init(void);
/** One fuzz input. */
void trh_run(const uint8_t *data, size_t size, enum trh_kind kind);

#endif
