/**
 * @file config.h  conf/xsgw.yaml, parsed by one table-driven loader that
 *                 every process shares. conf/xsgw.yaml documents each key.
 */
#ifndef XSGW_CONFIG_H
#define XSGW_CONFIG_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

enum sip_tp { SIP_TP_UDP = 0, SIP_TP_TCP, SIP_TP_TLS };

struct cfg_hostport {
	char host[256]; /**< numeric address or DNS name, without brackets */
	uint16_t port;
};

struct cfg_net {
	uint8_t addr[16]; /**< IPv4 in the first 4 bytes, or IPv6 */
	int v6;
	unsigned prefix;
};

/** A CPU list (supervisor.cpus). */
struct cfg_cpus {
	cpu_set_t set;
	int on; /**< 0: not set, wherever the kernel puts them */
};

struct cfg_phone {
	char *username;
	char *phone;
};

/** presence.phones: which SIP AOR shows as which JID (perl-bosh's CSV). */
struct cfg_presphone {
	char *sip;      /**< "sip:user@host" */
	char *jid;      /**< bare JID */
	char *resource; /**< the resource it shows as */
	char *password; /**< NULL: none; else also publish over a client
			   session (a secret: never logged) */
};

struct xsgw_config {
	char *file;
	struct {
		char *component;
		char *host;
		uint16_t port;
		char *secret;
		char **domains;
		size_t ndomains;
		uint32_t reconnect_ms[2];
	} xmpp;
	struct {
		struct cfg_hostport listen;
		enum sip_tp transport;
		struct cfg_hostport proxy; /**< port 0: no proxy */
		/** DNS servers for next hops named by host name (RFC 3263);
		 * none: /etc/resolv.conf's */
		struct cfg_hostport *dns_servers;
		size_t ndns_servers;
		char *local_host;
		/** the c=/o= address written in SDP the gateway builds (a
		    numeric IP address); default: local_host */
		char *sdp_origin;
		char *domain;
		struct cfg_net *trusted;
		size_t ntrusted;
		struct cfg_phone *phones;
		size_t nphones;
		/** with no proxy: the hosts ("host" or "host:port", "*": any)
		 * a gateway JID may name besides sip.domain (F9) */
		char **allowed_domains;
		size_t nallowed;
		uint32_t message_timeout_ms;
		/** RFC 3261 T1: retransmission and Timer B/F (64*T1) */
		uint32_t t1_ms;
		/** an unanswered call ends */
		uint32_t ring_timeout_ms;
		/** XEP-0353 wait for a user never seen online; 0: no propose */
		uint32_t propose_timeout_ms;
		/** the INVITE waits for trickled ICE candidates; 0: no wait */
		uint32_t candidate_wait_ms;
		/** a call without SIP or Jingle activity ends */
		uint32_t call_idle_timeout_s;
		/** a request the translator has not taken by then: 503 */
		uint32_t request_wait_ms;
		/** a failed registration is retried after the first, then
		 * doubling up to the second (ms) */
		uint32_t register_retry_ms[2];
		int phone_raw_udp; /**< SDP without ICE as XEP-0177 Raw UDP
				      (else an ICE-UDP host candidate) */
	} sip;
	struct {
		char *path;
		uint64_t map_size;
		/** store.sync: periodic (else commit: every commit is on disk
		 * before it returns) */
		int sync_periodic;
		uint32_t sync_interval_ms; /**< periodic: ms between flushes */
		/** s a finished message's record stays (retransmissions
		 * answered, not delivered again) */
		uint32_t message_retain_s;
	} store;
	struct {
		char *dir;
	} runtime;
	struct {
		uint32_t restart_backoff_ms[2];
		uint32_t heartbeat_ms;
		uint32_t max_deaths;
		uint32_t death_window_s;
		uint32_t ready_timeout_ms;
		uint32_t shutdown_grace_ms;
		/** the CPUs every process of the gateway runs on */
		struct cfg_cpus cpus;
	} supervisor;
	/** presence both ways (SPEC §6.3) */
	struct {
		struct cfg_hostport server; /**< port 0: sip.proxy */
		struct cfg_presphone *phones;
		size_t nphones;
		uint32_t keepalive_max_s;
		uint32_t subscribe_expires_s;
		/** the XMPP server's client port for the phones' client
		 * sessions (numeric); required with a phone password */
		struct cfg_hostport client_server;
		int client_tls; /**< 1: a session without TLS is refused */
	} presence;
	/** MSRP relay (SPEC §4): read and checked; not built yet */
	struct {
		struct cfg_hostport listen; /**< port 0: none */
		uint32_t session_timeout_s;
		uint32_t message_timeout_s;
		uint32_t cleanup_interval_s;
	} msrp;
	struct {
		int level; /**< enum log_level */
		int json;
		int bodies; /**< debug logs hold message bodies (chats, SDP) */
	} log;
};

/**
 * Load and validate a config file.
 * @param cfgp    the new config (config_free) on success
 * @param path    YAML file
 * @param errbuf  on failure: "FILE:LINE:COL: KEY: reason"
 * @return 0, or EINVAL for a bad file (errbuf says why), ENOENT/EACCES if
 *         it cannot be read, ENOMEM
 */
int config_load(struct xsgw_config **cfgp, const char *path, char *errbuf,
		size_t errsz);

/** Free a config (NULL is fine). */
void config_free(struct xsgw_config *cfg);

#endif
