/**
 * @file jsdp.h  SDP <-> Jingle conversion (pure: no I/O, no store).
 *
 * Both sides decode into one model, struct jsdp, and encode from it:
 *
 *   SDP text  --jsdp_sdp_decode-->  struct jsdp  --jsdp_jingle_encode-->
 * <content/>s <jingle/> --jsdp_jingle_decode-> struct jsdp --jsdp_sdp_encode-->
 * SDP text
 *
 * Strings in the model are struct pl that point into the decoded input (the
 * SDP buffer or the libstrophe stanza): the input must outlive the model.
 * Every array has a fixed bound; input beyond it is refused (EOVERFLOW), never
 * truncated silently. Errors carry a human-readable reason for the peer
 * (a SIP 488/400 reason phrase, an XMPP <bad-request/> text); it names the
 * field, never quotes a value that is not printable ASCII.
 *
 * Both decoders refuse a value the other side cannot carry as it is: a
 * token (names, ICE credentials, candidate fields, fingerprints, ...) with
 * a space or a byte outside printable ASCII, a text (parameter values,
 * rtcp-fb subtypes, ssrc attribute values, SDES session parameters) with a
 * control character or that is not UTF-8. So a Jingle value never adds an
 * SDP line, and an SDP value always makes XML a server takes.
 *
 * Covered: XEP-0167 payload types/parameters/ptime/encryption (SDES), XEP-0176
 * ICE-UDP (ufrag, pwd, candidates), XEP-0177 Raw UDP, XEP-0293 rtcp-fb (per
 * payload and "*"), XEP-0294 header extensions, XEP-0320 DTLS fingerprint and
 * setup, XEP-0338 grouping (BUNDLE), XEP-0339 ssrc and ssrc-group, rtcp-mux.
 * Senders map from the perspective of the SDP's author (RFC 3264 §6.1).
 */
#ifndef XSGW_JSDP_H
#define XSGW_JSDP_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include <strophe.h>

enum {
	JSDP_MAX_CONTENTS = 8,
	JSDP_MAX_PAYLOADS = 40,
	JSDP_MAX_PARAMS = 12,
	JSDP_MAX_FB = 10,
	JSDP_MAX_HDREXT = 16,
	JSDP_MAX_SOURCES = 16,
	JSDP_MAX_SRC_PARAMS = 6,
	JSDP_MAX_SSRC_GROUPS = 8,
	JSDP_MAX_GROUP_SSRCS = 8,
	JSDP_MAX_CANDS = 32,
	JSDP_MAX_CRYPTO = 4,
	JSDP_MAX_GROUPS = 4,
	JSDP_MAX_GROUP_NAMES = JSDP_MAX_CONTENTS,
};

/** Jingle senders. In SDP terms it depends on who wrote the SDP. */
enum jsdp_senders {
	JSDP_BOTH = 0,
	JSDP_INITIATOR,
	JSDP_RESPONDER,
	JSDP_NONE,
};

enum jsdp_transport {
	JSDP_TR_NONE = 0, /**< no transport information at all */
	JSDP_TR_ICE,      /**< XEP-0176 ICE-UDP */
	JSDP_TR_RAW,      /**< XEP-0177 Raw UDP (SDP: c= and port, no ICE) */
};

struct jsdp_param {
	struct pl name, value; /**< name may be empty (fmtp "0-16") */
};

struct jsdp_fb {
	struct pl type, subtype; /**< subtype may hold several words */
};

struct jsdp_payload {
	uint32_t id;       /**< 0..127 */
	struct pl name;    /**< empty for a static type without rtpmap */
	uint32_t clock;    /**< 0 = unknown */
	uint32_t channels; /**< 0 = not given (means 1) */
	uint32_t ptime, maxptime;
	struct jsdp_param par[JSDP_MAX_PARAMS];
	unsigned npar;
	struct jsdp_fb fb[JSDP_MAX_FB];
	unsigned nfb;
};

struct jsdp_hdrext {
	uint32_t id;
	struct pl uri;
	enum jsdp_senders senders;
};

struct jsdp_source {
	uint32_t ssrc;
	struct jsdp_param par[JSDP_MAX_SRC_PARAMS];
	unsigned npar;
};

struct jsdp_ssrc_group {
	struct pl semantics;
	uint32_t ssrc[JSDP_MAX_GROUP_SSRCS];
	unsigned n;
};

struct jsdp_crypto {
	struct pl tag, suite, key_params, session_params;
};

struct jsdp_cand {
	struct pl foundation, protocol, ip, type, rel_addr, tcptype, id;
	uint32_t component, priority, port, rel_port, generation, network;
	bool has_rel_port, has_generation, has_network;
};

struct jsdp_content {
	struct pl name;  /**< Jingle content name = SDP a=mid */
	struct pl media; /**< audio, video, application, ... */
	struct pl proto; /**< SDP only: RTP/AVP, UDP/TLS/RTP/SAVPF, ... */
	bool creator_responder;
	enum jsdp_senders senders;
	bool rejected;  /**< port 0, or not RTP (m=application): no Jingle */
	struct pl fmts; /**< SDP format list as written (rejected media) */

	struct jsdp_payload pt[JSDP_MAX_PAYLOADS];
	unsigned npt;
	struct jsdp_fb fb_all[JSDP_MAX_FB]; /**< a=rtcp-fb:* */
	unsigned nfb_all;
	struct jsdp_hdrext ext[JSDP_MAX_HDREXT];
	unsigned next;
	bool extmap_allow_mixed;
	bool rtcp_mux;
	struct jsdp_source src[JSDP_MAX_SOURCES];
	unsigned nsrc;
	struct jsdp_ssrc_group sgrp[JSDP_MAX_SSRC_GROUPS];
	unsigned nsgrp;
	struct jsdp_crypto crypto[JSDP_MAX_CRYPTO];
	unsigned ncrypto;
	bool crypto_required;

	enum jsdp_transport tr;
	struct pl ufrag, pwd;
	struct pl fp_hash, fp_setup, fp_value;
	struct jsdp_cand cand[JSDP_MAX_CANDS];
	unsigned ncand;
	/* SDP connection data (c= and port); Raw UDP in Jingle */
	struct pl addr;
	uint32_t port, rtcp_port;
	char namebuf[24]; /**< a generated unique name (no a=mid) */
};

struct jsdp_group {
	struct pl semantics;
	struct pl name[JSDP_MAX_GROUP_NAMES];
	unsigned n;
};

struct jsdp {
	struct jsdp_content c[JSDP_MAX_CONTENTS];
	unsigned n;
	struct jsdp_group grp[JSDP_MAX_GROUPS];
	unsigned ngrp;
	struct pl action; /**< SDP a=jingle-action (re-INVITE), may be empty */
};

/** SDP options: who the SDP is written by or for, and what to put where the
 *  Jingle side has no address. */
struct jsdp_sdp_opts {
	bool author_is_initiator; /**< the SDP's author is the Jingle initiator
				   */
	const char *origin;       /**< o=/c= address when none is known */
	uint64_t sess_id, sess_version;
	const char *action;       /**< a=jingle-action to write, or NULL */
	const struct jsdp *offer; /**< writing an answer: mirror its m-lines */
};

/** Options for the Jingle side. */
struct jsdp_jingle_opts {
	bool raw_udp; /**< SDP without ICE: XEP-0177 Raw UDP (else ICE-UDP
			   with a host candidate) */
};

/** Allocate an empty model (mem_deref to free). @return NULL on ENOMEM */
struct jsdp *jsdp_alloc(void);
/**
 * Empty a model: no contents, no groups, no action. Contents past n are
 * left as they were (the struct is 300 KiB: zeroing it whole per decode
 * was most of a call's CPU); whoever adds a content zeroes it first.
 */
void jsdp_clear(struct jsdp *m);

/**
 * Decode an SDP body (RFC 8866; CRLF or LF line ends).
 * @param author_is_initiator  the SDP's author is the Jingle initiator
 *        (decides what sendonly/recvonly mean as Jingle senders)
 * @return 0, EBADMSG (malformed, or a value Jingle cannot carry; reason
 *         in eb) or EOVERFLOW (a bound)
 */
int jsdp_sdp_decode(struct jsdp *m, const struct pl *sdp,
		    bool author_is_initiator, char *eb, size_t ebsz);

/**
 * Encode m as SDP into mb.
 * @return 0 or an errno (ENOMEM, EINVAL when m has no media)
 */
int jsdp_sdp_encode(struct mbuf *mb, const struct jsdp *m,
		    const struct jsdp_sdp_opts *o);

/**
 * Encode the transports of m as an RFC 8840 SDP fragment (trickle ICE in
 * SIP INFO): per content an m-line, a=mid, ufrag/pwd and the candidates.
 * @return 0 or ENOMEM
 */
int jsdp_frag_encode(struct mbuf *mb, const struct jsdp *m);

/**
 * Decode the <content/> and <group/> children of a <jingle/> element
 * (Jingle senders are absolute: no perspective is needed). Refused as
 * malformed: a content without name or creator (source-* may omit it),
 * with neither description nor transport, or with two of either; a
 * required attribute missing or not among its values (a number that is
 * not one, a dynamic payload type without name and clockrate, a
 * candidate's protocol or type, a DTLS setup); a group naming no content;
 * a value SDP cannot carry.
 * @return 0, EBADMSG (reason in eb) or EOVERFLOW
 */
int jsdp_jingle_decode(struct jsdp *m, xmpp_stanza_t *jingle, char *eb,
		       size_t ebsz);

/**
 * Add <content/> and <group/> children for m to the <jingle/> element.
 * @return 0 or ENOMEM
 */
int jsdp_jingle_encode(xmpp_stanza_t *jingle, const struct jsdp *m,
		       const struct jsdp_jingle_opts *o);

/** Jingle senders value, and its parse (-1 when unknown). */
const char *jsdp_senders_name(enum jsdp_senders s);
int jsdp_senders_parse(const char *s);

#endif
