// Type-checked in CI (tsc --noEmit): the declarations as a developer uses them.
import { createClient, WxAuthError, type Verdict, type WxLike } from '..';

declare const wx: WxLike;

async function page(): Promise<void> {
  const auth = createClient({ baseUrl: 'https://auth.example.com', wx });
  const pair = await auth.login({ nickName: 'Mei', gender: 2 });
  const id: number = pair.user_id;
  const verdict: Verdict = await auth.status();
  if (verdict.is_authorized === 1) {
    const until: string = verdict.expires_at;
    void until;
  }
  const user = await auth.getUser();
  const city: string | null = user.city;
  const apps: string[] = user.identities.map((i) => `${i.platform}:${i.appid} (${i.app_name})`);
  void apps;
  const phone = await auth.bindPhone('code-from-getPhoneNumber');
  const res = await auth.request({ url: 'https://api.example.com/orders', method: 'POST', data: { id } });
  const code: number = res.statusCode;
  try {
    await auth.decrypt({ encryptedData: '…', iv: '…' });
  } catch (e) {
    if (e instanceof WxAuthError) {
      const which: number = e.result_code + e.status;
      void which;
    }
  }
  const asking = await auth.webLogin.scan('ticket-from-scene');
  const question: string = `Sign in to ${asking.client_name} (${asking.ip ?? 'unknown address'})?`;
  await auth.webLogin.confirm('ticket-from-scene');
  await auth.webLogin.deny('ticket-from-scene');
  void question;
  const mine = await auth.sessions.list();
  const elsewhere = mine.filter((s) => !s.current && s.platform !== 'web').map((s) => s.app_name);
  const { revoked } = await auth.sessions.revoke(mine[0].id);
  const kept = await auth.account.exportData();
  const openids: string[] = kept.identities.map((i) => i.openid);
  void elsewhere; void revoked; void openids;
  const again = await auth.login();
  if (again.deletion_cancelled) { void again.user_id; }
  const { delete_after } = await auth.account.delete();
  void delete_after;
  await auth.logout({ global: true });
  void city; void phone; void code;
}
void page;
