'use strict';
// SMART Backend Services for the FHIR test server (never for production):
// discovery (/.well-known/smart-configuration), a token endpoint that accepts
// client_credentials with a private_key_jwt client assertion signed RS384 or
// ES384 and verified against the client's registered JWK Set (Node's crypto,
// no JWT library), and scope enforcement for the FHIR port.
//
// Checks, after SMART App Launch 2.x client-confidential-asymmetric and
// shared/reference/reliability-and-security.md §3.1: header alg RS384|ES384,
// kid present and in the client's JWKS; iss = sub = a registered client_id;
// aud = this token endpoint's URL exactly; exp in the future and at most five
// minutes ahead; jti present and never seen before (kept until its exp).
//
// Scopes: system/<Type|*>.<v1 read|write|*> or SMART v2 letters (c r u d s).
// A token grants the requested scopes the client is allowed (all requested,
// unless the client was registered with "allowedScopes").
const crypto = require('crypto');

const TOKEN_PATH = 'auth/token';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_ASSERTION_LIFETIME_S = 300;

class SmartAuth {
  constructor() {
    this.reset();
  }

  reset() {
    this.clients = new Map();  // clientId -> { keys: [{kid, alg, key}], allowedScopes, expiresIn }
    this.usedJti = new Map();  // jti -> exp (seconds)
    this.tokens = new Map();   // token -> { clientId, scopes: [...], expiresAt (ms) }
  }

  // {clientId, jwks: {keys: [...]}, allowedScopes?: "..." , expiresIn?: seconds}
  registerClient(spec) {
    if (!spec || typeof spec.clientId !== 'string' || !spec.clientId) throw new Error('clientId is required');
    if (!spec.jwks || !Array.isArray(spec.jwks.keys) || spec.jwks.keys.length === 0) {
      throw new Error('jwks must be a JWK Set with at least one key');
    }
    const keys = spec.jwks.keys.map((jwk) => {
      if (!jwk.kid) throw new Error('every JWK needs a kid');
      const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
      return { kid: jwk.kid, alg: jwk.alg || null, kty: jwk.kty, key };
    });
    const expiresIn = spec.expiresIn === undefined ? 300 : Number(spec.expiresIn);
    if (!(expiresIn > 0)) throw new Error('expiresIn must be a positive number of seconds');
    const client = { keys, allowedScopes: spec.allowedScopes ? splitScopes(spec.allowedScopes) : null, expiresIn };
    this.clients.set(spec.clientId, client);
    return { clientId: spec.clientId, kids: keys.map((k) => k.kid), expiresIn,
      allowedScopes: client.allowedScopes };
  }

  // Every issued token expires now (the server's side of "expired or revoked").
  expireTokens() {
    let n = 0;
    for (const t of this.tokens.values()) { t.expiresAt = 0; n++; }
    return n;
  }

  publicState() {
    return {
      clients: [...this.clients.entries()].map(([id, c]) => ({ clientId: id, kids: c.keys.map((k) => k.kid),
        allowedScopes: c.allowedScopes, expiresIn: c.expiresIn })),
      tokens: [...this.tokens.values()].map((t) => ({ clientId: t.clientId, scopes: t.scopes,
        expired: t.expiresAt <= Date.now() })),
    };
  }

  configuration(baseUrl) {
    return {
      token_endpoint: `${baseUrl}/${TOKEN_PATH}`,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.read', 'system/*.write', 'system/*.cruds'],
      capabilities: ['client-confidential-asymmetric'],
    };
  }

  isTokenPath(path) { return path === TOKEN_PATH; }

  // Handles POST /auth/token. Returns [status, body].
  token(body, baseUrl) {
    const fail = (status, error, description) => [status, { error, error_description: description }];
    const form = new URLSearchParams(body.toString('utf8'));
    if (form.get('grant_type') !== 'client_credentials') return fail(400, 'unsupported_grant_type', 'grant_type must be client_credentials');
    if (form.get('client_assertion_type') !== ASSERTION_TYPE) return fail(400, 'invalid_request', 'client_assertion_type must be jwt-bearer');
    const assertion = form.get('client_assertion') || '';
    const parts = assertion.split('.');
    if (parts.length !== 3) return fail(400, 'invalid_request', 'client_assertion is not a compact JWS');
    let header;
    let claims;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch (err) {
      return fail(400, 'invalid_request', `client_assertion is not JSON: ${err.message}`);
    }
    if (header.alg !== 'RS384' && header.alg !== 'ES384') return fail(401, 'invalid_client', `alg ${header.alg} is not RS384 or ES384`);
    if (!header.kid) return fail(401, 'invalid_client', 'the JWT header has no kid');
    const client = this.clients.get(claims.iss);
    if (!client) return fail(401, 'invalid_client', 'iss is not a registered client_id');
    if (claims.sub !== claims.iss) return fail(401, 'invalid_client', 'sub must equal iss');
    const jwk = client.keys.find((k) => k.kid === header.kid);
    if (!jwk) return fail(401, 'invalid_client', 'kid is not in the client\'s JWK Set');
    const expectedKty = header.alg === 'RS384' ? 'RSA' : 'EC';
    if (jwk.kty !== expectedKty || (jwk.alg && jwk.alg !== header.alg)) return fail(401, 'invalid_client', 'alg does not fit the registered key');
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
    const signature = Buffer.from(parts[2], 'base64url');
    const verified = crypto.verify('sha384', signed,
      header.alg === 'ES384' ? { key: jwk.key, dsaEncoding: 'ieee-p1363' } : jwk.key, signature);
    if (!verified) return fail(401, 'invalid_client', 'the client assertion\'s signature does not verify');
    const tokenUrl = `${baseUrl}/${TOKEN_PATH}`;
    if (claims.aud !== tokenUrl) return fail(401, 'invalid_client', `aud must be the token endpoint ${tokenUrl}`);
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number') return fail(401, 'invalid_client', 'exp is missing');
    if (claims.exp <= now) return fail(401, 'invalid_client', 'the client assertion has expired');
    if (claims.exp > now + MAX_ASSERTION_LIFETIME_S) return fail(401, 'invalid_client', 'exp is more than five minutes ahead');
    if (typeof claims.jti !== 'string' || !claims.jti) return fail(401, 'invalid_client', 'jti is missing');
    for (const [j, exp] of this.usedJti) if (exp <= now) this.usedJti.delete(j);
    if (this.usedJti.has(claims.jti)) return fail(401, 'invalid_client', 'jti was used before');
    this.usedJti.set(claims.jti, claims.exp);

    const requested = splitScopes(form.get('scope') || '');
    const granted = client.allowedScopes ? requested.filter((s) => client.allowedScopes.includes(s)) : requested;
    if (granted.length === 0) return fail(400, 'invalid_scope', 'no requested scope is allowed for this client');
    const token = crypto.randomBytes(24).toString('base64url');
    this.tokens.set(token, { clientId: claims.iss, scopes: granted, expiresAt: Date.now() + client.expiresIn * 1000 });
    return [200, { access_token: token, token_type: 'bearer', expires_in: client.expiresIn, scope: granted.join(' ') }];
  }

  // The scopes of a valid bearer token in an Authorization header, or null.
  scopesOf(authorization) {
    const m = /^Bearer (\S+)$/.exec(authorization || '');
    if (!m) return null;
    const t = this.tokens.get(m[1]);
    if (!t || t.expiresAt <= Date.now()) return null;
    return t.scopes;
  }

  // The interactions a request needs: [{type, letter}] (letter in c r u d s).
  // A Bundle posted to the base needs what each of its entries needs.
  static needs(method, path, parsedBody) {
    const [pathOnly, query] = path.split('?');
    const segments = pathOnly.split('/').filter(Boolean);
    if (segments.length === 0 && method === 'POST') {
      const entries = (parsedBody && parsedBody.entry) || [];
      return entries.flatMap((e) => (e.request ? SmartAuth.needs(e.request.method, e.request.url || '', e.resource) : []));
    }
    const type = segments[0];
    if (!type) return [];
    if (method === 'GET') return [{ type, letter: segments.length >= 2 ? 'r' : 's' }];
    if (method === 'POST' && segments.length === 1) return [{ type, letter: 'c' }];
    if (method === 'POST' && segments[1] === '_search') return [{ type, letter: 's' }];
    if (method === 'PUT') return [{ type, letter: 'u' }];
    if (method === 'DELETE') return [{ type, letter: 'd' }];
    void query;
    return [{ type, letter: 'c' }];
  }

  static allows(scopes, need) {
    return scopes.some((s) => {
      const m = /^system\/([A-Za-z*]+)\.(\*|read|write|[cruds]+)$/.exec(s);
      if (!m || (m[1] !== '*' && m[1] !== need.type)) return false;
      const p = m[2];
      if (p === '*') return true;
      if (p === 'read') return need.letter === 'r' || need.letter === 's';
      if (p === 'write') return need.letter === 'c' || need.letter === 'u' || need.letter === 'd';
      return p.includes(need.letter);
    });
  }
}

function splitScopes(s) {
  return String(s).split(/\s+/).filter(Boolean);
}

module.exports = { SmartAuth, TOKEN_PATH };
