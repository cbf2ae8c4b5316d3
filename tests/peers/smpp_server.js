// An independent SMSC for testing our SMPP client: npm `smpp` (farhadi/node-smpp) in
// server mode. Usage: node smpp_server.js PORT [SYSTEM_ID PASSWORD]
// PORT 0 picks a free port; the chosen one is printed as "LISTENING <port>".
//
// Like npm smpp's own server and real vendors, it answers submit_sm with a hex-looking
// message_id ("ABC1" for 43969) and, when registered_delivery asks for it, sends an
// Appendix-B receipt carrying the same number in decimal ("id:43969"), text only.
'use strict';

const smpp = require('smpp');

const port = parseInt(process.argv[2] || '0', 10);
const systemId = process.argv[3] || 'probe';
const password = process.argv[4] || 'secret';
let nextId = 43969;

function yymmddhhmm(d) {
	const p = (n) => String(n).padStart(2, '0');
	return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
		p(d.getUTCHours()) + p(d.getUTCMinutes());
}

const server = smpp.createServer(function (session) {
	let bound = false;
	function onBind(pdu) {
		if (pdu.system_id !== systemId || pdu.password !== password) {
			session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }));
			return;
		}
		bound = true;
		session.send(pdu.response({ system_id: 'NODESMSC' }));
	}
	session.on('bind_transceiver', onBind);
	session.on('bind_transmitter', onBind);
	session.on('submit_sm', function (pdu) {
		if (!bound) {
			session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
			return;
		}
		const number = nextId++;
		const submitted = new Date();
		session.send(pdu.response({ message_id: number.toString(16).toUpperCase() }));
		if ((pdu.registered_delivery & 0x03) === 0) {
			return;
		}
		const text = 'id:' + number + ' sub:001 dlvrd:001 submit date:' + yymmddhhmm(submitted) +
			' done date:' + yymmddhhmm(new Date()) + ' stat:DELIVRD err:000 text:';
		session.deliver_sm({
			source_addr: pdu.destination_addr,
			destination_addr: pdu.source_addr,
			esm_class: 0x04,
			data_coding: 0,
			short_message: Buffer.from(text, 'latin1'),
		});
	});
	session.on('enquire_link', function (pdu) {
		session.send(pdu.response());
	});
	session.on('unbind', function (pdu) {
		session.send(pdu.response());
		session.close();
	});
	session.on('error', function () {
		// A peer that vanishes mid-session is expected in the tests.
	});
});

server.listen(port, '127.0.0.1', function () {
	process.stdout.write('LISTENING ' + server.address().port + '\n');
});
