// The page a scanned web sign-in code opens (oidc.scan_page on the server):
// WeChat hands it the code's `scene`, a one-time ticket. The person sees
// which site on which computer asks, and confirms or refuses.
const { auth } = getApp();

Page({
  data: { asking: null, done: '', error: '' },

  async onLoad(options) {
    // WeChat passes the scene URL-encoded.
    this.scene = decodeURIComponent(options.scene || '');
    try {
      this.setData({ asking: await auth.webLogin.scan(this.scene) });
    } catch (e) {
      // -102: expired or used; -500: someone else scanned it first.
      this.setData({ error: `${e.message} (${e.result_code})` });
    }
  },

  async onConfirm() {
    await this.answer(auth.webLogin.confirm(this.scene), 'Signed in on the computer.');
  },

  async onDeny() {
    await this.answer(auth.webLogin.deny(this.scene), 'Refused.');
  },

  async answer(promise, done) {
    try {
      await promise;
      this.setData({ asking: null, done });
    } catch (e) {
      this.setData({ error: `${e.message} (${e.result_code})` });
    }
  },
});
