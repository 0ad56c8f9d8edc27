// The client against a live wxauth debug server (built-in mock WeChat),
// through a `wx` shim backed by real HTTP. The server's access tokens live
// two seconds, so that expiry is reached within a test.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { createClient, WxAuthError } = require('..');
const { createWx } = require('./wx_shim');

const BIN = process.env.WXAUTH_BIN || path.join(__dirname, '..', '..', '..', 'target', 'debug', 'wxauth');
const RSA_KEY = path.join(__dirname, '..', '..', '..', 'tests', 'fixtures', 'oidc', 'rsa_private_key.pem');
let server;
let base;
let dir;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxauth-client-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, [], {
    cwd: dir,
    env: Object.assign({}, process.env, {
      ROCKET_CONFIG: path.join(dir, 'absent.toml'),
      ROCKET_PROFILE: 'debug',
      ROCKET_ADDRESS: '127.0.0.1',
      ROCKET_PORT: String(port),
      ROCKET_DATABASE_URL: path.join(dir, 'wxauth.sqlite'),
      ROCKET_ACCESS_TOKEN_TTL: '2',
      ROCKET_WECHAT: '{mock=true,apps=[{appid="wxclienttest00001",secret="s"}]}',
      ROCKET_APPS: '[{platform="douyin",appid="ttclienttest00001",secret="s",name="Douyin app"}]',
      ROCKET_RATE_LIMIT: '{authorize_per_minute=0,refresh_per_minute=0}',
      ROCKET_OIDC: `{issuer="http://127.0.0.1:${port}",rsa_private_key="${RSA_KEY}",` +
        `clients=[{client_id="shop",client_secret="shop-secret-0123456789",name="The Shop",` +
        `redirect_uris=["https://shop.example.com/callback"]}]}`,
      WXAUTH_LOG: 'error',
    }),
    stdio: 'ignore',
  });
  for (let i = 0; i < 400; i++) {
    try {
      const res = await fetch(base + '/healthz');
      if (res.ok) return;
    } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('wxauth did not start (' + BIN + ')');
});

after(() => {
  server.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const calls = (wx, name) => wx.sent.filter((r) => r.url.endsWith('/auth/' + name)).length;

function noTokenInUrls(wx) {
  const kept = [];
  for (const r of wx.sent) {
    if (r.header.Authorization) kept.push(r.header.Authorization.slice('Bearer '.length));
  }
  for (const r of wx.sent) {
    assert.ok(!/[?&]token=/i.test(r.url), r.url);
    for (const t of kept) assert.ok(!r.url.includes(t), 'a token in ' + r.url);
  }
}

test('login, status, profile, logout', async () => {
  const wx = createWx();
  const client = createClient({ baseUrl: base, wx });
  const pair = await client.login({ nickName: 'Mei' });
  assert.equal(pair.token_type, 'Bearer');
  assert.ok(client.session().token);
  const status = await client.status();
  assert.equal(status.is_authorized, 1);
  assert.equal(status.user_id, pair.user_id);
  const user = await client.getUser();
  assert.equal(user.nickname, 'Mei');
  const updated = await client.updateUser({ city: 'Hangzhou' });
  assert.equal(updated.city, 'Hangzhou');
  const token = client.session().token;
  await client.logout();
  assert.equal(client.session(), null);
  const after = await fetch(base + '/api/v1.0/auth/status', { headers: { Authorization: 'Bearer ' + token } });
  assert.equal((await after.json()).data.is_authorized, 0);
  noTokenInUrls(wx);
});

test('on Douyin a guest logs in with anonymousCode, and stays the same person once logged in', async () => {
  const device = { device: 'device-' + process.pid + '-' + Date.now(), guest: true };
  const wx = createWx(device);
  const client = createClient({ baseUrl: base, wx, appId: 'ttclienttest00001' });
  const guest = await client.login({ nickName: 'Guest' });
  assert.equal(guest.is_new_user, true);
  assert.ok(wx.sent.length > 0);
  device.guest = false;
  const real = await client.login();
  assert.equal(real.user_id, guest.user_id, 'the guest became the person');
  assert.equal(real.is_new_user, false);
  const user = await client.getUser();
  assert.equal(user.nickname, 'Guest');
  assert.deepEqual(
    user.identities.map((i) => [i.platform, i.appid, i.app_name]),
    [['douyin', 'ttclienttest00001', 'Douyin app'], ['douyin', 'ttclienttest00001', 'Douyin app']]
  );
});

test('a call before any login logs in first', async () => {
  const wx = createWx();
  const client = createClient({ baseUrl: base, wx });
  const user = await client.getUser();
  assert.ok(user.user_id > 0);
  assert.equal(calls(wx, 'authorize'), 1);
});

test('concurrent calls with an expired token make exactly one refresh', async () => {
  const wx = createWx();
  const client = createClient({ baseUrl: base, wx });
  await client.login();
  await sleep(2200);
  const users = await Promise.all(Array.from({ length: 8 }, () => client.getUser()));
  assert.equal(new Set(users.map((u) => u.user_id)).size, 1);
  assert.equal(calls(wx, 'refresh'), 1);
  assert.equal(calls(wx, 'authorize'), 1);
  noTokenInUrls(wx);
});

test('a refused token is renewed once even when the client thought it good', async () => {
  const wx = createWx();
  const client = createClient({ baseUrl: base, wx });
  await client.login();
  // The server says the token expired before the client's clock does.
  const kept = client.session();
  wx.setStorageSync('wxauth', Object.assign({}, kept, { refresh_at: Date.now() + 60000 }));
  // Past `exp`, which the server counts in whole seconds.
  await sleep(3100);
  const results = await Promise.all(Array.from({ length: 6 }, () => client.getUser()));
  assert.equal(results.length, 6);
  assert.equal(calls(wx, 'refresh'), 1);
});

test('a revoked session logs in again, once', async () => {
  const wx = createWx();
  const client = createClient({ baseUrl: base, wx });
  const first = await client.login();
  // Ended elsewhere (another device's global logout, a console revoke).
  const res = await fetch(base + '/api/v1.0/auth/logout', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + first.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ scope: 'global' }),
  });
  assert.equal(res.status, 200);
  const user = await client.getUser();
  assert.ok(user.user_id > 0);
  assert.equal(calls(wx, 'refresh'), 1, 'the refresh is refused (-502)');
  assert.equal(calls(wx, 'authorize'), 2, 'one new login');
  assert.notEqual(client.session().token, first.token);
});

test('a login that fails surfaces once, with no loop', async () => {
  const wx = createWx();
  wx.login = (o) => setImmediate(() => o.success({ code: 'invalid-' + Date.now() }));
  const client = createClient({ baseUrl: base, wx });
  await assert.rejects(client.getUser(), (e) => {
    assert.ok(e instanceof WxAuthError);
    assert.equal(e.result_code, -601);
    assert.equal(e.status, 401);
    return true;
  });
  assert.equal(calls(wx, 'authorize'), 1);
});

test('every error path is one WxAuthError with result_code, message and status', async () => {
  const wx = createWx();
  const client = createClient({ baseUrl: base, wx });
  await client.login();
  const expectError = async (promise, resultCode, status) => {
    await assert.rejects(promise, (e) => {
      assert.ok(e instanceof WxAuthError, String(e));
      assert.equal(e.result_code, resultCode, e.message);
      assert.equal(e.status, status);
      assert.ok(e.message.length > 0);
      return true;
    });
  };
  await expectError(client.updateUser({ gender: 7 }), -101, 400);
  await expectError(client.bindPhone('invalid-1'), -601, 401);
  await expectError(client.decrypt({ encryptedData: 'bm90IGRhdGE=', iv: 'AAAAAAAAAAAAAAAAAAAAAA==' }), -501, 400);
  await expectError(client.decrypt({ iv: 'x' }), -101, 400);
  const phone = await client.bindPhone('13800001111');
  assert.ok(phone.phone_number);
  // No server at all: status 0.
  const offline = createClient({ baseUrl: 'http://127.0.0.1:9', wx: createWx() });
  await expectError(offline.login(), -100, 0);
});

test('request() sends the token to your backend and renews it on wxauth\'s 401', async () => {
  const wx = createWx();
  const client = createClient({ baseUrl: base, wx });
  await client.login();
  // wxauth's own `user` stands in for a backend that relays status's verdict.
  const res = await client.request({ url: base + '/api/v1.0/auth/user' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.data.result_code, 0);
  await sleep(2200);
  const again = await client.request({ url: base + '/api/v1.0/auth/user' });
  assert.equal(again.data.result_code, 0);
  assert.equal(calls(wx, 'refresh'), 1);
  noTokenInUrls(wx);
});

const refreshWith = (refreshToken) => fetch(base + '/api/v1.0/auth/refresh', {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ refresh_token: refreshToken }),
}).then((r) => r.json());

test('logout({ global: true }) ends every session of the user', async () => {
  // The same code twice within seconds is one WeChat exchange: the same user,
  // a session each. The other session is another device's, made here.
  const code = 'global-' + process.pid + '-' + Date.now();
  const other = await fetch(base + '/api/v1.0/auth/authorize', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ code }),
  }).then((r) => r.json());
  assert.equal(other.result_code, 0);
  const wx = createWx();
  wx.login = (o) => setImmediate(() => o.success({ code, errMsg: 'login:ok' }));
  const client = createClient({ baseUrl: base, wx });
  const pair = await client.login();
  assert.equal(pair.user_id, other.data.user_id, 'one user, two sessions');
  await client.logout({ global: true });
  assert.equal(client.session(), null);
  // Both sessions ended on the server, the other device's included. Asked
  // with the refresh tokens: the access tokens live two seconds here, so
  // their refusal would prove nothing.
  assert.equal((await refreshWith(pair.refresh_token)).result_code, -502);
  assert.equal((await refreshWith(other.data.refresh_token)).result_code, -502);
});

test('the module logs nothing (a token can never reach a log through it)', async () => {
  const source = fs.readFileSync(path.join(__dirname, '..', 'index.js'), 'utf8');
  assert.ok(!/\bconsole\s*\./.test(source), 'index.js writes to the console');
  const wx = createWx();
  const seen = [];
  const original = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
  for (const k of Object.keys(original)) console[k] = (...args) => seen.push(args.join(' '));
  try {
    const client = createClient({ baseUrl: base, wx });
    await client.login();
    await sleep(2200);
    await client.getUser();
    await client.logout();
  } finally {
    Object.assign(console, original);
  }
  assert.deepEqual(seen, []);
});

test('webLogin: scan, confirm and deny a web sign-in ticket', async () => {
  const expectError = async (promise, resultCode, status) => {
    await assert.rejects(promise, (e) => {
      assert.ok(e instanceof WxAuthError, String(e));
      assert.equal(e.result_code, resultCode, e.message);
      assert.equal(e.status, status);
      return true;
    });
  };
  // A browser asks to sign in: the ticket is the scan page's last segment.
  async function ticket() {
    const params = new URLSearchParams({
      response_type: 'code', client_id: 'shop', redirect_uri: 'https://shop.example.com/callback',
      scope: 'openid', state: 's', nonce: 'n',
    });
    const res = await fetch(base + '/oidc/authorize?' + params, { redirect: 'manual' });
    assert.equal(res.status, 303);
    const page = res.headers.get('location');
    const cookie = res.headers.get('set-cookie').split(';')[0];
    scanPages.set(page.split('/').pop(), { page, cookie });
    return page.split('/').pop();
  }
  // Where the browser that showed the ticket is sent once it is decided.
  async function browserSentTo(scene) {
    const { page, cookie } = scanPages.get(scene);
    const res = await fetch(base + page, { redirect: 'manual', headers: { cookie } });
    assert.equal(res.status, 303);
    return res.headers.get('location');
  }
  const scanPages = new Map();
  const alice = createClient({ baseUrl: base, wx: createWx() });
  const bob = createClient({ baseUrl: base, wx: createWx() });
  const scene = await ticket();
  const asking = await alice.webLogin.scan(scene);
  assert.equal(asking.client_id, 'shop');
  assert.equal(asking.client_name, 'The Shop');
  assert.ok(asking.expires_at.endsWith('Z'));
  await expectError(bob.webLogin.scan(scene), -500, 403);
  await expectError(bob.webLogin.confirm(scene), -500, 403);
  assert.equal(await alice.webLogin.confirm(scene), null);
  assert.match(await browserSentTo(scene), /^https:\/\/shop\.example\.com\/callback\?code=/);
  await expectError(alice.webLogin.confirm(scene), -102, 404);
  const other = await ticket();
  await alice.webLogin.scan(other);
  assert.equal(await alice.webLogin.deny(other), null);
  assert.match(await browserSentTo(other), /error=access_denied/);
  await expectError(alice.webLogin.scan('no-such-ticket'), -102, 404);
});

test('sessions and account: list, revoke, export, delete', async () => {
  const wx = createWx();
  const client = createClient({ baseUrl: base, wx });
  const pair = await client.login();
  const listed = await client.sessions.list();
  assert.equal(listed.length, 1);
  assert.equal(listed[0].current, true);
  assert.equal(listed[0].platform, 'wechat');
  const exported = await client.account.exportData();
  assert.equal(exported.profile.user_id, pair.user_id);
  assert.equal(exported.identities.length, 1);
  assert.ok(exported.audit_events.some((e) => e.kind === 'account_export'));
  assert.deepEqual(await client.sessions.revoke('no-such-session').catch((e) => e.result_code), -102);
  const asked = await client.account.delete();
  assert.ok(asked.delete_after.endsWith('Z'));
  assert.equal(client.session(), null, 'storage cleared');
  const verdict = await fetch(base + '/api/v1.0/auth/status', { headers: { authorization: 'Bearer ' + pair.token } });
  assert.equal((await verdict.json()).data.is_authorized, 0);
});
