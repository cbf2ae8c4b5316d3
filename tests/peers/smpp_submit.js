// An independent ESME for testing the vendor simulator: npm `smpp` (farhadi/node-smpp) as a
// client. Usage: node smpp_submit.js PORT SYSTEM_ID PASSWORD DESTINATION TEXT
// Binds as a transmitter and submits TEXT as data_coding 0 (SMSC default), which the
// package encodes with its default encoding, GSM 03.38; prints "SUBMITTED <message_id>"
// or "FAILED <command_status>", then unbinds. (Left to detect, the package would mark the
// same GSM bytes data_coding 1, IA5.)
'use strict';

const smpp = require('smpp');

const [port, systemId, password, destination, text] = process.argv.slice(2);
const session = smpp.connect({ url: `smpp://127.0.0.1:${port}` }, function () {
	session.bind_transmitter({ system_id: systemId, password: password }, function (bound) {
		if (bound.command_status !== 0) {
			console.log(`FAILED ${bound.command_status}`);
			session.close();
			return;
		}
		session.submit_sm({ destination_addr: destination, short_message: text, data_coding: 0 }, function (resp) {
			console.log(resp.command_status === 0 ? `SUBMITTED ${resp.message_id}` : `FAILED ${resp.command_status}`);
			session.unbind(function () { session.close(); });
		});
	});
});
session.on('error', function (err) {
	console.log(`ERROR ${err.message}`);
	process.exit(1);
});
