'use strict';
// Runs under with-services.sh --fhir=smart: discovery, the token endpoint's
// checks of the client assertion (each broken once and refused), and scope
// enforcement on the FHIR port.
const crypto = require('crypto');
const { BASE, check, finish, fhir, control } = require('./harness');

function b64url(obj) { return Buffer.from(JSON.stringify(obj)).toString('base64url'); }

function assertion(key, alg, claims, header = {}) {
  const h = b64url({ alg, typ: 'JWT', kid: header.kid === undefined ? `${alg}-key` : header.kid, ...header });
  const p = b64url(claims);
  const signed = Buffer.from(`${h}.${p}`);
  const sig = crypto.sign('sha384', signed, alg === 'ES384' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${h}.${p}.${sig.toString('base64url')}`;
}

async function token(jwt, scope) {
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt });
  const res = await fetch(`${BASE}/auth/token`, { method: 'POST', body,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  return { status: res.status, json: await res.json() };
}

async function main() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = (k, kid, alg) => ({ ...k.publicKey.export({ format: 'jwk' }), kid, alg });

  const discovery = await fhir('GET', '/.well-known/smart-configuration');
  const tokenUrl = discovery.json && discovery.json.token_endpoint;
  check('discovery names the token endpoint, private_key_jwt and RS384/ES384', discovery.status === 200
    && tokenUrl === `${BASE}/auth/token`
    && discovery.json.token_endpoint_auth_signing_alg_values_supported.includes('ES384'), discovery.text);

  const reg = await control('POST', '/smart/clients', { clientId: 'gw', expiresIn: 120,
    jwks: { keys: [jwk(rsa, 'RS384-key', 'RS384'), jwk(ec, 'ES384-key', 'ES384')] } });
  check('a client registers its JWK Set over the control API', reg.status === 201, reg.text);
  await control('POST', '/smart/clients', { clientId: 'reader', allowedScopes: 'system/Observation.rs',
    jwks: { keys: [jwk(rsa, 'RS384-key', 'RS384')] } });

  const now = Math.floor(Date.now() / 1000);
  const claims = (extra = {}) => ({ iss: 'gw', sub: 'gw', aud: tokenUrl, exp: now + 240,
    jti: crypto.randomBytes(8).toString('hex'), ...extra });

  const rs = await token(assertion(rsa.privateKey, 'RS384', claims()), 'system/Observation.crs system/Device.crs');
  check('an RS384 assertion gets a token with the requested scopes', rs.status === 200 && rs.json.access_token
    && rs.json.expires_in === 120 && rs.json.scope === 'system/Observation.crs system/Device.crs', JSON.stringify(rs));
  const es = await token(assertion(ec.privateKey, 'ES384', claims()), 'system/Observation.c system/Device.c');
  check('an ES384 assertion gets a token', es.status === 200 && es.json.access_token, JSON.stringify(es));

  const refused = [
    ['a signature by an unregistered key', assertion(other.privateKey, 'RS384', claims())],
    ['an unknown kid', assertion(rsa.privateKey, 'RS384', claims(), { kid: 'nope' })],
    ['an unknown client', assertion(rsa.privateKey, 'RS384', claims({ iss: 'x', sub: 'x' }))],
    ['sub different from iss', assertion(rsa.privateKey, 'RS384', claims({ sub: 'someone' }))],
    ['a wrong aud', assertion(rsa.privateKey, 'RS384', claims({ aud: `${BASE}/token` }))],
    ['an expired assertion', assertion(rsa.privateKey, 'RS384', claims({ exp: now - 1 }))],
    ['exp more than five minutes ahead', assertion(rsa.privateKey, 'RS384', claims({ exp: now + 400 }))],
    ['no jti', assertion(rsa.privateKey, 'RS384', claims({ jti: undefined }))],
  ];
  for (const [what, jwt] of refused) {
    const r = await token(jwt, 'system/Observation.crs');
    check(`the token endpoint refuses ${what}`, r.status === 401 && r.json.error === 'invalid_client', JSON.stringify(r));
  }
  const once = assertion(rsa.privateKey, 'RS384', claims());
  const first = await token(once, 'system/Observation.crs');
  const replay = await token(once, 'system/Observation.crs');
  check('a reused jti is refused', first.status === 200 && replay.status === 401, JSON.stringify(replay));
  const tampered = once.replace(/\.[^.]+\./, `.${b64url(claims({ iss: 'gw', jti: 'new' }))}.`);
  check('a tampered payload is refused', (await token(tampered, 'system/Observation.crs')).status === 401);
  const narrowed = await token(assertion(rsa.privateKey, 'RS384', { ...claims(), iss: 'reader', sub: 'reader' }),
    'system/Observation.rs system/Observation.c');
  check('a token grants only the scopes the client is allowed', narrowed.status === 200
    && narrowed.json.scope === 'system/Observation.rs', JSON.stringify(narrowed));

  const auth = (t) => ({ Authorization: `Bearer ${t}` });
  check('/metadata needs no token', (await fhir('GET', '/metadata')).status === 200);
  const noToken = await fhir('GET', '/Observation?identifier=a|b');
  check('a request without a token is 401 with WWW-Authenticate', noToken.status === 401
    && /Bearer/.test(noToken.headers.get('www-authenticate') || ''));
  check('an unknown token is 401', (await fhir('GET', '/Observation?identifier=a|b', undefined, auth('bogus'))).status === 401);
  check('a token with read scopes may search', (await fhir('GET', '/Observation?identifier=a|b', undefined,
    auth(rs.json.access_token))).status === 200);
  const createOnly = await fhir('GET', '/Observation?identifier=a|b', undefined, auth(es.json.access_token));
  check('a create-only token may not search (403)', createOnly.status === 403, createOnly.text);
  const device = { resourceType: 'Device', status: 'active' };
  const created = await fhir('POST', '/Device', device, auth(es.json.access_token));
  check('a create-only token may create', created.status === 201, created.text);
  const readOnly = await fhir('POST', '/Device', device, auth(narrowed.json.access_token));
  check('a read-only token may not create (403)', readOnly.status === 403, readOnly.text);
  const bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: device, request: { method: 'POST', url: 'Device' } }] };
  check('a batch needs the scopes of its entries', (await fhir('POST', '/', bundle, auth(narrowed.json.access_token))).status === 403
    && (await fhir('POST', '/', bundle, auth(rs.json.access_token))).status === 200);

  const expired = await control('POST', '/smart/tokens/expire');
  check('expiring every token makes the next request 401', expired.json.expired >= 3
    && (await fhir('GET', '/Observation?identifier=a|b', undefined, auth(rs.json.access_token))).status === 401);
  finish();
}
main().catch((err) => { console.error(err); process.exit(1); });
