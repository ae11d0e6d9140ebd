'use strict';
// Every positive-corpus file is accepted and every negative-corpus file is
// rejected with an OperationOutcome naming its rule (file name = rule id,
// optionally --variant). Every rule of the server's table has a negative file.
// And the harness can fail: with its rule disabled (a test-only switch that
// plants "the server forgot this check"), each negative file is accepted, so
// this test would notice a missing rule, and each file breaks only that rule.
const fs = require('fs');
const path = require('path');
const { check, finish, fhir, control, rulesOf } = require('./harness');

const CORPUS = path.join(__dirname, '..', 'corpus');
// Rules that evaluate a whole StructureDefinition with Medplum and so also fire
// for many hand-written rules' violations; disabled too when checking that a
// negative file breaks only its own rule.
const MEDPLUM_RULES = ['r4-core', 'vitalsigns-profile'];

const files = (kind) => fs.readdirSync(path.join(CORPUS, kind)).filter((f) => f.endsWith('.json')).sort();
const read = (kind, f) => fs.readFileSync(path.join(CORPUS, kind, f), 'utf8');
const post = (text) => {
  const r = JSON.parse(text);
  return fhir('POST', r.resourceType === 'Bundle' ? '/' : `/${r.resourceType}`, text);
};

async function main() {
  const table = (await control('GET', '/rules')).json;
  const system = table.system;

  for (const f of files('positive')) {
    const text = read('positive', f);
    const res = await post(text);
    if (JSON.parse(text).resourceType === 'Bundle') {
      const statuses = res.json && res.json.entry ? res.json.entry.map((e) => e.response.status) : [];
      check(`positive ${f} is accepted, every entry 200/201`, res.status === 200 && statuses.length > 0
        && statuses.every((s) => /^20[01]/.test(s)), `${res.status} ${statuses} ${res.text}`);
    } else {
      check(`positive ${f} is accepted with 201`, res.status === 201, `${res.status} ${res.text}`);
    }
  }

  const covered = new Set();
  for (const f of files('negative')) {
    const rule = f.replace(/\.json$/, '').replace(/--.*$/, '');
    covered.add(rule);
    const text = read('negative', f);
    const res = await post(text);
    const named = rulesOf(res.json, system);
    check(`negative ${f} is rejected with 400 and an OperationOutcome naming rule ${rule}`,
      res.status === 400 && named.includes(rule), `${res.status} rules=${named} ${res.text}`);

    const disable = [rule, ...MEDPLUM_RULES.filter((r) => r !== rule)];
    await control('POST', '/rules/disabled-for-test', { rules: disable });
    const planted = await post(text);
    await control('POST', '/rules/disabled-for-test', { rules: [] });
    check(`with rule ${rule} disabled, ${f} is accepted (the corpus test catches a missing rule; the file breaks only that rule)`,
      planted.status === 201, `${planted.status} rules=${rulesOf(planted.json, system)}`);
  }

  for (const rule of Object.keys(table.rules)) {
    check(`rule ${rule} has a negative-corpus file`, covered.has(rule));
  }
  for (const rule of covered) {
    check(`negative-corpus rule ${rule} exists in the server's table`, rule in table.rules);
  }
  finish();
}

main().catch((err) => { console.error(err); process.exit(1); });
