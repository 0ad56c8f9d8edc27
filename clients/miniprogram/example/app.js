// One client for the whole mini-program. Copy ../index.js to utils/wxauth.js
// (or install wxauth-miniprogram with npm and build npm in DevTools).
const { createClient } = require('./utils/wxauth');

App({
  // Your wxauth server; during development `cargo run` serves one with a
  // mock WeChat on http://127.0.0.1:8000 (turn off "verify domain" in DevTools).
  auth: createClient({ baseUrl: 'http://127.0.0.1:8000' }),
});
