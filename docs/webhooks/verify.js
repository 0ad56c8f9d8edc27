// Checks a wxauth webhook's Wxauth-Signature header (README: "Webhooks").
// Use the raw request body, before any JSON parsing.
const crypto = require('crypto');

function verifyWxauth(secret, header, rawBody, toleranceSeconds = 300) {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2)));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  const expected = crypto.createHmac('sha256', secret).update(`${parts.t}.${rawBody}`).digest('hex');
  const given = Buffer.from(parts.v1 || '', 'utf8');
  return given.length === expected.length && crypto.timingSafeEqual(given, Buffer.from(expected, 'utf8'));
}

module.exports = { verifyWxauth };

// node verify.js SECRET HEADER BODY_FILE: prints true or false (the tests use this).
if (require.main === module) {
  const [secret, header, file] = process.argv.slice(2);
  console.log(verifyWxauth(secret, header, require('fs').readFileSync(file, 'utf8')));
}
