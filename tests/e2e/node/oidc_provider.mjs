// A real OpenID Provider (panva/node-oidc-provider, MIT) for the OAuth login tests:
// node oidc_provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI, accounts (id -> claims)
// as JSON in OIDC_ACCOUNTS. Accounts
// sign in without a form: the login_hint names the account.
import http from "node:http";
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || "{}");

const provider = new Provider(issuer, {
  clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri],
              grant_types: ["authorization_code"], response_types: ["code"] }],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  scopes: ["openid", "email", "profile"],
  pkce: { required: () => true },
  findAccount: async (ctx, id) => accounts[id] && ({
    accountId: id,
    claims: async () => ({ ...accounts[id], sub: id }),
  }),
  cookies: { keys: ["test-cookie-key"] },
  features: { devInteractions: { enabled: false } },
});
provider.proxy = false;

const callback = provider.callback();
http.createServer(async (req, res) => {
  if (!req.url.startsWith("/interaction/")) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === "login") {
      return await provider.interactionFinished(req, res,
        { login: { accountId: details.params.login_hint } }, { mergeWithLastSubmission: false });
    }
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    return await provider.interactionFinished(req, res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
  } catch (error) {
    res.statusCode = 500; res.end(String(error));
  }
}).listen(Number(port), "127.0.0.1", () => console.log(`ready ${issuer}`));
