// Type declarations of wxauth's mini-program client (index.js).

/** The pair `authorize` and `refresh` answer. */
export interface TokenPair {
  token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
  user_id: number;
  is_new_user: boolean;
  /** Only when this login cancelled the person's pending deletion. */
  deletion_cancelled?: true;
}

/** What the client keeps in storage. */
export interface KeptSession {
  token: string;
  refresh_token: string;
  /** Unix milliseconds. */
  expires_at: number;
  refresh_at: number;
  user_id: number;
}

/** Profile fields as `wx` APIs name them. */
export interface ProfileFields {
  nickName?: string;
  avatarUrl?: string;
  gender?: 0 | 1 | 2;
  language?: string;
  city?: string;
  province?: string;
  country?: string;
}

export interface Phone {
  phone_number: string;
  pure_phone_number: string;
  country_code: string;
}

export interface Profile {
  user_id: number;
  nickname: string | null;
  avatar_url: string | null;
  gender: number | null;
  language: string | null;
  city: string | null;
  province: string | null;
  country: string | null;
  phone: Phone | null;
  /** RFC 3339. */
  created_at: string;
  last_login_at: string | null;
  /** The apps the person has logged in through (never another app's openid). */
  identities: Identity[];
}

/** One app a person has logged in through. */
export interface Identity {
  platform: 'wechat' | 'qq' | 'douyin' | 'alipay';
  appid: string;
  app_name: string;
}

export type Verdict =
  | { is_authorized: 1; user_id: number; expires_at: string }
  | { is_authorized: 0 };

export interface DecryptPayload {
  encryptedData: string;
  iv: string;
  rawData?: string;
  signature?: string;
}

export interface RequestOptions {
  /** Your backend's URL; the token goes in the Authorization header, never in the URL. */
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
  data?: unknown;
  header?: Record<string, string>;
}

/** wx.request's answer. */
export interface RequestResult {
  statusCode: number;
  data: unknown;
  header: Record<string, string>;
}

/** The part of `wx` the client uses. */
export interface WxLike {
  /** wx.login, qq.login or tt.login (Douyin's also gives `anonymousCode`, alone for a guest). */
  login(options: {
    success?: (res: { code?: string; anonymousCode?: string }) => void;
    fail?: (err: { errMsg: string }) => void;
  }): void;
  request(options: {
    url: string;
    method?: string;
    data?: unknown;
    header?: Record<string, string>;
    success?: (res: RequestResult) => void;
    fail?: (err: { errMsg: string }) => void;
  }): void;
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: unknown): void;
  removeStorageSync(key: string): void;
}

export interface ClientOptions {
  /** Where wxauth is, e.g. https://auth.example.com */
  baseUrl: string;
  /** The mini-program's appid, when the server serves several. */
  appId?: string;
  /** The storage key of the kept session (default "wxauth"). */
  storageKey?: string;
  /** `wx` itself by default; pass one outside a mini-program. */
  wx?: WxLike;
}

/** Every failure: the envelope's result_code and message, and the HTTP status (0: no answer). */
export class WxAuthError extends Error {
  readonly name: 'WxAuthError';
  readonly result_code: number;
  readonly status: number;
  constructor(message: string, resultCode: number, status: number);
}

/** What asks to be signed in on the web (`webLogin.scan`). */
export interface WebLoginRequest {
  client_id: string;
  /** The web application's name, to show: "Sign in to <client_name> on the computer?" */
  client_name: string;
  /** The browser's address and user agent, as wxauth saw them. */
  ip: string | null;
  user_agent: string | null;
  /** RFC 3339. */
  created_at: string;
  expires_at: string;
}

/** Signing in on the web by scanning a mini-program code (SPEC §11). */
export interface WebLogin {
  /** Takes the ticket (the page's `scene` option); the first scanner holds it. */
  scan(scene: string): Promise<WebLoginRequest>;
  /** Lets the browser in, as this person; only the scanner may. */
  confirm(scene: string): Promise<void>;
  /** Refuses; the browser goes back to the site with `error=access_denied`. */
  deny(scene: string): Promise<void>;
}

/** One place the person is signed in (`sessions.list`). */
export interface OwnSession {
  id: string;
  /** The mini-program's appid, or a web sign-in's client_id. */
  app: string;
  app_name: string;
  platform: 'wechat' | 'qq' | 'douyin' | 'alipay' | 'web';
  /** RFC 3339. */
  created_at: string;
  last_seen_at: string;
  ip: string | null;
  user_agent: string | null;
  /** The session this client holds. */
  current: boolean;
}

export interface OwnSessions {
  list(): Promise<OwnSession[]>;
  /** 1 when it was live and is now ended, 0 when it had ended already. */
  revoke(id: string): Promise<{ revoked: 0 | 1 }>;
}

/** Everything kept about the person (`account.exportData`). */
export interface AccountExport {
  profile: Record<string, unknown> & { user_id: number };
  identities: Array<{
    id: number; platform: string; appid: string; openid: string; unionid: string | null;
    holds_unionid: boolean; anonymous: boolean; created_at: string; last_login_at: string | null;
  }>;
  sessions: Array<{
    id: string; user_id: number; appid: string; state: 'active' | 'revoked' | 'expired' | 'idle';
    created_at: string; last_seen_at: string; expires_at: string; revoked_at: string | null;
    revoke_reason: string | null; ip: string | null; user_agent: string | null;
  }>;
  audit_events: Array<{
    kind: string; session_id: string | null; actor: string | null; ip: string | null;
    detail: string | null; created_at: string;
  }>;
  /** Web sign-ins the person scanned (SPEC §11), oldest first. */
  web_sign_ins: Array<{
    client_id: string; client_name: string; browser_ip: string | null;
    browser_user_agent: string | null; created_at: string; scanned_at: string | null;
    decision: 'confirmed' | 'denied' | null; decided_at: string | null;
    session_id: string | null;
  }>;
}

export interface Account {
  exportData(): Promise<AccountExport>;
  /** Schedules the deletion; storage is cleared. A later login cancels it. */
  delete(): Promise<{ delete_after: string }>;
}

export interface Client {
  login(profile?: ProfileFields): Promise<TokenPair>;
  request(options: RequestOptions): Promise<RequestResult>;
  logout(options?: { global?: boolean }): Promise<void>;
  status(): Promise<Verdict>;
  getUser(): Promise<Profile>;
  updateUser(fields: ProfileFields): Promise<Profile>;
  bindPhone(code: string): Promise<Phone>;
  decrypt(payload: DecryptPayload): Promise<Record<string, unknown>>;
  webLogin: WebLogin;
  sessions: OwnSessions;
  account: Account;
  session(): KeptSession | null;
}

export function createClient(options: ClientOptions): Client;
