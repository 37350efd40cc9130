// Drives Klaviyo's official Node SDK (klaviyo-api, as package-lock.json pins it) through klrbac
// proxy, for internal/proxy's TestNodeSDKThroughTheProxy. The SDK is used as an application would
// use it against Klaviyo, with two changes only: basePath is the proxy, and the key is a proxy
// token.
//
// The plan comes on stdin, not in argv or the environment, because it holds tokens:
//   {"basePath": "http://127.0.0.1:PORT",
//    "calls": [{"name": "...", "session": "api-key" | "bearer", "token": "...", "call": "..."}]}
// Each call's outcome is one JSON line on stdout, built from chosen fields only: the SDK's
// errors carry the request's configuration, Authorization header and all, so an error is never
// printed whole.
'use strict'

const { AccountsApi, ApiKeySession, OAuthBasicSession, ProfilesApi } = require('klaviyo-api')

// calls are the SDK methods the test may ask for, by name.
const calls = {
  getAccounts: { Api: AccountsApi, run: (api) => api.getAccounts() },
  getProfiles: { Api: ProfilesApi, run: (api) => api.getProfiles() },
  getProfilesWithPushTokens: { Api: ProfilesApi, run: (api) => api.getProfiles({ include: ['push-tokens'] }) },
  createProfile: {
    Api: ProfilesApi,
    run: (api) => api.createProfile({ data: { type: 'profile', attributes: { email: 'sdk-through-proxy@example.com' } } }),
  },
}

function session(kind, token) {
  switch (kind) {
    case 'api-key':
      return new ApiKeySession(token) // sent as "Authorization: Klaviyo-API-Key <token>"
    case 'bearer':
      return new OAuthBasicSession(token) // sent as "Authorization: Bearer <token>"
  }
  throw new Error(`unknown session kind ${JSON.stringify(kind)}`)
}

async function run(plan, step) {
  const out = { name: step.name }
  try {
    const call = calls[step.call]
    if (!call) {
      throw new Error(`unknown call ${JSON.stringify(step.call)}`)
    }
    const api = new call.Api(session(step.session, step.token))
    api.basePath = plan.basePath
    const { response, body } = await call.run(api)
    out.status = response.status
    // The SDK's deserialized body (camelCase attributes), not the raw JSON: what an application
    // reads.
    out.body = body
  } catch (err) {
    if (err && err.response) {
      // How the SDK surfaces an HTTP error: an AxiosError whose response holds the status and
      // the JSON:API error document.
      out.status = err.response.status
      out.errors = err.response.data && err.response.data.errors
      out.errorName = err.name
    } else {
      out.failure = `${(err && err.name) || 'Error'}: ${(err && err.message) || err}${err && err.code ? ` (${err.code})` : ''}`
    }
  }
  return out
}

async function main() {
  let input = ''
  for await (const chunk of process.stdin) {
    input += chunk
  }
  const plan = JSON.parse(input)
  for (const step of plan.calls) {
    process.stdout.write(JSON.stringify(await run(plan, step)) + '\n')
  }
}

main().catch((err) => {
  // Only the message: see above.
  process.stderr.write(`through-proxy.js: ${(err && err.message) || err}\n`)
  process.exit(1)
})
