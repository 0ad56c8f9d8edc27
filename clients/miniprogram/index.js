/**
 * wxauth's mini-program client: wx.login → authorize, the token kept in
 * storage and sent on every call, refreshed when it expires (one refresh at a
 * time however many calls fail together), a new login when the session is
 * gone. No dependencies; CommonJS and ES2017, the subset the mini-program
 * runtime runs. Tokens travel only in the Authorization header: never in a
 * URL, never in a log.
 */
'use strict';

/** Every failure: the envelope's result_code and message, and the HTTP status (0: no answer). */
class WxAuthError extends Error {
  constructor(message, resultCode, status) {
    super(message);
    this.name = 'WxAuthError';
    this.result_code = resultCode;
    this.status = status;
  }
}

/** The codes after which a new token may help: no/unknown token, expired or revoked session. */
function isAuthFailure(e) {
  return e instanceof WxAuthError && e.status === 401 && (e.result_code === -500 || e.result_code === -502);
}

function createClient(options) {
  const opts = options || {};
  if (!opts.baseUrl) throw new TypeError('createClient: baseUrl is required');
  const wxApi = opts.wx || (typeof wx !== 'undefined' ? wx : null); // eslint-disable-line no-undef
  if (!wxApi) throw new TypeError('createClient: no wx object (pass options.wx outside a mini-program)');
  const api = opts.baseUrl.replace(/\/+$/, '') + '/api/v1.0/auth/';
  const storageKey = opts.storageKey || 'wxauth';

  let refreshing = null;
  let loggingIn = null;

  function load() {
    const kept = wxApi.getStorageSync(storageKey);
    return kept && typeof kept === 'object' ? kept : null;
  }
  function save(pair) {
    const lifetime = pair.expires_in * 1000;
    wxApi.setStorageSync(storageKey, {
      token: pair.token,
      refresh_token: pair.refresh_token,
      expires_at: Date.now() + lifetime,
      // Refreshed ahead of expiry: 30 s, or a tenth of a short lifetime.
      refresh_at: Date.now() + lifetime - Math.min(30 * 1000, lifetime / 10),
      user_id: pair.user_id,
    });
  }
  function clear() {
    wxApi.removeStorageSync(storageKey);
  }

  /** One wx.request; resolves with its `res` for every HTTP status. */
  function raw(url, method, data, token, extraHeader) {
    const header = Object.assign({ 'Content-Type': 'application/json' }, extraHeader || {});
    if (token) header.Authorization = 'Bearer ' + token;
    return new Promise(function (resolve, reject) {
      wxApi.request({
        url: url,
        method: method,
        data: data,
        header: header,
        success: resolve,
        fail: function (err) {
          reject(new WxAuthError((err && err.errMsg) || 'network error', -100, 0));
        },
      });
    });
  }

  function envelopeOf(res) {
    let body = res.data;
    if (typeof body === 'string') {
      try { body = JSON.parse(body); } catch (e) { body = null; }
    }
    return body && typeof body.result_code === 'number' ? body : null;
  }

  /** A wxauth call; resolves with the envelope's data, rejects with a WxAuthError. */
  async function send(path, method, data, token) {
    const res = await raw(api + path, method, data, token);
    const body = envelopeOf(res);
    if (body && body.result_code === 0 && res.statusCode === 200) {
      return body.data === undefined ? null : body.data;
    }
    if (body) throw new WxAuthError(body.message || 'request failed', body.result_code, res.statusCode);
    throw new WxAuthError('unexpected answer (HTTP ' + res.statusCode + ')', -100, res.statusCode);
  }

  // Douyin's tt.login also gives `anonymousCode` (alone, when the user is
  // not logged in to Douyin): it is sent along, so that a guest's identity
  // joins the person once they log in for real.
  function wxLogin() {
    return new Promise(function (resolve, reject) {
      wxApi.login({
        success: function (res) {
          const proof = {};
          if (res && res.code) proof.code = res.code;
          if (res && res.anonymousCode) proof.anonymousCode = res.anonymousCode;
          if (proof.code || proof.anonymousCode) resolve(proof);
          else reject(new WxAuthError('wx.login gave no code', -101, 0));
        },
        fail: function (err) {
          reject(new WxAuthError((err && err.errMsg) || 'wx.login failed', -100, 0));
        },
      });
    });
  }

  /** wx.login → authorize; the new pair is kept in storage. */
  async function login(profile) {
    const proof = await wxLogin();
    const body = Object.assign({}, profile || {}, proof);
    if (opts.appId) body.appId = opts.appId;
    const pair = await send('authorize', 'POST', body);
    save(pair);
    return pair;
  }

  function loginOnce() {
    if (!loggingIn) {
      loggingIn = login().then(
        function (pair) { loggingIn = null; return pair; },
        function (e) { loggingIn = null; throw e; }
      );
    }
    return loggingIn;
  }

  async function doRefresh() {
    const kept = load();
    if (!kept || !kept.refresh_token) throw new WxAuthError('not logged in', -500, 401);
    try {
      const pair = await send('refresh', 'POST', { refresh_token: kept.refresh_token });
      save(pair);
      return pair;
    } catch (e) {
      // Spent, reused (the session is revoked) or unknown: the pair is dead.
      if (isAuthFailure(e)) clear();
      throw e;
    }
  }

  function refreshOnce() {
    if (!refreshing) {
      refreshing = doRefresh().then(
        function (pair) { refreshing = null; return pair; },
        function (e) { refreshing = null; throw e; }
      );
    }
    return refreshing;
  }

  /**
   * A new token after `used` failed: none if another call already renewed it,
   * else one refresh (shared), and when that fails one new login (shared)
   * unless `relogin` is false.
   */
  async function renew(used, relogin) {
    const kept = load();
    if (kept && kept.token && kept.token !== used) return;
    try {
      await refreshOnce();
    } catch (e) {
      if (!relogin || e.status === 0) throw e;
      await loginOnce();
    }
  }

  /** The kept pair, logged in or refreshed first when missing or about to expire. */
  async function ready(relogin) {
    let kept = load();
    if (!kept) {
      if (!relogin) throw new WxAuthError('not logged in', -500, 401);
      await loginOnce();
      return load();
    }
    if (kept.refresh_at && kept.refresh_at < Date.now()) {
      try { await renew(kept.token, relogin); } catch (e) { if (e.status === 0) throw e; }
      kept = load() || kept;
    }
    return kept;
  }

  /** A wxauth call with the token: refreshed ahead of expiry, renewed once on 401. */
  async function authed(path, method, data, relogin) {
    const kept = await ready(relogin);
    try {
      return await send(path, method, data, kept.token);
    } catch (e) {
      if (!isAuthFailure(e)) throw e;
      await renew(kept.token, relogin);
      const renewed = load();
      return send(path, method, data, renewed && renewed.token);
    }
  }

  /**
   * wx.request to your own backend with the token in the Authorization
   * header. Resolves with wx.request's `res` for every HTTP status; when the
   * answer is wxauth's 401 (-500/-502, as a backend that asks `status`
   * relays it), the token is renewed once and the call made again.
   */
  async function request(options) {
    const o = options || {};
    if (!o.url) throw new TypeError('request: url is required');
    const method = o.method || 'GET';
    const kept = await ready(true);
    const first = await raw(o.url, method, o.data, kept.token, o.header);
    const body = envelopeOf(first);
    const refused = first.statusCode === 401 && body && (body.result_code === -500 || body.result_code === -502);
    if (!refused) return first;
    await renew(kept.token, true);
    const renewed = load();
    return raw(o.url, method, o.data, renewed && renewed.token, o.header);
  }

  /** Ends this session (or every session of the user); storage is cleared either way. */
  async function logout(options) {
    const kept = load();
    clear();
    if (!kept || !kept.token) return;
    const scope = options && options.global ? 'global' : 'local';
    try {
      await send('logout', 'POST', { scope: scope }, kept.token);
    } catch (e) {
      // A token already dead is logged out.
      if (!isAuthFailure(e)) throw e;
    }
  }

  /** The verdict on the kept token: {is_authorized: 1, user_id, expires_at} or {is_authorized: 0}. */
  function status() {
    const kept = load();
    return send('status', 'GET', undefined, kept && kept.token);
  }

  return {
    login: login,
    request: request,
    logout: logout,
    status: status,
    getUser: function () { return authed('user', 'GET', undefined, true); },
    updateUser: function (fields) { return authed('user', 'POST', fields || {}, true); },
    bindPhone: function (code) { return authed('phone', 'POST', { code: code }, true); },
    // No new login for decrypt: a new login means a new session_key, which
    // cannot open data fetched before it.
    decrypt: function (payload) { return authed('decrypt', 'POST', payload, false); },
    // Signing in on the web by scanning (SPEC §11): the page that opens from
    // the scanned code gets the ticket as its `scene` option.
    webLogin: {
      /** Takes the ticket; answers what is asking (client_name, ip, user_agent…). */
      scan: function (scene) { return authed('web-login/scan', 'POST', { scene: scene }, true); },
      /** Lets the browser that shows the code in, as this person. */
      confirm: function (scene) { return authed('web-login/confirm', 'POST', { scene: scene }, true); },
      /** Refuses: the browser goes back to the site with access_denied. */
      deny: function (scene) { return authed('web-login/deny', 'POST', { scene: scene }, true); },
    },
    // The person's own account (SPEC §12).
    sessions: {
      /** Where the person is signed in: their live sessions, this one marked `current`. */
      list: function () {
        return authed('sessions', 'GET', undefined, true).then(function (d) { return d.sessions; });
      },
      /** Ends one of them (this one too: the next call then logs in anew). */
      revoke: function (id) {
        return authed('sessions/' + encodeURIComponent(id) + '/revoke', 'POST', {}, true);
      },
    },
    account: {
      /** Everything wxauth keeps about the person: {profile, identities, sessions, audit_events}. */
      exportData: function () { return authed('account/export', 'GET', undefined, true); },
      /**
       * Deletes the person after the server's cooling-off period; every
       * session ends now and storage is cleared. Any later call logs in
       * again, which cancels the deletion: show a goodbye screen instead.
       */
      delete: function () {
        return authed('account/delete', 'POST', {}, false).then(function (d) { clear(); return d; });
      },
    },
    /** The kept pair (token, refresh_token, expires_at, user_id), or null. */
    session: load,
  };
}

module.exports = { createClient: createClient, WxAuthError: WxAuthError };
