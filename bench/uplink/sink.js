'use strict';
// A fast FHIR sink for the uplink benchmark: answers well-formed responses
// without validating or storing anything, so the gateway is what is measured.
//   POST /          batch-response with one "201 Created" entry per request entry
//   POST /Device    201 with a Device id
//   GET  /metadata  a minimal R4 CapabilityStatement
//   GET  /_stats    {"requests": N}
//
//   node bench/uplink/sink.js   (prints "sink http://127.0.0.1:PORT" when listening)
const http = require('http');

let requests = 0;
let nextId = 1;
const JSON_TYPE = 'application/fhir+json';

function reply(res, status, text) {
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/_stats') return reply(res, 200, JSON.stringify({ requests }));
    requests++;
    if (req.method === 'GET' && req.url.startsWith('/metadata')) {
      return reply(res, 200, '{"resourceType":"CapabilityStatement","status":"active","kind":"instance","fhirVersion":"4.0.1","format":["json"]}');
    }
    if (req.method === 'POST' && req.url === '/Device') {
      return reply(res, 201, `{"resourceType":"Device","id":"d${nextId++}"}`);
    }
    if (req.method === 'POST' && req.url === '/') {
      const body = Buffer.concat(chunks).toString('latin1');
      let entries = 0;
      for (let i = body.indexOf('"request":'); i !== -1; i = body.indexOf('"request":', i + 10)) entries++;
      const parts = [];
      for (let k = 0; k < entries; k++) {
        const id = nextId++;
        parts.push(`{"response":{"status":"201 Created","location":"Observation/o${id}/_history/1"}}`);
      }
      return reply(res, 200, `{"resourceType":"Bundle","type":"batch-response","entry":[${parts.join(',')}]}`);
    }
    return reply(res, 404, '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}');
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`sink http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
