// make bench's side-by-side: panva's oidc-provider 9 (OpenID certified) issuing the token Tollgate's
// bench row issues: client_credentials, client_secret_basic, one scope, one resource (RFC 8707) whose
// access tokens are RFC 9068 JWTs signed with ALG (RS256 or ES256), a key generated at start.
//
// Started by bench/compare/node.py as `taskset -c N node server.mjs` with ALG, CLIENT_ID,
// CLIENT_SECRET, AUDIENCE and SCOPE in the environment; it listens on 127.0.0.1 on a free port and
// prints one JSON line {"port": ...} on stdout once it answers.  Configuration per oidc-provider's
// docs/README.md: features.clientCredentials, features.resourceIndicators (getResourceServerInfo
// answering accessTokenFormat 'jwt' with jwt.sign.alg), jwks.  Nothing is logged per request
// (Tollgate's figure includes its log line and metrics: the bench prints that difference).
import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const { ALG = 'ES256', CLIENT_ID, CLIENT_SECRET, AUDIENCE, SCOPE } = process.env;
if (!CLIENT_ID || !CLIENT_SECRET || !AUDIENCE || !SCOPE) {
  console.error('CLIENT_ID, CLIENT_SECRET, AUDIENCE and SCOPE are required');
  process.exit(2);
}

function signingKey(alg) {
  const { privateKey } = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 }) // Tollgate's RS256 keys are 2048-bit too
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `bench-${alg}` };
}

const resourceServer = {
  scope: SCOPE,
  audience: AUDIENCE,
  accessTokenTTL: 3600,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: ALG } },
};

const server = http.createServer();
server.keepAliveTimeout = 600_000; // one keep-alive connection for the whole run
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: ALG, // the client's default must be a key the provider holds
      scope: SCOPE,
    }],
    jwks: { keys: [signingKey(ALG)] },
    scopes: [SCOPE],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== AUDIENCE) throw new Provider.errors.InvalidTarget();
          return resourceServer;
        },
      },
    },
    ttl: { ClientCredentials: 3600 },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
