'use strict';
// Minimal test harness for the FHIR test server's own tests: named checks,
// "N passed, N failed" at the end, and helpers for the FHIR and control URLs
// that tests/services/with-services.sh --fhir exports.
const BASE = process.env.RPM_TEST_FHIR_BASE_URL;
const CONTROL = process.env.RPM_TEST_FHIR_CONTROL_URL;
if (!BASE || !CONTROL) {
  console.error('run me under tests/services/with-services.sh --fhir');
  process.exit(2);
}

let passed = 0;
let failed = 0;
function check(sentence, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   - ${sentence}`);
  } else {
    failed++;
    console.log(`FAIL - ${sentence}${detail === undefined ? '' : `\n       ${String(detail).slice(0, 1500)}`}`);
  }
  return ok;
}
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

async function fhir(method, path, body, headers = {}) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: res.status, headers: res.headers, text, json };
}

async function control(method, path, body) {
  const res = await fetch(`${CONTROL}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: res.status, json, text };
}

// Rule ids named by an OperationOutcome (issue.details.coding of the rule system).
function rulesOf(oo, system) {
  if (!oo || oo.resourceType !== 'OperationOutcome') return [];
  return [...new Set((oo.issue || []).flatMap((i) => ((i.details && i.details.coding) || [])
    .filter((c) => c.system === system).map((c) => c.code)))];
}

module.exports = { BASE, CONTROL, check, finish, fhir, control, rulesOf };
