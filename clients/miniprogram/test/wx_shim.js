// A `wx` for Node that behaves like the real one where the client depends on
// it: wx.request answers every HTTP status through `success` (only network
// failures call `fail`), wx.login yields a fresh code each call, storage is
// synchronous. It also records the requests made, for the tests.
'use strict';
const http = require('node:http');

// `douyin`: behave like tt.login on one device: its `anonymousCode` comes
// with every login, alone while `douyin.guest` is true. (The mock Douyin
// derives the device's anonymous openid from the anonymous code's text.)
function createWx(douyin) {
  const storage = new Map();
  const sent = [];
  let codes = 0;
  return {
    sent,
    storage,
    login(o) {
      codes += 1;
      const code = 'shim-' + process.pid + '-' + Date.now() + '-' + codes;
      let res = { code, errMsg: 'login:ok' };
      if (douyin) {
        res = { anonymousCode: douyin.device, errMsg: 'login:ok' };
        if (!douyin.guest) res.code = code;
      }
      setImmediate(() => o.success && o.success(res));
    },
    getStorageSync(key) { return storage.has(key) ? storage.get(key) : ''; },
    setStorageSync(key, value) { storage.set(key, JSON.parse(JSON.stringify(value))); },
    removeStorageSync(key) { storage.delete(key); },
    request(o) {
      const url = new URL(o.url);
      const method = (o.method || 'GET').toUpperCase();
      const body = method === 'GET' || o.data === undefined ? null : JSON.stringify(o.data);
      const headers = Object.assign({}, o.header || {});
      if (body) headers['Content-Length'] = Buffer.byteLength(body);
      sent.push({ method, url: o.url, header: headers });
      const req = http.request(url, { method, headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let data = text;
          try { data = JSON.parse(text); } catch (e) { /* wx leaves non-JSON as text */ }
          o.success && o.success({ statusCode: res.statusCode, data, header: res.headers, errMsg: 'request:ok' });
        });
      });
      req.on('error', (e) => o.fail && o.fail({ errMsg: 'request:fail ' + e.message }));
      if (body) req.write(body);
      req.end();
    },
  };
}

module.exports = { createWx };
