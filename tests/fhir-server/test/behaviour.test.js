'use strict';
// The FHIR test server's REST behaviour (metadata, create, update, conditional
// create, transaction atomicity, batch, search by identifier, recorded bodies)
// and each fault switch: every fault is shown to change what a client sees
// compared with the same request without it.
const fs = require('fs');
const net = require('net');
const path = require('path');
const { BASE, check, finish, fhir, control } = require('./harness');

const CC = 'http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation';
const positive = (f) => fs.readFileSync(path.join(__dirname, '..', 'corpus', 'positive', f), 'utf8');
const GLUCOSE = positive('glucose-capillary-101-mg-dl.json');
const glucoseWith = (identifier) => JSON.stringify({ ...JSON.parse(GLUCOSE), identifier: [{ system: CC, value: identifier }] });
const ifNoneExist = (identifier) => ({ 'If-None-Exist': `identifier=${CC}|${identifier}` });
// Counted through the control API, so that faults on the FHIR port cannot disturb the count.
const countByIdentifier = async (identifier) => (await control('GET', '/resources/Observation')).json
  .filter((r) => (r.identifier || []).some((i) => i.system === CC && i.value === identifier)).length;
const { port, hostname } = new URL(BASE);

// Sends one raw HTTP request and reports how the connection ended: the bytes
// received, and whether it ended with an error (RST -> ECONNRESET) or a clean close.
function rawRequest(method, urlPath, body) {
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const chunks = [];
    let error = null;
    socket.on('connect', () => {
      socket.write(`${method} ${urlPath} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/fhir+json\r\n`
        + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (e) => { error = e.code; });
    socket.on('close', () => resolve({ data: Buffer.concat(chunks).toString('utf8'), error }));
  });
}

function connectOutcome() {
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.on('connect', () => { socket.destroy(); resolve('connected'); });
    socket.on('error', (e) => resolve(e.code));
  });
}

async function restTests() {
  await control('POST', '/reset');
  const meta = await fhir('GET', '/metadata');
  check('GET /metadata returns an R4 CapabilityStatement', meta.status === 200
    && meta.json.resourceType === 'CapabilityStatement' && meta.json.fhirVersion === '4.0.1', meta.text);

  const created = await fhir('POST', '/Observation', glucoseWith('rest-1'));
  check('POST creates with 201, a Location and an ETag', created.status === 201
    && /\/Observation\/[^/]+\/_history\//.test(created.headers.get('location') || '') && created.headers.get('etag'), created.text);
  const id = created.json && created.json.id;
  const updated = await fhir('PUT', `/Observation/${id}`, JSON.stringify({ ...JSON.parse(glucoseWith('rest-1')), id, status: 'amended' }));
  check('PUT updates with 200 and a new version', updated.status === 200 && updated.json.status === 'amended'
    && updated.json.meta.versionId !== created.json.meta.versionId, updated.text);
  const badUpdate = await fhir('PUT', `/Observation/${id}`, JSON.stringify({ ...JSON.parse(glucoseWith('rest-1')), id, status: 'done' }));
  check('PUT of an invalid resource is rejected with 400 and changes nothing', badUpdate.status === 400
    && (await fhir('GET', `/Observation/${id}`)).json.status === 'amended', badUpdate.text);

  const first = await fhir('POST', '/Observation', glucoseWith('cc-1'), ifNoneExist('cc-1'));
  const second = await fhir('POST', '/Observation', glucoseWith('cc-1'), ifNoneExist('cc-1'));
  check('conditional create (If-None-Exist): 201, then 200 with the same id', first.status === 201 && second.status === 200
    && second.json.id === first.json.id, `${first.status} ${second.status}`);
  const search = await fhir('GET', `/Observation?identifier=${CC}%7Ccc-1`);
  check('search by identifier (| sent as %7C) finds exactly the one resource', search.status === 200 && search.json.entry.length === 1, search.text);
  const plainBar = await fhir('GET', `/Observation?identifier=${CC}|cc-1`);
  check('search by identifier with a literal | finds it too', plainBar.status === 200 && plainBar.json.entry.length === 1, plainBar.text);

  // A transaction with one invalid entry writes nothing (Medplum's memory
  // repository alone would keep the earlier entries).
  const tx = JSON.parse(positive('worked-example-4.7-transaction.json'));
  tx.entry[3].resource.status = 'done';
  const txRes = await fhir('POST', '/', JSON.stringify(tx));
  const devices = (await control('GET', '/resources/Device')).json;
  check('a transaction with one invalid entry is rejected as a whole and writes nothing', txRes.status === 400
    && devices.length === 0 && await countByIdentifier('B0495F001071-123-150020-768298150') === 0, `${txRes.status} devices=${devices.length}`);
  const batch = { resourceType: 'Bundle', type: 'batch', entry: tx.entry.map((e) => ({ ...e, fullUrl: undefined })) };
  batch.entry.forEach((e) => { if (e.resource.extension) e.resource.extension[0].valueReference.reference = 'Device/phg-1'; if (e.resource.device) e.resource.device.reference = 'Device/phd-1'; });
  const batchRes = await fhir('POST', '/', JSON.stringify(batch));
  const statuses = batchRes.json && batchRes.json.entry ? batchRes.json.entry.map((e) => e.response.status) : [];
  check('a batch answers per entry: the valid entries 201, the invalid one 400', batchRes.status === 200
    && statuses.join(',') === '201,201,201,400', `${batchRes.status} ${statuses}`);
  const bundleCc = await fhir('POST', '/', JSON.stringify(batch));
  const again = bundleCc.json && bundleCc.json.entry ? bundleCc.json.entry.map((e) => e.response.status) : [];
  check('ifNoneExist in bundle entries: the same batch again answers 200 and creates nothing', again.slice(0, 3).join(',') === '200,200,200'
    && await countByIdentifier('B0495F001071-123-150020-768298150') === 1, again);

  // Recorded bodies: the exact bytes, including number spelling, spacing and UTF-8.
  await control('DELETE', '/requests');
  const exact = glucoseWith('bytes-1').replace('"value":101', '"value":  2.00').replace('"status":"final"', '"status":"final" , "note":[{"text":"Température ✓"}]');
  const sent = await fhir('POST', '/Observation', exact);
  const recorded = (await control('GET', '/requests')).json;
  check('the request is recorded with method, url and status', recorded.length === 1 && recorded[0].method === 'POST'
    && recorded[0].url === '/Observation' && recorded[0].status === sent.status, JSON.stringify(recorded).slice(0, 300));
  check('the recorded body is the exact text sent (2.00 stays 2.00)', recorded[0].body === exact && recorded[0].body.includes('"value":  2.00'));
  const raw = Buffer.from(await (await fetch(`${process.env.RPM_TEST_FHIR_CONTROL_URL}/requests/${recorded[0].seq}/body`)).arrayBuffer());
  check('the raw body endpoint returns the exact bytes', raw.equals(Buffer.from(exact, 'utf8'))
    && Buffer.from(recorded[0].bodyBase64, 'base64').equals(Buffer.from(exact, 'utf8')));
}

async function faultTests() {
  await control('POST', '/reset');
  let f;

  // delay: a lower bound only, which no machine speed can break.
  f = (await control('POST', '/faults', { action: 'delay', ms: 400, match: { method: 'POST', path: '^/Observation' }, times: 1 })).json;
  let t0 = Date.now();
  const delayed = await fhir('POST', '/Observation', glucoseWith('delay-1'));
  const took = Date.now() - t0;
  check('delay: the matching request is answered no sooner than the injected 400 ms, and still succeeds',
    took >= 400 && delayed.status === 201, `${took} ms, ${delayed.status}`);
  t0 = Date.now();
  check('delay: with times=1 used up, the fault no longer applies', (await control('GET', '/faults')).json[0].remaining === 0
    && (await fhir('POST', '/Observation', glucoseWith('delay-2'))).status === 201);
  await control('DELETE', '/faults');

  for (const status of [429, 503]) {
    f = (await control('POST', '/faults', { action: 'status', status, retryAfter: 7, match: { path: '^/Observation' }, times: 1 })).json;
    const r = await fhir('POST', '/Observation', glucoseWith(`status-${status}`));
    check(`status ${status}: answered ${status} with Retry-After: 7 and an OperationOutcome, nothing stored`, r.status === status
      && r.headers.get('retry-after') === '7' && r.json.resourceType === 'OperationOutcome' && await countByIdentifier(`status-${status}`) === 0,
    `${r.status} ${r.headers.get('retry-after')}`);
    const retry = await fhir('POST', '/Observation', glucoseWith(`status-${status}`));
    check(`status ${status}: the retry after the fault is used up is stored`, retry.status === 201 && await countByIdentifier(`status-${status}`) === 1);
  }

  // Pattern matching: a fault on Device does not touch Observation.
  f = (await control('POST', '/faults', { action: 'status', status: 503, match: { path: '^/Device' } })).json;
  check('a fault applies only to requests matching its pattern', (await fhir('POST', '/Observation', glucoseWith('pattern-1'))).status === 201
    && (await fhir('POST', '/Device', positive('phg-device.json'))).status === 503);
  await control('DELETE', `/faults/${f.id}`);
  check('a removed fault no longer applies', (await fhir('POST', '/Device', positive('phg-device.json'))).status === 201);

  // drop-after-commit: the client gets no response, yet the resource is stored.
  const body = glucoseWith('drop-1');
  const baseline = await rawRequest('POST', '/Observation', glucoseWith('drop-0'));
  check('without a fault a raw request gets an HTTP response', baseline.data.startsWith('HTTP/1.1 201') && baseline.error === null);
  await control('POST', '/faults', { action: 'drop-after-commit', match: { path: '^/Observation' }, times: 1 });
  const dropped = await rawRequest('POST', '/Observation', body);
  check('drop-after-commit: the connection closes without any response bytes', dropped.data === '', dropped.data);
  check('drop-after-commit: the resource was nevertheless committed', await countByIdentifier('drop-1') === 1);

  // reset: RST before processing; nothing is stored.
  await control('POST', '/faults', { action: 'reset', match: { path: '^/Observation' }, times: 1 });
  const reset = await rawRequest('POST', '/Observation', glucoseWith('reset-1'));
  check('reset: the connection is reset (ECONNRESET) without response bytes', reset.data === '' && reset.error === 'ECONNRESET',
    `${reset.error} ${reset.data}`);
  check('reset: nothing was committed', await countByIdentifier('reset-1') === 0);

  // refuse connections: stop listening, then listen again on the same port.
  check('the FHIR port accepts connections before the listener is stopped', await connectOutcome() === 'connected');
  await control('POST', '/listener', { listening: false });
  check('refuse: with the listener stopped, connecting is refused (ECONNREFUSED)', await connectOutcome() === 'ECONNREFUSED');
  await control('POST', '/listener', { listening: true });
  check('refuse: listening again on the same port serves requests again', (await fhir('GET', '/metadata')).status === 200);

  // ignore-if-none-exist: the server stops preventing duplicates.
  await fhir('POST', '/Observation', glucoseWith('dup-1'), ifNoneExist('dup-1'));
  await fhir('POST', '/Observation', glucoseWith('dup-1'), ifNoneExist('dup-1'));
  check('without the fault, conditional create keeps one resource', await countByIdentifier('dup-1') === 1);
  f = (await control('POST', '/faults', { action: 'ignore-if-none-exist', match: { path: '^/' } })).json;
  const dup = await fhir('POST', '/Observation', glucoseWith('dup-1'), ifNoneExist('dup-1'));
  const bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: JSON.parse(glucoseWith('dup-1')),
    request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${CC}|dup-1` } }] };
  const dupBundle = await fhir('POST', '/', JSON.stringify(bundle));
  check('ignore-if-none-exist: the header and the bundle entry\'s ifNoneExist are ignored and duplicates are created',
    dup.status === 201 && dupBundle.json.entry[0].response.status.startsWith('201') && await countByIdentifier('dup-1') === 3);
  await control('DELETE', `/faults/${f.id}`);
  check('after the fault, conditional create on the duplicated identifier answers 412',
    (await fhir('POST', '/Observation', glucoseWith('dup-1'), ifNoneExist('dup-1'))).status === 412);

  // require-token: 401 until the new token is presented.
  check('without the fault no token is needed', (await fhir('POST', '/Observation', glucoseWith('token-0'))).status === 201);
  await control('POST', '/faults', { action: 'require-token', token: 'token-2', match: { path: '^/' } });
  const old = await fhir('POST', '/Observation', glucoseWith('token-1'), { Authorization: 'Bearer token-1' });
  check('require-token: the old token gets 401 with WWW-Authenticate, nothing stored', old.status === 401
    && /Bearer/.test(old.headers.get('www-authenticate') || '') && await countByIdentifier('token-1') === 0, old.status);
  check('require-token: no token gets 401', (await fhir('GET', '/metadata')).status === 401);
  const fresh = await fhir('POST', '/Observation', glucoseWith('token-1'), { Authorization: 'Bearer token-2' });
  check('require-token: the new token is accepted', fresh.status === 201, fresh.status);

  const record = (await control('GET', '/requests')).json;
  check('recorded requests name the faults applied to them', record.some((r) => r.faults.some((x) => x.startsWith('drop-after-commit#')))
    && record.some((r) => String(r.status).startsWith('dropped-after-201')));
  check('an unknown fault action is refused by the control API', (await control('POST', '/faults', { action: 'explode' })).status === 400);
  await control('POST', '/reset');
}

restTests().then(faultTests).then(finish).catch((err) => { console.error(err); process.exit(1); });
