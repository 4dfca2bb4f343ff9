#!/usr/bin/env node
// Reads an <iq/> carrying a Jingle session-initiate or session-accept (as
// the gateway wrote it) on stdin and prints the SDP that stanza's own
// conversion makes of it: JXT.parse + registry.import, then
// convertRequestToIntermediate + exportToSDP, as stanza's MediaSession does.
'use strict';
const { JXT } = require('stanza');
const Protocol = require('stanza/protocol').default;
const { exportToSDP } = require('stanza/jingle/sdp/Intermediate');
const { convertRequestToIntermediate } = require('stanza/jingle/sdp/Protocol');

let xml = '';
process.stdin.on('data', d => { xml += d; });
process.stdin.on('end', () => {
    const registry = new JXT.Registry();
    registry.define(Protocol);
    // stanza parses stanzas of the client namespace
    const el = JXT.parse(xml.replace('<iq ', "<iq xmlns='jabber:client' "));
    const iq = registry.import(el);
    if (!iq || !iq.jingle || !iq.jingle.contents) {
        process.stderr.write('no jingle contents in: ' + xml + '\n');
        process.exit(1);
    }
    const role = iq.jingle.action === 'session-initiate' ? 'initiator' : 'responder';
    process.stdout.write(exportToSDP(convertRequestToIntermediate(iq.jingle, role)));
});
