const { auth } = getApp();

Page({
  data: { user: null, error: '' },

  async onLoad() {
    // Logs in on first use, refreshes the token when it expires.
    await this.show(auth.getUser());
  },

  async show(promise) {
    try {
      this.setData({ user: await promise, error: '' });
    } catch (e) {
      // Every failure is a WxAuthError: result_code, message, HTTP status.
      this.setData({ error: `${e.message} (${e.result_code})` });
    }
  },

  // The avatar and nickname fill-in components that replaced getUserProfile.
  onChooseAvatar(e) {
    this.show(auth.updateUser({ avatarUrl: e.detail.avatarUrl }));
  },
  onNickname(e) {
    const nickName = e.detail.value;
    if (nickName) this.show(auth.updateUser({ nickName }));
  },

  // <button open-type="getPhoneNumber">: the code goes to wxauth, which asks
  // WeChat for the number and binds it to the user.
  async onGetPhoneNumber(e) {
    if (!e.detail.code) return; // the user declined
    try {
      await auth.bindPhone(e.detail.code);
      await this.show(auth.getUser());
    } catch (err) {
      this.setData({ error: `${err.message} (${err.result_code})` });
    }
  },

  async onLogout() {
    await auth.logout();
    this.setData({ user: null });
  },

  async onLogin() {
    await auth.login();
    await this.show(auth.getUser());
  },
});
