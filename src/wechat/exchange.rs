//! Exchanges login codes once: the same (app, code) arriving while its first
//! exchange is in flight, or within the reuse window after it, shares the first
//! exchange's result instead of asking the platform again (WeChat would
//! answer 40163). It holds per app on every platform; a Douyin guest's
//! anonymous code is keyed apart from codes ([`Proof::key`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::shared_exchange::SharedCodes;
use crate::clock::Clock;
use crate::config::AppEntry;
use crate::error::ApiError;
use crate::platforms::login::{Exchanged, Exchangers, Proof};

pub const REUSE_WINDOW: Duration = Duration::from_secs(10);
const GENERATION: Duration = Duration::from_millis(2500);
/// The current generation and the four that can hold a code answered
/// within the window.
const GENERATIONS: usize = 5;

type Outcome = (Result<Exchanged, ApiError>, Instant);
type Cell = Arc<OnceCell<Outcome>>;
/// The app's slot in [`Inner::apps`] and the SHA-256 of the code
/// ([`Proof::key`]), the same hash as `login_codes` keeps: the window holds
/// every code of the last ten seconds and more, and two strings per entry
/// were a third of the server's memory at the morning peak.
type Key = (u32, [u8; 32]);

/// Shared by clones: the managed one and the tidier's.
#[derive(Clone, Default)]
pub struct CodeExchanges {
    inner: Arc<Mutex<Inner>>,
    /// PostgreSQL: the first request of a code in this instance also claims
    /// it across instances.
    shared: Option<SharedCodes>,
}

/// Generations of exchanges instead of one map swept for expired entries:
/// at the morning peak the maps hold every code of the last ten seconds,
/// and sweeping one (with the rehashing that removals cause) held every
/// login waiting on the lock. Every [`GENERATION`] a new generation begins
/// and the oldest is dropped whole, except the few exchanges still in
/// flight or finished within the window, which move on. Quarter-window
/// generations keep most codes a window and a quarter after they were
/// first asked for (an exchange answered late moves on once more); two
/// generations of a whole window kept them up to two windows, a third more
/// of the server's memory under sustained logins. A login rotates
/// when it is due; so does a tidier every generation (see
/// [`CodeExchanges::spawn_tidier`]), so that the codes of a burst do not
/// stay in memory until the next login.
#[derive(Default)]
struct Inner {
    /// Newest first: the codes first asked for within one [`GENERATION`]
    /// each, at most [`GENERATIONS`].
    generations: VecDeque<HashMap<Key, Entry>>,
    rotated_at: Option<Instant>,
    /// The appids seen, in the order they were: a key's slot.
    apps: Vec<Box<str>>,
}

enum Entry {
    /// Being exchanged: a request of the same code waits on it. `published`:
    /// the claim's time, once another instance has appeared and the claim
    /// has gone to `login_codes` ([`CodeExchanges::publish`]), where the
    /// outcome is then recorded too.
    InFlight { cell: Cell, published: Option<i64> },
    /// Answered at `at`: what a retry of the code gets, in one allocation
    /// (an `Exchanged` with its own strings, in its cell, was five).
    Done {
        at: Instant,
        result: Result<Packed, Box<ApiError>>,
    },
}

/// What a request for (appid, code) is to do.
enum Joined {
    /// Wait for this exchange (of this key), or make it.
    Exchange(Key, Cell),
    /// The code was answered within the window: this.
    Answered(Result<Exchanged, ApiError>),
}

impl CodeExchanges {
    /// De-duplicated across every instance on the database, too.
    pub fn shared(shared: SharedCodes) -> CodeExchanges {
        CodeExchanges {
            inner: Arc::default(),
            shared: Some(shared),
        }
    }

    pub async fn exchange(
        &self,
        clock: &Clock,
        clients: Exchangers<'_>,
        app: &AppEntry,
        proof: &Proof,
    ) -> Result<Exchanged, ApiError> {
        let hash: [u8; 32] = Sha256::digest(proof.key().as_bytes()).into();
        let (key, cell) = match self.join(&app.appid, hash, clock.instant()) {
            Joined::Answered(result) => return result,
            Joined::Exchange(key, cell) => (key, cell),
        };
        let mut asked = false;
        let (result, at) = cell
            .get_or_init(|| {
                asked = true;
                async {
                    let published = || self.published(key, &cell).is_some();
                    let result = match &self.shared {
                        Some(shared) => {
                            shared
                                .exchange(clock, clients, app, proof, &published)
                                .await
                        }
                        None => clients.exchange(app, proof).await,
                    };
                    (result, clock.instant())
                }
            })
            .await;
        if asked {
            let published = self.settle(key, &cell, result, *at);
            if let (Some(claimed_at), Some(shared)) = (published, &self.shared) {
                let hash = hex(&key.1);
                shared
                    .record(&app.appid, &hash, claimed_at, clock.now(), result)
                    .await;
            }
        }
        result.clone()
    }

    /// The exchange of (appid, code's hash) to join at `now`, a new one,
    /// or its answer.
    fn join(&self, appid: &str, hash: [u8; 32], now: Instant) -> Joined {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.rotated_at {
            None => inner.rotated_at = Some(now),
            Some(t) if now.duration_since(t) >= GENERATION => inner.rotate(now),
            Some(_) => {}
        }
        let key = (inner.slot(appid), hash);
        let live = inner
            .generations
            .iter()
            .find_map(|generation| generation.get(&key))
            .filter(|entry| !entry.expired(now));
        match live {
            Some(Entry::InFlight { cell, .. }) => Joined::Exchange(key, cell.clone()),
            Some(Entry::Done { result, .. }) => Joined::Answered(match result {
                Ok(packed) => Ok(packed.unpack()),
                Err(e) => Err(ApiError::clone(e)),
            }),
            None => {
                let cell = Arc::new(OnceCell::new());
                let entry = Entry::InFlight {
                    cell: cell.clone(),
                    published: None,
                };
                inner.current().insert(key, entry);
                Joined::Exchange(key, cell)
            }
        }
    }

    /// When the exchange `cell` of `key`, in flight, had its claim
    /// published ([`Self::publish`]).
    fn published(&self, key: Key, cell: &Cell) -> Option<i64> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.generations.iter().find_map(|g| match g.get(&key) {
            Some(Entry::InFlight { cell: c, published }) if Arc::ptr_eq(c, cell) => *published,
            _ => None,
        })
    }

    /// Replaces the finished exchange `cell` by its compact answer; those
    /// waiting on the cell still have it. Some(claimed_at) when its claim
    /// was published meanwhile: the outcome is for the other instances too.
    fn settle(
        &self,
        key: Key,
        cell: &Cell,
        result: &Result<Exchanged, ApiError>,
        at: Instant,
    ) -> Option<i64> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for generation in inner.generations.iter_mut() {
            if let Some(entry) = generation.get_mut(&key) {
                if let Entry::InFlight { cell: c, published } = entry {
                    if !Arc::ptr_eq(c, cell) {
                        continue;
                    }
                    let published = *published;
                    *entry = Entry::Done {
                        at,
                        result: match result {
                            Ok(exchanged) => Ok(Packed::pack(exchanged)),
                            Err(e) => Err(Box::new(e.clone())),
                        },
                    };
                    return published;
                }
            }
        }
        None
    }

    /// Another instance has appeared: what this instance exchanged alone
    /// within the window goes to `login_codes`, where the other finds it —
    /// answers as finished exchanges, exchanges in flight as claims whose
    /// outcome they record when they finish ([`Self::settle`]). The other
    /// serves once this instance has acknowledged it, after this
    /// (`crate::peers`). Nothing without PostgreSQL.
    pub async fn publish(&self, clock: &Clock) -> Result<usize, ApiError> {
        let Some(shared) = &self.shared else {
            return Ok(0);
        };
        let (now, instant) = (clock.now(), clock.instant());
        let codes = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let Inner {
                generations, apps, ..
            } = &mut *inner;
            let mut codes = Vec::new();
            for ((slot, hash), entry) in generations.iter_mut().flatten() {
                if entry.expired(instant) {
                    continue;
                }
                let answered = match entry {
                    Entry::InFlight { published, .. } => {
                        // Published before (sharing, alone, sharing again
                        // within one exchange): that claim stands.
                        published.get_or_insert(now);
                        None
                    }
                    Entry::Done { at, result } => {
                        let ago = instant.saturating_duration_since(*at).as_secs() as i64;
                        let result = match result {
                            Ok(packed) => Ok(packed.unpack()),
                            Err(e) => Err(ApiError::clone(e)),
                        };
                        Some((now - ago, result))
                    }
                };
                codes.push(Unshared {
                    appid: apps[*slot as usize].to_string(),
                    code_hash: hex(hash),
                    answered,
                });
            }
            codes
        };
        shared.publish(codes, now).await
    }
}

/// A code exchanged while this instance was alone: in flight, or answered
/// at a time (Unix seconds) with a result.
pub(super) struct Unshared {
    pub appid: String,
    pub code_hash: String,
    pub answered: Option<(i64, Result<Exchanged, ApiError>)>,
}

impl CodeExchanges {
    /// Rotates if a window has passed since the last rotation.
    fn tidy(&self, now: Instant) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner
            .rotated_at
            .is_some_and(|t| now.duration_since(t) >= GENERATION)
        {
            inner.rotate(now);
        }
    }

    /// Tidies every [`GENERATION`] until shutdown.
    pub fn spawn_tidier(&self, clock: Clock, mut shutdown: rocket::Shutdown) {
        let exchanges = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(GENERATION) => exchanges.tidy(clock.instant()),
                }
            }
        });
    }
}

impl Inner {
    /// `appid`'s slot in the keys.
    fn slot(&mut self, appid: &str) -> u32 {
        match self.apps.iter().position(|a| &**a == appid) {
            Some(slot) => slot as u32,
            None => {
                self.apps.push(appid.into());
                (self.apps.len() - 1) as u32
            }
        }
    }

    /// The newest generation, where new exchanges go.
    fn current(&mut self) -> &mut HashMap<Key, Entry> {
        if self.generations.is_empty() {
            self.generations.push_front(HashMap::new());
        }
        &mut self.generations[0]
    }

    fn rotate(&mut self, now: Instant) {
        // The next generation will likely hold as many codes as this one:
        // room for them up front rather than growing through every doubling.
        let sized = HashMap::with_capacity(self.generations.front().map_or(0, HashMap::len));
        self.generations.push_front(sized);
        if self.generations.len() > GENERATIONS {
            let oldest = self.generations.pop_back().unwrap_or_default();
            let survivors: Vec<(Key, Entry)> = oldest
                .into_iter()
                .filter(|(key, entry)| {
                    !entry.expired(now) && !self.generations.iter().any(|g| g.contains_key(key))
                })
                .collect();
            self.generations[0].extend(survivors);
        }
        self.rotated_at = Some(now);
    }
}

impl Entry {
    /// Answered longer than the window ago, or abandoned: in flight, never
    /// started, and nobody waiting (the request that made it went away
    /// before asking). Cells are cloned only under the lock, so a count of
    /// one cannot grow while it is looked at.
    fn expired(&self, now: Instant) -> bool {
        match self {
            Entry::Done { at, .. } => now.saturating_duration_since(*at) > REUSE_WINDOW,
            Entry::InFlight { cell, .. } => cell.get().is_none() && Arc::strong_count(cell) == 1,
        }
    }
}

/// A code's hash as `login_codes` keeps it.
fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// An [`Exchanged`] in one string: openid, unionid, session_key and
/// guest_openid one after the other, where each ends, and which are there.
struct Packed {
    text: Box<str>,
    /// Where the openid, the unionid and the session_key end in `text`.
    ends: [u32; 3],
    /// Bits: unionid, session_key, guest_openid present; anonymous.
    flags: u8,
}

const UNIONID: u8 = 1;
const SESSION_KEY: u8 = 2;
const GUEST_OPENID: u8 = 4;
const ANONYMOUS: u8 = 8;

impl Packed {
    fn pack(exchanged: &Exchanged) -> Packed {
        let parts = [
            Some(&exchanged.openid),
            exchanged.unionid.as_ref(),
            exchanged.session_key.as_ref(),
            exchanged.guest_openid.as_ref(),
        ];
        let mut text = String::with_capacity(parts.iter().flatten().map(|s| s.len()).sum());
        let mut ends = [0; 3];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part.map_or("", String::as_str));
            // An answer is capped at 64 KiB: its fields fit.
            *end = text.len() as u32;
        }
        text.push_str(exchanged.guest_openid.as_deref().unwrap_or(""));
        let flags = [
            (exchanged.unionid.is_some(), UNIONID),
            (exchanged.session_key.is_some(), SESSION_KEY),
            (exchanged.guest_openid.is_some(), GUEST_OPENID),
            (exchanged.anonymous, ANONYMOUS),
        ]
        .into_iter()
        .filter(|(set, _)| *set)
        .fold(0, |flags, (_, bit)| flags | bit);
        Packed {
            text: text.into_boxed_str(),
            ends,
            flags,
        }
    }

    fn unpack(&self) -> Exchanged {
        let [openid, unionid, session_key] = self.ends.map(|end| end as usize);
        let part = |present: u8, from: usize, to: usize| {
            (self.flags & present != 0).then(|| self.text[from..to].to_string())
        };
        Exchanged {
            openid: self.text[..openid].to_string(),
            unionid: part(UNIONID, openid, unionid),
            session_key: part(SESSION_KEY, unionid, session_key),
            anonymous: self.flags & ANONYMOUS != 0,
            guest_openid: part(GUEST_OPENID, session_key, self.text.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchanged(openid: &str) -> Exchanged {
        Exchanged {
            openid: openid.into(),
            unionid: Some("union".into()),
            session_key: Some("key==".into()),
            anonymous: false,
            guest_openid: None,
        }
    }

    fn hash(code: &str) -> [u8; 32] {
        Sha256::digest(code.as_bytes()).into()
    }

    /// Joins (appid, code) at `at` and expects an exchange to wait on.
    fn joined(exchanges: &CodeExchanges, appid: &str, code: &str, at: Instant) -> (Key, Cell) {
        match exchanges.join(appid, hash(code), at) {
            Joined::Exchange(key, cell) => (key, cell),
            Joined::Answered(_) => panic!("{appid}/{code}: answered, not in flight"),
        }
    }

    fn cell(exchanges: &CodeExchanges, appid: &str, code: &str, at: Instant) -> Cell {
        joined(exchanges, appid, code, at).1
    }

    /// Makes (appid, code) at `at` and finishes it `after` later.
    fn answer(exchanges: &CodeExchanges, code: &str, at: Instant, after: Duration) {
        let (key, cell) = joined(exchanges, "wx1", code, at);
        let result = Ok(exchanged(code));
        exchanges.settle(key, &cell, &result, at + after);
    }

    fn len(exchanges: &CodeExchanges) -> usize {
        let inner = exchanges.inner.lock().unwrap();
        inner.generations.iter().map(HashMap::len).sum()
    }

    #[test]
    fn the_same_code_joins_its_exchange_then_its_answer_until_the_window_has_passed() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        let (key, first) = joined(&exchanges, "wx1", "code", t0);
        assert!(Arc::ptr_eq(&first, &cell(&exchanges, "wx1", "code", t0)));
        assert!(!Arc::ptr_eq(&first, &cell(&exchanges, "wx2", "code", t0)));
        assert!(!Arc::ptr_eq(&first, &cell(&exchanges, "wx1", "code2", t0)));
        let result = Ok(exchanged("o1"));
        exchanges.settle(key, &first, &result, t0 + Duration::from_secs(1));
        // Across every rotation, its generation dropped at the fifth, still
        // within ten seconds of the answer.
        for n in 1..=4 {
            exchanges.tidy(t0 + GENERATION * n);
        }
        let later = t0 + Duration::from_secs(11);
        match exchanges.join("wx1", hash("code"), later) {
            Joined::Answered(Ok(again)) => assert_eq!(again, exchanged("o1")),
            _ => panic!("not the answer"),
        }
        let expired = t0 + Duration::from_secs(12);
        assert!(!Arc::ptr_eq(
            &first,
            &cell(&exchanges, "wx1", "code", expired)
        ));
    }

    #[test]
    fn a_failure_is_shared_like_an_answer() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        let (key, first) = joined(&exchanges, "wx1", "code", t0);
        let result = Err(ApiError::WechatInvalidCode("WeChat: invalid code".into()));
        exchanges.settle(key, &first, &result, t0);
        match exchanges.join("wx1", hash("code"), t0 + Duration::from_secs(3)) {
            Joined::Answered(Err(e)) => assert_eq!(e.to_string(), "WeChat: invalid code"),
            _ => panic!("not the failure"),
        }
    }

    #[test]
    fn an_exchange_in_flight_survives_every_rotation() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        let slow = cell(&exchanges, "wx1", "slow", t0);
        for seconds in (1..=20).map(|n| n * 3) {
            let now = t0 + Duration::from_secs(seconds);
            cell(&exchanges, "wx1", &format!("other{seconds}"), now);
            assert!(Arc::ptr_eq(&slow, &cell(&exchanges, "wx1", "slow", now)));
        }
    }

    #[test]
    fn an_exchange_nobody_waits_for_is_dropped() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        drop(cell(&exchanges, "wx1", "gone", t0));
        for n in 1..=5 {
            exchanges.tidy(t0 + GENERATION * n);
        }
        assert_eq!(len(&exchanges), 0);
    }

    #[test]
    fn finished_exchanges_are_dropped_a_window_and_a_quarter_later() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        for n in 0..100 {
            answer(&exchanges, &n.to_string(), t0, Duration::ZERO);
        }
        let mut waiting = Vec::new();
        for n in 1..=4 {
            waiting.push(cell(
                &exchanges,
                "wx1",
                &format!("new{n}"),
                t0 + GENERATION * n,
            ));
        }
        assert_eq!(len(&exchanges), 104, "within the window and a quarter");
        waiting.push(cell(&exchanges, "wx1", "new5", t0 + GENERATION * 5));
        assert_eq!(len(&exchanges), 5);
    }

    #[test]
    fn the_tidier_drops_a_burst_without_waiting_for_a_login() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        for n in 0..100 {
            answer(&exchanges, &n.to_string(), t0, Duration::ZERO);
        }
        exchanges.tidy(t0 + Duration::from_secs(1));
        assert_eq!(len(&exchanges), 100, "not due");
        for n in 1..=5 {
            exchanges.tidy(t0 + GENERATION * n);
        }
        assert_eq!(len(&exchanges), 0);
    }

    #[test]
    fn an_answer_packs_and_unpacks_whole() {
        let some = |s: &str| Some(s.to_string());
        for (unionid, session_key, guest_openid, anonymous) in [
            (None, None, None, false),
            (some("u"), None, None, false),
            (None, some("k"), None, true),
            (None, None, some("g"), false),
            (some(""), some("k"), some("g"), false),
            (some("上海"), some("k=="), some("guest"), true),
        ] {
            let exchanged = Exchanged {
                openid: "openid".into(),
                unionid,
                session_key,
                anonymous,
                guest_openid,
            };
            assert_eq!(Packed::pack(&exchanged).unpack(), exchanged);
        }
    }
}
