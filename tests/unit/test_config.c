/* Config loader: the shipped example, every error naming file:line:key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "config.h"

static const char *srcdir(void)
{
	const char *d = getenv("XSGW_SRCDIR");
	return d ? d : ".";
}


static void test_example_loads(void **state)
{
	struct xsgw_config *c = NULL;
	char path[1024], eb[512];

	snprintf(path, sizeof(path), "%s/conf/xsgw.yaml", srcdir());
	assert_int_equal(config_load(&c, path, eb, sizeof(eb)), 0);
	assert_string_equal(c->xmpp.component, "sip.localhost");
	assert_int_equal(c->xmpp.port, 5347);
	assert_int_equal(c->xmpp.ndomains, 1);
	assert_string_equal(c->xmpp.domains[0], "localhost");
	assert_string_equal(c->sip.listen.host, "127.0.0.1");
	assert_int_equal(c->sip.listen.port, 5600);
	assert_int_equal(c->sip.proxy.port, 5060);
	assert_string_equal(c->sip.sdp_origin, "127.0.0.1");
	assert_int_equal(c->sip.transport, SIP_TP_UDP);
	assert_int_equal(c->sip.nphones, 1);
	assert_string_equal(c->sip.phones[0].phone, "+919177074440");
	assert_int_equal(c->sip.ntrusted, 2);
	assert_int_equal(c->store.map_size, 256ULL << 20);
	assert_int_equal(c->store.sync_periodic, 0);
	assert_int_equal(c->store.sync_interval_ms, 1000);
	assert_int_equal(c->store.message_retain_s, 300);
	assert_int_equal(c->supervisor.restart_backoff_ms[0], 50);
	assert_int_equal(c->supervisor.restart_backoff_ms[1], 5000);
	assert_int_equal(c->log.level, 2);
	config_free(c);
}


/* Load text from a temp file; return the error string (or "" on success). */
static const char *load(const char *text, char *eb, size_t sz)
{
	char path[] = "/tmp/xsgw-cfg-XXXXXX";
	struct xsgw_config *c = NULL;
	int fd = mkstemp(path), err;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	err = config_load(&c, path, eb, sz);
	unlink(path);
	config_free(c);
	if (!err)
		return "";
	/* strip the temp path: "PATH:LINE:COL: KEY: why" -> ":LINE:..." */
	return strchr(eb, ':');
}

#define BASE                                                                   \
	"xmpp: {component: gw.example, secret: s, domains: [example]}\n"       \
	"sip: {listen: 127.0.0.1:5600, domain: example}\n"                     \
	"store: {path: /tmp/s}\n"                                              \
	"runtime: {dir: /tmp/r}\n"


static void test_minimal(void **state)
{
	char eb[512];
	assert_string_equal(load(BASE, eb, sizeof(eb)), "");
}


static void test_unknown_key(void **state)
{
	char eb[512];
	assert_string_equal(load(BASE "log:\n  levle: debug\n", eb, sizeof(eb)),
			    ":6:3: log.levle: unknown key");
}


static void test_unknown_section(void **state)
{
	char eb[512];
	assert_string_equal(load(BASE "presense: {}\n", eb, sizeof(eb)),
			    ":5:1: presense: unknown section");
}


static void test_wrong_type(void **state)
{
	char eb[512];
	assert_string_equal(
		load(BASE "supervisor:\n  heartbeat_ms: [1]\n", eb, sizeof(eb)),
		":6:17: supervisor.heartbeat_ms: expected a number");
}


static void test_bad_values(void **state)
{
	char eb[512];

	assert_string_equal(
		load(BASE "log: {level: loud}\n", eb, sizeof(eb)),
		":5:14: log.level: expected error, warn, info or debug");
	assert_string_equal(load("xmpp: {component: a, secret: s, domains: "
				 "[d], port: 70000}\n"
				 "sip: {listen: 127.0.0.1:5600, domain: d}\n"
				 "store: {path: /s}\nruntime: {dir: /r}\n",
				 eb, sizeof(eb)),
			    ":1:53: xmpp.port: number out of range");
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: localhost:5600, domain: d}\n"
		     "store: {path: /s}\nruntime: {dir: /r}\n",
		     eb, sizeof(eb)),
		":2:15: sip.listen: expected a numeric IP address:port");
	assert_string_equal(load(BASE "store2: {}\n", eb, sizeof(eb)),
			    ":5:1: store2: unknown section");
	assert_string_equal(
		load(BASE "supervisor: {restart_backoff_ms: [500, 5]}\n", eb,
		     sizeof(eb)),
		":5:34: supervisor.restart_backoff_ms: expected 0 < "
		"first <= max");
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d, t1_ms: 0}\n"
		     "store: {path: /s}\nruntime: {dir: /r}\n",
		     eb, sizeof(eb)),
		":2:49: sip.t1_ms: must be 10-10000");
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d, "
		     "phone_transport: sdp}\n"
		     "store: {path: /s}\nruntime: {dir: /r}\n",
		     eb, sizeof(eb)),
		":2:59: sip.phone_transport: expected ice or raw-udp");
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d}\n"
		     "store: {path: /s, sync: never}\nruntime: {dir: /r}\n",
		     eb, sizeof(eb)),
		":3:25: store.sync: expected commit or periodic");
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d}\n"
		     "store: {path: /s, sync_interval_ms: 5}\n"
		     "runtime: {dir: /r}\n",
		     eb, sizeof(eb)),
		":3:37: store.sync_interval_ms: must be 10-60000");
	/* retention shorter than Timer F with this T1 (64 x 1000 ms) */
	assert_non_null(strstr(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d, t1_ms: 1000}\n"
		     "store: {path: /s, message_retain_s: 40}\n"
		     "runtime: {dir: /r}\n",
		     eb, sizeof(eb)),
		"store.message_retain_s: 40 s is shorter than Timer F (64 x "
		"sip.t1_ms = 64 s)"));
}


/* Load text; return the config (the caller frees it) or fail with why. */
static struct xsgw_config *load_ok(const char *text)
{
	char path[] = "/tmp/xsgw-cfg-XXXXXX", eb[512] = "";
	struct xsgw_config *c = NULL;
	int fd = mkstemp(path), err;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	err = config_load(&c, path, eb, sizeof(eb));
	unlink(path);
	if (err)
		fail_msg("config refused: %s", eb);
	return c;
}


/* Issue 9: sip.allowed_domains, sip.request_wait_ms, log.bodies. */
static void test_hardening_keys(void **state)
{
	struct xsgw_config *c;
	char eb[512];

	c = load_ok(BASE);
	assert_int_equal(c->sip.nallowed, 0);
	assert_int_equal(c->sip.request_wait_ms, 30000);
	assert_int_equal(c->log.bodies, 0);
	config_free(c);
	c = load_ok("xmpp: {component: a, secret: s, domains: [d]}\n"
		    "sip: {listen: 127.0.0.1:5600, domain: d, "
		    "allowed_domains: [example.org, \"*\"], "
		    "request_wait_ms: 5000}\n"
		    "store: {path: /s}\nruntime: {dir: /r}\n"
		    "log: {bodies: true}\n");
	assert_int_equal(c->sip.nallowed, 2);
	assert_string_equal(c->sip.allowed_domains[1], "*");
	assert_int_equal(c->sip.request_wait_ms, 5000);
	assert_int_equal(c->log.bodies, 1);
	config_free(c);
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d}\n"
		     "store: {path: /s}\nruntime: {dir: /r}\n"
		     "log: {bodies: maybe}\n",
		     eb, sizeof(eb)),
		":5:15: log.bodies: expected true or false");
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d, "
		     "allowed_domains: example.org}\n"
		     "store: {path: /s}\nruntime: {dir: /r}\n",
		     eb, sizeof(eb)),
		":2:59: sip.allowed_domains: expected a list of hosts");
}


/* sip.sdp_origin (SPEC §4, MongooseIM's sdp_origin): a numeric address of
 * its own, local_host (itself listen's host) when not given. */
static void test_sdp_origin(void **state)
{
	struct xsgw_config *c;
	char eb[512];

	c = load_ok(BASE);
	assert_string_equal(c->sip.sdp_origin, "127.0.0.1");
	config_free(c);
	c = load_ok("xmpp: {component: a, secret: s, domains: [d]}\n"
		    "sip: {listen: 127.0.0.1:5600, domain: d, "
		    "local_host: gw.example.org}\n"
		    "store: {path: /s}\nruntime: {dir: /r}\n");
	assert_string_equal(c->sip.sdp_origin, "gw.example.org");
	config_free(c);
	c = load_ok("xmpp: {component: a, secret: s, domains: [d]}\n"
		    "sip: {listen: 127.0.0.1:5600, domain: d, "
		    "local_host: gw.example.org, sdp_origin: 192.0.2.7}\n"
		    "store: {path: /s}\nruntime: {dir: /r}\n");
	assert_string_equal(c->sip.sdp_origin, "192.0.2.7");
	assert_string_equal(c->sip.local_host, "gw.example.org");
	config_free(c);
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d,\n"
		     "      sdp_origin: abc}\n"
		     "store: {path: /s}\nruntime: {dir: /r}\n",
		     eb, sizeof(eb)),
		":3:19: sip.sdp_origin: expected a numeric IP address");
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d, sdp_origin: "
		     "\"1.2.3.4\\r\\nc=IN IP4 6.6.6.6\"}\n"
		     "store: {path: /s}\nruntime: {dir: /r}\n",
		     eb, sizeof(eb)),
		":2:54: sip.sdp_origin: expected a numeric IP address");
}


/* Next hops named by DNS (sip.proxy, presence.server) and the servers
 * asked (sip.dns_servers); sip.listen stays numeric (it is bound). */
static void test_names_and_dns_servers(void **state)
{
	static const struct {
		const char *sip, *err;
	} bad[] = {
		{"proxy: exa_mple.org:5060", ":2:49: sip.proxy: expected "
					     "host:port, the host a numeric "
					     "address or a DNS name"},
		{"proxy: -a.example:5060", ":2:49: sip.proxy: expected "
					   "host:port, the host a numeric "
					   "address or a DNS name"},
		{"proxy: a..example:5060", ":2:49: sip.proxy: expected "
					   "host:port, the host a numeric "
					   "address or a DNS name"},
		{"proxy: proxy.example",
		 ":2:49: sip.proxy: expected host:port"},
		{"dns_servers: [ns.example]",
		 ":2:55: sip.dns_servers: expected a numeric DNS server "
		 "address, address:port or [address]:port"},
		{"dns_servers: [\"127.0.0.1:x\"]",
		 ":2:55: sip.dns_servers: expected a numeric DNS server "
		 "address, address:port or [address]:port"},
		{"dns_servers: 127.0.0.1",
		 ":2:55: sip.dns_servers: expected a list of DNS server "
		 "addresses"},
	};
	struct xsgw_config *c;
	char yaml[512], eb[512];

	c = load_ok("xmpp: {component: a, secret: s, domains: [d]}\n"
		    "sip: {listen: 127.0.0.1:5600, domain: d, "
		    "proxy: Kamailio-1.example.org.:5070, "
		    "dns_servers: [127.0.0.53, \"[::1]:5353\", "
		    "\"10.0.0.1:53\"]}\n"
		    "presence: {server: pres.example.org:5060}\n"
		    "store: {path: /s}\nruntime: {dir: /r}\n");
	assert_string_equal(c->sip.proxy.host, "Kamailio-1.example.org.");
	assert_int_equal(c->sip.proxy.port, 5070);
	assert_string_equal(c->presence.server.host, "pres.example.org");
	assert_int_equal(c->sip.ndns_servers, 3);
	assert_string_equal(c->sip.dns_servers[0].host, "127.0.0.53");
	assert_int_equal(c->sip.dns_servers[0].port, 53);
	assert_string_equal(c->sip.dns_servers[1].host, "::1");
	assert_int_equal(c->sip.dns_servers[1].port, 5353);
	assert_int_equal(c->sip.dns_servers[2].port, 53);
	config_free(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "xmpp: {component: a, secret: s, domains: [d]}\n"
			 "sip: {listen: 127.0.0.1:5600, domain: d, %s}\n"
			 "store: {path: /s}\nruntime: {dir: /r}\n",
			 bad[i].sip);
		assert_string_equal(load(yaml, eb, sizeof(eb)), bad[i].err);
	}
}


/* xmpp.host: an address or a DNS name (resolved by the xmpp-front without
 * blocking); anything else is refused with its position. */
static void test_xmpp_host(void **state)
{
	static const char *good[] = {"127.0.0.1", "::1", "prosody",
				     "xmpp.example.org", "xmpp.example.org."};
	static const char *bad[] = {"xmpp_server", "-x.example",    "a..b",
				    "[::1]",       "10.0.0.1:5347", ""};
	struct xsgw_config *c;
	char yaml[512], eb[512];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "xmpp: {component: a, secret: s, domains: [d], "
			 "host: \"%s\"}\n"
			 "sip: {listen: 127.0.0.1:5600, domain: d}\n"
			 "store: {path: /s}\nruntime: {dir: /r}\n",
			 good[i]);
		c = load_ok(yaml);
		assert_string_equal(c->xmpp.host, good[i]);
		config_free(c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "xmpp: {component: a, secret: s, domains: [d], "
			 "host: \"%s\"}\n"
			 "sip: {listen: 127.0.0.1:5600, domain: d}\n"
			 "store: {path: /s}\nruntime: {dir: /r}\n",
			 bad[i]);
		assert_string_equal(load(yaml, eb, sizeof(eb)),
				    ":1:53: xmpp.host: expected a numeric IP "
				    "address or a DNS name");
	}
}


/* Every key of SPEC §4 loads as written there, the sections of features
 * not built yet (presence, msrp) included: read and checked, not in effect
 * (the supervisor says so at start). */
static void test_spec_keys(void **state)
{
	static const char spec[] =
		"xmpp:\n"
		"  component: sip.localhost\n"
		"  host: 127.0.0.1\n"
		"  port: 5347\n"
		"  secret: change-me\n"
		"  domains: [localhost]\n"
		"sip:\n"
		"  listen: 127.0.0.1:5600\n"
		"  transport: udp\n"
		"  proxy: 127.0.0.1:5060\n"
		"  local_host: 127.0.0.1\n"
		"  sdp_origin: 127.0.0.1\n"
		"  domain: localhost\n"
		"  trusted: [127.0.0.1/32]\n"
		"  username_to_phone:\n"
		"    - { username: \"2000006168\", phone: \"+919177074440\" }\n"
		"store:\n"
		"  path: /var/lib/xsgw\n"
		"  map_size: 256MiB\n"
		"runtime:\n"
		"  dir: /run/xsgw\n"
		"supervisor:\n"
		"  restart_backoff_ms: [50, 5000]\n"
		"  heartbeat_ms: 1000\n"
		"presence:\n"
		"  server: 127.0.0.1:5060\n"
		"  phones:\n"
		"    - { sip: \"sip:0123456789@localhost\", jid: "
		"\"alice@localhost\", resource: \"sip-phone\" }\n"
		"  keepalive_max_s: 3600\n"
		"  subscribe_expires_s: 3600\n"
		"msrp:\n"
		"  listen: 127.0.0.1:2855\n"
		"  session_timeout_s: 43200\n"
		"  message_timeout_s: 7200\n"
		"  cleanup_interval_s: 60\n"
		"log:\n"
		"  level: info\n"
		"  format: text\n";
	struct xsgw_config *c = load_ok(spec);
	char eb[512];

	assert_string_equal(c->sip.sdp_origin, "127.0.0.1");
	assert_int_equal(c->sip.nphones, 1);
	assert_int_equal(c->presence.server.port, 5060);
	assert_int_equal(c->presence.nphones, 1);
	assert_string_equal(c->presence.phones[0].sip,
			    "sip:0123456789@localhost");
	assert_string_equal(c->presence.phones[0].jid, "alice@localhost");
	assert_string_equal(c->presence.phones[0].resource, "sip-phone");
	assert_null(c->presence.phones[0].password);
	assert_int_equal(c->presence.keepalive_max_s, 3600);
	assert_int_equal(c->msrp.listen.port, 2855);
	assert_int_equal(c->msrp.session_timeout_s, 43200);
	assert_int_equal(c->msrp.cleanup_interval_s, 60);
	config_free(c);
	/* defaults */
	c = load_ok(BASE);
	assert_int_equal(c->presence.server.port, 0);
	assert_int_equal(c->presence.subscribe_expires_s, 3600);
	assert_int_equal(c->msrp.listen.port, 0);
	assert_int_equal(c->msrp.message_timeout_s, 7200);
	config_free(c);
	/* an entry with a password (publishing over a client session) */
	c = load_ok(BASE "presence: {client_server: '127.0.0.1:5222', "
			 "phones: [{sip: 'sip:1@h', jid: 'a@b', "
			 "resource: r, password: pw}]}\n");
	assert_string_equal(c->presence.phones[0].password, "pw");
	assert_int_equal(c->presence.client_server.port, 5222);
	assert_int_equal(c->presence.client_tls, 1); /* required */
	config_free(c);
	/* ... needs a numeric client_server (no lookup in the loop) */
	assert_string_equal(
		load(BASE "presence: {phones: [{sip: 'sip:1@h', jid: 'a@b', "
			  "resource: r, password: pw}]}\n",
		     eb, sizeof(eb)),
		": presence.client_server: required when a phone has a "
		"password (the numeric host:port of the XMPP server's client "
		"port)");
	assert_string_equal(
		load(BASE "presence: {client_server: 'xmpp.example:5222'}\n",
		     eb, sizeof(eb)),
		":5:27: presence.client_server: expected a numeric IP "
		"address:port");
	assert_string_equal(
		load(BASE "presence: {client_tls: maybe}\n", eb, sizeof(eb)),
		":5:24: presence.client_tls: expected required or optional");
	/* two sessions cannot be the same jid/resource */
	assert_string_equal(
		load(BASE "presence: {client_server: '127.0.0.1:5222', "
			  "phones: [{sip: 'sip:1@h', jid: 'a@b', resource: r, "
			  "password: pw}, {sip: 'sip:2@h', jid: 'a@b', "
			  "resource: r, password: pw2}]}\n",
		     eb, sizeof(eb)),
		":5:53: presence.phones: two entries with a password sign in "
		"as the same jid/resource");
	/* bad entries: file:line:col, key, why */
	assert_string_equal(
		load(BASE "presence: {phones: [{sip: 'tel:1', jid: 'a@b', "
			  "resource: r}]}\n",
		     eb, sizeof(eb)),
		":5:20: presence.phones: sip must be a SIP URI sip:user@host");
	assert_string_equal(
		load(BASE "presence: {phones: [{sip: 'sip:1@h', jid: 'a@b/r', "
			  "resource: r}]}\n",
		     eb, sizeof(eb)),
		":5:20: presence.phones: jid must be a bare JID user@domain");
	assert_string_equal(
		load(BASE
		     "presence: {phones: [{sip: 'sip:1@h', jid: 'a@b'}]}\n",
		     eb, sizeof(eb)),
		":5:20: presence.phones: each entry needs resource: NAME");
	assert_string_equal(
		load(BASE "presence: {phones: [{sip: 'sip:1@h', jid: 'a@b', "
			  "resource: r, color: red}]}\n",
		     eb, sizeof(eb)),
		":5:20: presence.phones: each entry must be {sip, jid, "
		"resource[, password]}");
	assert_string_equal(
		load(BASE "msrp: {listen: nowhere}\n", eb, sizeof(eb)),
		":5:16: msrp.listen: expected host:port");
	assert_string_equal(
		load(BASE "presence: {keepalive: 5}\n", eb, sizeof(eb)),
		":5:12: presence.keepalive: unknown key");
}


/* supervisor.cpus: a CPU list as taskset -c takes; every CPU must exist */
static void test_cpus(void **state)
{
	struct xsgw_config *c;
	char eb[512], want[160], text[512];
	long n = sysconf(_SC_NPROCESSORS_CONF);

	c = load_ok(BASE);
	assert_int_equal(c->supervisor.cpus.on, 0);
	config_free(c);
	c = load_ok(BASE "supervisor: {cpus: 0}\n");
	assert_int_equal(c->supervisor.cpus.on, 1);
	assert_int_equal(CPU_COUNT(&c->supervisor.cpus.set), 1);
	assert_true(CPU_ISSET(0, &c->supervisor.cpus.set));
	config_free(c);
	if (n >= 2) {
		snprintf(text, sizeof(text),
			 BASE "supervisor: {cpus: '0-%ld,0'}\n", n - 1);
		c = load_ok(text);
		assert_int_equal(CPU_COUNT(&c->supervisor.cpus.set), (int)n);
		config_free(c);
	}
	snprintf(text, sizeof(text), BASE "supervisor: {cpus: '0,%ld'}\n", n);
	snprintf(want, sizeof(want),
		 ":5:20: supervisor.cpus: CPU %ld does not exist (this machine "
		 "has 0-%ld)",
		 n, n - 1);
	assert_string_equal(load(text, eb, sizeof(eb)), want);
	/* each bad value, with why */
	static const char *const bad[][2] = {
		{"'99999999999999999999'", "a CPU number too large"},
		{"'0-1024'", "a CPU number too large"},
		{"'1-0'", "a range must go up (0-3, not 3-0)"},
		{"x", NULL},
		{"'0,'", NULL},
		{"'-1'", NULL},
		{"'0-'", NULL},
		{"'0 1'", NULL},
		{"''", NULL},
		{"[0]", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), BASE "supervisor: {cpus: %s}\n",
			 bad[i][0]);
		snprintf(want, sizeof(want), ":5:20: supervisor.cpus: %s",
			 bad[i][1] ? bad[i][1]
				   : "expected a CPU list such as 1 or 0-3,6");
		assert_string_equal(load(text, eb, sizeof(eb)), want);
	}
}


static void test_missing_required(void **state)
{
	char eb[512];
	assert_string_equal(
		load("xmpp: {component: a, secret: s, domains: [d]}\n"
		     "sip: {listen: 127.0.0.1:5600, domain: d}\n"
		     "store: {path: /s}\n",
		     eb, sizeof(eb)),
		":1:1: runtime.dir: required key is missing");
}


static void test_syntax_and_duplicate(void **state)
{
	char eb[512];
	const char *e = load("xmpp: [unclosed\n", eb, sizeof(eb));
	assert_non_null(strstr(e, "(syntax)"));
	assert_string_equal(
		load(BASE "log: {level: info, level: debug}\n", eb, sizeof(eb)),
		":5:20: log.level: duplicate key");
}


static void test_missing_file(void **state)
{
	struct xsgw_config *c = NULL;
	char eb[512];
	assert_int_not_equal(
		config_load(&c, "/nonexistent/x.yaml", eb, sizeof(eb)), 0);
	assert_non_null(strstr(eb, "/nonexistent/x.yaml"));
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_hardening_keys),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_sdp_origin),
		cmocka_unit_test(test_names_and_dns_servers),
		cmocka_unit_test(test_xmpp_host),
		cmocka_unit_test(test_spec_keys),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_syntax_and_duplicate),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
