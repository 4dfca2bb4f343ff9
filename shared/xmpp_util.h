/**
 * @file xmpp_util.h  XMPP helpers shared by the xmpp-front and the
 *                    translator (libstrophe stanzas): namespaces, attribute
 *                    and element helpers, stanza errors, and the stanza id
 *                    formats that are contracts between processes.
 */
#ifndef XSGW_XMPP_UTIL_H
#define XSGW_XMPP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_PING       "urn:xmpp:ping"
#define NS_RECEIPTS   "urn:xmpp:receipts"
#define NS_STANZAS    "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_HINTS      "urn:xmpp:hints"
#define NS_JINGLE     "urn:xmpp:jingle:1"
#define NS_JINGLE_ERR "urn:xmpp:jingle:errors:1"
#define NS_RTP        "urn:xmpp:jingle:apps:rtp:1"
#define NS_RTP_INFO   "urn:xmpp:jingle:apps:rtp:info:1"
#define NS_ICE        "urn:xmpp:jingle:transports:ice-udp:1"
#define NS_RAW_UDP    "urn:xmpp:jingle:transports:raw-udp:1"
#define NS_DTLS       "urn:xmpp:jingle:apps:dtls:0"
#define NS_DTMF       "urn:xmpp:jingle:dtmf:0"
#define NS_JMI        "urn:xmpp:jingle-message:0"
#define NS_REGISTER   "jabber:iq:register"
#define NS_XDATA      "jabber:x:data"
#define NS_SIP_INFO   "urn:xmpp:sip:info:0" /* SPEC 6.2: an INFO payload */

/*
 * Stanza ids the gateway gives what it sends; replies and bounces carry
 * them back, so they are how an answer finds its record:
 *   XU_ID_MSG      "xsgw-<msg id>"            a chat or error message
 *   XU_ID_RECEIPT  "xsgw-r<msg id>"           an XEP-0184 receipt
 *   XU_ID_CALL     "xsgw-c<call id>-<token>"  a Jingle IQ of a call; the
 *                                             token is random (unique
 *                                             across restarts)
 *   XU_ID_JMI      "xsgw-jmi-<what>-<sid>"    an XEP-0353 message
 */
enum xu_id_kind { XU_ID_NONE, XU_ID_MSG, XU_ID_RECEIPT, XU_ID_CALL };
/** Write an id of kind for record id into buf. @return buf */
char *xu_id(char *buf, size_t sz, enum xu_id_kind kind, uint64_t id);
/** The kind and record id of a stanza id (XU_ID_NONE if not ours). */
enum xu_id_kind xu_id_parse(const char *s, uint64_t *id);

/** An attribute, "" if absent (st may be NULL). */
const char *xu_attr(xmpp_stanza_t *st, const char *name);
/** A new element, added to parent when there is one (then owned by it). */
xmpp_stanza_t *xu_elem(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
		       const char *ns);
/** An element with a text child, added to parent. */
void xu_text_elem(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
		  const char *ns, const char *text);
/** The first element child (whitespace skipped), or NULL. */
xmpp_stanza_t *xu_first_elem(xmpp_stanza_t *st);
/** The first child whose namespace is ns, or NULL. */
xmpp_stanza_t *xu_child_ns(xmpp_stanza_t *st, const char *ns);

/** RFC 6120 8.3.2: the error type of a defined condition. */
const char *xu_error_type(const char *cond);
/** Add <error type><cond/><text/>? (RFC 6120 8.3) to a stanza. */
void xu_add_error(xmpp_ctx_t *ctx, xmpp_stanza_t *st, const char *cond,
		  const char *text);
/** The error reply to a request stanza (swapped from/to, same id). */
xmpp_stanza_t *xu_error_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *req,
			      const char *cond, const char *text);

/**
 * XML text of n bytes with every byte XML cannot carry (invalid UTF-8, C0
 * controls other than TAB/LF/CR, surrogates, U+FFFE/F) replaced by U+FFFD.
 * Markup is left as it is.
 * @return a libre string (mem_deref), or NULL if out of memory
 */
char *xu_text_clean(const char *s, size_t n);

/** The bare JID of jid into out (truncated to sz - 1). */
void xu_bare(const char *jid, char *out, size_t sz);

#endif
