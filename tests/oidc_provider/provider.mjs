// A real OpenID Connect provider for the tests: the certified `oidc-provider` package with
// its own login form (username + password, checked) and automatic consent for the one
// client. Started by tests/oidc_provider/__init__.py, which copies this file next to the
// installed package. Configuration comes from the environment:
//   ISSUER, HOST, PORT                 where it listens (issuer = http://HOST:PORT)
//   OIDC_CLIENT                        JSON {client_id, client_secret, redirect_uris}
//   OIDC_USERS                         JSON {login: {password, name, email, groups}}
//   ID_TOKEN_TTL_S                     lifetime of ID tokens (default 600)
import http from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import Provider from 'oidc-provider';

const issuer = process.env.ISSUER;
const port = Number(process.env.PORT);
const client = JSON.parse(process.env.OIDC_CLIENT);
const users = JSON.parse(process.env.OIDC_USERS);

const provider = new Provider(issuer, {
  clients: [{ ...client, grant_types: ['authorization_code'], response_types: ['code'],
              token_endpoint_auth_method: 'client_secret_basic' }],
  async findAccount(_ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return { accountId: id,
             async claims() { return { sub: id, name: user.name, email: user.email, groups: user.groups }; } };
  },
  claims: { openid: ['sub'], profile: ['name'], email: ['email'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  conformIdTokenClaims: false,  // the ID token carries the claims (Streamlit reads only it)
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomBytes(16).toString('hex')] },
  ttl: { IdToken: Number(process.env.ID_TOKEN_TTL_S || 600) },
});

const page = (title, body) => `<!doctype html><html><head><title>${title}</title></head>
<body style="font-family: sans-serif; max-width: 24em; margin: 4em auto">
<h1>Team SSO</h1>${body}</body></html>`;

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(uid, error) {
  return page('Sign in', `<form method="post" action="/interaction/${uid}/login" autocomplete="off">
  ${error ? `<p role="alert" style="color: #b00">${escape(error)}</p>` : ''}
  <p><label>Username <input name="login" autofocus></label></p>
  <p><label>Password <input name="password" type="password"></label></p>
  <p><button type="submit">Sign in</button></p></form>`);
}

function passwordMatches(login, given) {
  const expected = Buffer.from(users[login]?.password ?? randomBytes(16).toString('hex'));
  const actual = Buffer.from(String(given ?? ''));
  return expected.length === actual.length && timingSafeEqual(expected, actual) && login in users;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return Object.fromEntries(new URLSearchParams(body));
}

async function consent(req, res, details) {
  const { prompt, grantId, session, params } = details;
  const grant = grantId ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
                                     { mergeWithLastSubmission: true });
}

async function interaction(req, res) {
  const [, , uid, action] = req.url.split('?')[0].split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'consent') return consent(req, res, details);  // first-party client
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    if (!passwordMatches(form.login, form.password)) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(loginForm(uid, 'Wrong username or password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: form.login } },
                                        { mergeWithLastSubmission: false });
  }
  res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
  return res.end(loginForm(uid));
}

const callback = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${err.message}`);
    });
    return;
  }
  callback(req, res);
}).listen(port, process.env.HOST, () => console.log(`oidc-provider listening on ${issuer}`));
