'use strict';
// Runs under with-services.sh --fhir=tls: the FHIR port speaks HTTPS with a
// certificate from the CA generated for this run (RPM_TEST_FHIR_CA_FILE), which
// a client trusting that CA accepts and a client trusting only the system CAs refuses.
const fs = require('fs');
const https = require('https');
const { BASE, check, finish, control } = require('./harness');

function get(path, ca) {
  return new Promise((resolve) => {
    const req = https.get(`${BASE}${path}`, ca ? { ca } : {}, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', (e) => resolve({ error: e.code || e.message }));
  });
}

async function main() {
  check('the base URL is https', BASE.startsWith('https://127.0.0.1:'), BASE);
  const ca = fs.readFileSync(process.env.RPM_TEST_FHIR_CA_FILE);
  const trusted = await get('/metadata', ca);
  check('a client trusting the test CA gets the CapabilityStatement over HTTPS', trusted.status === 200
    && JSON.parse(trusted.text).resourceType === 'CapabilityStatement', JSON.stringify(trusted).slice(0, 300));
  const untrusted = await get('/metadata', null);
  check('a client without the test CA refuses the certificate', untrusted.error !== undefined
    && /CERT|SELF_SIGNED|ISSUER|VERIFY/.test(untrusted.error), JSON.stringify(untrusted));
  const recorded = (await control('GET', '/requests')).json;
  check('the control API (plain HTTP) records the HTTPS request', recorded.some((r) => r.url === '/metadata' && r.status === 200));
  finish();
}
main().catch((err) => { console.error(err); process.exit(1); });
