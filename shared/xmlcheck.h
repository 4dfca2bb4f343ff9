/**
 * @file xmlcheck.h  Is a serialized stanza XML an XMPP server will take?
 *
 * A server closes the whole stream on one stanza that is not well-formed
 * (RFC 6120 §11), and every stanza written after it in the same burst is
 * lost. The xmpp-front checks each stanza before writing it; libstrophe
 * escapes markup characters but not control characters or bad UTF-8.
 */
#ifndef XSGW_XMLCHECK_H
#define XSGW_XMLCHECK_H

#include <stddef.h>

enum { XMLCHECK_DEPTH_CAP = 256 }; /**< largest max_depth honoured */

/**
 * Check that s[0..n) is exactly one well-formed element in XMPP's
 * restricted XML (RFC 6120 §11.1): UTF-8 of XML 1.0 characters only, tags
 * balanced and names matching, attributes quoted and not repeated, only
 * the predefined entities and character references of XML characters, no
 * comment, processing instruction, CDATA section or DTD, no prefixed name
 * other than xml:* and xmlns:* attributes, nothing before or after.
 *
 * @param max_depth  deepest nesting accepted (the element itself is 1),
 *                   at most XMLCHECK_DEPTH_CAP
 * @param why        if not NULL, set to a static reason on failure
 * @return 0, EILSEQ (a byte sequence that is not an XML character),
 *         E2BIG (nested deeper than max_depth) or EBADMSG (not well-formed)
 */
int xmlcheck_stanza(const char *s, size_t n, unsigned max_depth,
		    const char **why);

#endif
