/*
 * nullcomp: a do-nothing XEP-0114 component, the ceiling for `make bench`.
 *
 *   nullcomp HOST PORT COMPONENT SECRET
 *
 * Connects, handshakes, then for every stanza read:
 *   iq set <jingle action='session-initiate'>  -> iq result, then an iq
 *       set <jingle action='session-accept'> with the same sid and a PCMU
 *       raw-udp content (what the gateway answers after the SIP side's 200)
 *   any other iq set/get                       -> iq result
 *   message with <request xmlns='urn:xmpp:receipts'/> -> a message with
 *       <received id=.../> (what the gateway sends on the SIP 200); other
 *       messages are echoed back (body swapped from/to)
 * Everything answered for one read is written with one write() (TCP_NODELAY
 * set). Exits on EOF or SIGTERM.
 */
#include "xscan.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

/* ---- SHA-1 (RFC 3174), for the handshake only ---- */
struct sha1 {
	uint32_t h[5];
	uint64_t n;
	unsigned char b[64];
	size_t bl;
};

static uint32_t rol(uint32_t x, int s)
{
	return (x << s) | (x >> (32 - s));
}

static void sha1_block(struct sha1 *c, const unsigned char *p)
{
	uint32_t w[80], a, b, d, e, f, k, t, cc;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = c->h[0];
	b = c->h[1];
	cc = c->h[2];
	d = c->h[3];
	e = c->h[4];
	for (int i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ cc ^ d;
			k = 0xCA62C1D6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = rol(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

static void sha1_hex(const char *s, size_t n, char out[41])
{
	struct sha1 c = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0},
			 0, {0}, 0};
	unsigned char pad[64 + 8] = {0x80};
	uint64_t bits = (uint64_t)n * 8;
	size_t padn;

	for (size_t i = 0; i < n; i++) {
		c.b[c.bl++] = (unsigned char)s[i];
		if (c.bl == 64) {
			sha1_block(&c, c.b);
			c.bl = 0;
		}
	}
	padn = (c.bl < 56 ? 56 : 120) - c.bl;
	for (int i = 0; i < 8; i++)
		pad[padn + i] = (unsigned char)(bits >> (56 - 8 * i));
	for (size_t i = 0; i < padn + 8; i++) {
		c.b[c.bl++] = pad[i];
		if (c.bl == 64) {
			sha1_block(&c, c.b);
			c.bl = 0;
		}
	}
	for (int i = 0; i < 5; i++)
		sprintf(out + 8 * i, "%08x", c.h[i]);
}

static volatile sig_atomic_t stop;

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static const char ACCEPT[] =
	"<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='audio' "
	"senders='both'><description xmlns='urn:xmpp:jingle:apps:rtp:1' "
	"media='audio'><payload-type id='0' name='PCMU' clockrate='8000'/>"
	"</description><transport xmlns='urn:xmpp:jingle:transports:raw-udp:1'>"
	"<candidate id='n1' component='1' generation='0' ip='127.0.0.1' "
	"port='30000'/></transport></content>";

static unsigned long n_iq, n_msg, seq;

static void handle(const char *st, struct buf *out)
{
	char from[512], to[512], id[256], type[32], act[64], sid[256];

	if (!attr(st, "from", from, sizeof(from)) || !attr(st, "to", to, sizeof(to)))
		return;
	if (!attr(st, "id", id, sizeof(id)))
		id[0] = 0;
	if (!attr(st, "type", type, sizeof(type)))
		type[0] = 0;
	if (!strncmp(st, "<iq", 3)) {
		if (strcmp(type, "set") && strcmp(type, "get"))
			return;
		n_iq++;
		buf_printf(out, "<iq type='result' from='%s' to='%s' id='%s'/>", to,
			   from, id);
		if (child_attr(st, "jingle", "action", act, sizeof(act)) &&
		    !strcmp(act, "session-initiate") &&
		    child_attr(st, "jingle", "sid", sid, sizeof(sid)))
			buf_printf(out,
				   "<iq type='set' from='%s' to='%s' id='na%lu'>"
				   "<jingle xmlns='urn:xmpp:jingle:1' "
				   "action='session-accept' sid='%s' responder='%s'>%s"
				   "</jingle></iq>",
				   to, from, ++seq, sid, to, ACCEPT);
	} else if (!strncmp(st, "<message", 8)) {
		if (!strcmp(type, "error"))
			return;
		n_msg++;
		if (strstr(st, "urn:xmpp:receipts"))
			buf_printf(out,
				   "<message from='%s' to='%s' id='nr%lu'>"
				   "<received xmlns='urn:xmpp:receipts' id='%s'/>"
				   "</message>",
				   to, from, ++seq, id);
		else
			buf_printf(out, "<message from='%s' to='%s' type='%s' id='ne%lu'>"
					"<body>echo</body></message>",
				   to, from, type[0] ? type : "normal", ++seq);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct buf in = {0}, out = {0};
	char id[256], hex[41], tmp[65536];
	int fd, one = 1, shaken = 0;
	size_t hlen;
	struct sigaction sact = {.sa_handler = on_term};

	if (argc != 5) {
		fprintf(stderr, "usage: %s HOST PORT COMPONENT SECRET\n", argv[0]);
		return 2;
	}
	sigaction(SIGTERM, &sact, NULL);
	sigaction(SIGINT, &sact, NULL);
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("connect");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	buf_printf(&out,
		   "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
		   "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>",
		   argv[3]);
	buf_flush(fd, &out);
	while (!stop) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		size_t off = 0, s;
		long e;

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		buf_add(&in, tmp, (size_t)n);
		if (!shaken) {
			char *h = strstr(in.p, "<stream:stream");
			long te;

			if (!h || (te = tag_end(h, strlen(h))) < 0)
				continue;
			if (!attr(h, "id", id, sizeof(id))) {
				fprintf(stderr, "nullcomp: no stream id\n");
				return 1;
			}
			snprintf(tmp, sizeof(tmp), "%s%s", id, argv[4]);
			sha1_hex(tmp, strlen(tmp), hex);
			buf_printf(&out, "<handshake>%s</handshake>", hex);
			buf_flush(fd, &out);
			hlen = (size_t)(h - in.p) + (size_t)te + 1;
			buf_drop(&in, hlen);
			shaken = 1;
		}
		while ((e = next_element(in.p + off, in.len - off, &s)) > 0) {
			char *st = in.p + off + s, save = in.p[off + (size_t)e];

			in.p[off + (size_t)e] = 0;
			if (!strncmp(st, "<handshake", 10))
				fprintf(stderr, "nullcomp: connected as %s\n", argv[3]);
			else if (!strncmp(st, "<stream:error", 13)) {
				fprintf(stderr, "nullcomp: %s\n", st);
				return 1;
			} else
				handle(st, &out);
			in.p[off + (size_t)e] = save;
			off += (size_t)e;
		}
		if (e < 0)
			break;
		buf_drop(&in, off);
		if (out.len && buf_flush(fd, &out))
			break;
		/* a blocking socket: buf_flush wrote everything */
	}
	fprintf(stderr, "nullcomp: %lu iq, %lu messages\n", n_iq, n_msg);
	return 0;
}
