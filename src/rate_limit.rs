//! Per-client-address rate limits for the calls that reach WeChat or mint
//! tokens (`authorize`, `refresh`). Kept in memory while an instance is
//! alone. While other instances share the database, the login-side limits
//! (`authorize`, `refresh`: [`IpLimiter::check_for_deployment`]) are decided
//! by one atomic statement on the deployment's bucket there, so a burst
//! sprayed over the instances gets no more than the limit plus what is in
//! flight (SPEC §1.3) — a login makes database round trips anyway; the
//! others (the admin API's) add their admissions to the deployment's buckets
//! each half second and read the buckets back (`crate::peers`), which holds
//! give or take half a second.
//!
//! Each address has a GCRA bucket: one number, the time at which its bucket
//! will be full again. An IPv6 client counts per /64 (one subscriber's
//! network, which hands its devices any address in it), an IPv4-mapped IPv6
//! address as its IPv4 address. However many addresses appear, the table
//! stays bounded: buckets that are full again are dropped (they hold nothing
//! a new one would not), and when the table is full of live ones — a flood
//! from more addresses than `MAX_BUCKETS` within one refill — addresses not
//! in it share one overflow bucket, so the flood neither grows memory nor
//! escapes the limit, and clients already known keep their own buckets.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::db::rate_limits::{self, Taken};
use crate::db::Db;
use crate::error::ApiError;

/// Buckets kept at most per limiter (a bucket is a few dozen bytes).
const MAX_BUCKETS: usize = 100_000;
/// The table is split so that concurrent requests rarely wait for each other.
const SHARDS: usize = 16;
/// Where addresses go when the table is full: no client has this address.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

pub struct IpLimiter {
    /// Its name among the deployment's buckets (`rate_limits.limiter`).
    name: &'static str,
    limit: Option<Limit>,
}

struct Limit {
    /// Time between two requests at the sustained rate, in nanoseconds.
    interval: u64,
    /// How far ahead of now a bucket's full-again time may run: the burst.
    tolerance: u64,
    started: Instant,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
    /// Other instances are alive: admissions are counted for them.
    sharing: AtomicBool,
}

#[derive(Default)]
struct Shard {
    /// Address → when its bucket is full again (ns since `started`).
    buckets: HashMap<IpAddr, u64>,
    /// When full buckets were last dropped because the shard was full: at
    /// most once a second, so a flood does not scan the shard per request.
    swept_at: Option<u64>,
    /// Admissions since the last sync with the other instances, while sharing.
    admitted: HashMap<IpAddr, u32>,
}

const SWEEP_EVERY: u64 = 1_000_000_000;

impl IpLimiter {
    /// `per_minute` = 0 turns the limit off. The bucket holds a minute's worth,
    /// so a burst from many users behind one NAT is not refused.
    pub fn per_minute(name: &'static str, per_minute: u32) -> Self {
        Self::per_period(name, per_minute, 60)
    }

    /// `count` requests per hour, all of them at once if need be.
    pub fn per_hour(name: &'static str, count: u32) -> Self {
        Self::per_period(name, count, 3600)
    }

    fn per_period(name: &'static str, count: u32, seconds: u64) -> Self {
        let limit = (count > 0).then(|| {
            let interval = seconds * 1_000_000_000 / u64::from(count);
            Limit {
                interval,
                tolerance: interval * u64::from(count),
                started: Instant::now(),
                hasher: RandomState::new(),
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                sharing: AtomicBool::new(false),
            }
        });
        IpLimiter { name, limit }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(limit) = &self.limit else {
            return Ok(());
        };
        let now = limit.now();
        limit
            .check_at(bucket_of(ip), now)
            .map_err(|wait| too_many(Duration::from_nanos(wait)))
    }

    /// [`Self::check`] for the deployment: while other instances share the
    /// database, the deployment's bucket decides, in one atomic
    /// statement ([`rate_limits::take`]), and this instance's bucket follows
    /// it. Alone, or when the database cannot say, the check in memory.
    pub async fn check_for_deployment(&self, ip: Option<IpAddr>, db: &Db) -> Result<(), ApiError> {
        let Some(limit) = &self.limit else {
            return Ok(());
        };
        if !limit.sharing.load(Ordering::Relaxed) {
            return self.check(ip);
        }
        let bucket = bucket_of(ip);
        let now_ms = unix_ms();
        let cost_ms = limit.interval_ms();
        let tolerance_ms = (limit.tolerance / 1_000_000) as i64;
        let (name, key) = (self.name, bucket.to_string());
        let taken = db
            .on_pg(move |conn| {
                Box::pin(async move {
                    rate_limits::take(conn, name, &key, now_ms, cost_ms, tolerance_ms).await
                })
            })
            .await;
        match taken {
            Some(Ok(Taken::Admitted { full_at })) => {
                self.merge(bucket, full_at, now_ms);
                Ok(())
            }
            Some(Ok(Taken::Refused { full_at })) => {
                self.merge(bucket, full_at, now_ms);
                let wait_ms = (full_at + cost_ms - now_ms - tolerance_ms).max(1);
                Err(too_many(Duration::from_millis(wait_ms as u64)))
            }
            Some(Err(e)) => {
                tracing::debug!("cannot check the deployment's rate limit: {e}");
                self.check(ip)
            }
            None => self.check(ip),
        }
    }

    /// Drops the buckets of clients that have been quiet long enough to be full.
    pub fn forget_idle(&self) {
        if let Some(limit) = &self.limit {
            limit.forget_idle_at(limit.now());
        }
    }

    /// Starts or stops counting admissions for the other instances.
    pub fn set_sharing(&self, on: bool) {
        if let Some(limit) = &self.limit {
            limit.sharing.store(on, Ordering::Relaxed);
            if !on {
                for shard in &limit.shards {
                    lock(shard).admitted.clear();
                }
            }
        }
    }

    /// The admissions since the last call, per bucket: at most `max` buckets
    /// (under a flood from more addresses the rest stay local).
    pub fn take_admitted(&self, max: usize) -> Vec<(IpAddr, u32)> {
        let Some(limit) = &self.limit else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        for shard in &limit.shards {
            let mut shard = lock(shard);
            taken.extend(shard.admitted.drain());
        }
        taken.truncate(max);
        taken
    }

    /// What one admission costs a bucket, in milliseconds (None: no limit).
    pub fn interval_ms(&self) -> Option<i64> {
        self.limit.as_ref().map(Limit::interval_ms)
    }

    /// Takes in the deployment's bucket of `key`: full again at
    /// `full_at_ms` (Unix milliseconds; now is `now_ms`). The local bucket
    /// only moves later, never earlier.
    pub fn merge(&self, key: IpAddr, full_at_ms: i64, now_ms: i64) {
        let Some(limit) = &self.limit else { return };
        let ahead_ms = full_at_ms - now_ms;
        if ahead_ms <= 0 {
            return;
        }
        let full_at = limit.now() + ahead_ms as u64 * 1_000_000;
        let mut shard = lock(&limit.shards[limit.hasher.hash_one(key) as usize % SHARDS]);
        // Bounded as `check_at` keeps it: a shard full of live buckets
        // takes no new one (the deployment's bucket holds it anyway).
        if shard.buckets.len() >= MAX_BUCKETS / SHARDS && !shard.buckets.contains_key(&key) {
            return;
        }
        let bucket = shard.buckets.entry(key).or_insert(0);
        *bucket = (*bucket).max(full_at);
    }

    /// How many buckets are kept.
    #[cfg(test)]
    fn buckets(&self) -> usize {
        self.limit
            .as_ref()
            .map_or(0, |l| l.shards.iter().map(|s| lock(s).buckets.len()).sum())
    }
}

impl Limit {
    fn now(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    fn interval_ms(&self) -> i64 {
        (self.interval / 1_000_000).max(1) as i64
    }

    fn forget_idle_at(&self, now: u64) {
        for shard in &self.shards {
            let mut shard = lock(shard);
            shard.buckets.retain(|_, full_at| *full_at > now);
            shard.buckets.shrink_to_fit();
        }
    }

    /// Ok, or the nanoseconds to wait.
    fn check_at(&self, key: IpAddr, now: u64) -> Result<(), u64> {
        let per_shard = MAX_BUCKETS / SHARDS;
        let mut shard = lock(&self.shards[self.hasher.hash_one(key) as usize % SHARDS]);
        let mut key = key;
        if shard.buckets.len() >= per_shard && !shard.buckets.contains_key(&key) {
            if shard.swept_at.is_none_or(|at| now >= at + SWEEP_EVERY) {
                shard.buckets.retain(|_, full_at| *full_at > now);
                shard.swept_at = Some(now);
            }
            if shard.buckets.len() >= per_shard {
                drop(shard);
                shard = lock(&self.shards[self.hasher.hash_one(OVERFLOW) as usize % SHARDS]);
                key = OVERFLOW;
            }
        }
        let full_at = shard.buckets.get(&key).copied().unwrap_or(now).max(now) + self.interval;
        if full_at - now > self.tolerance {
            return Err(full_at - now - self.tolerance);
        }
        shard.buckets.insert(key, full_at);
        if self.sharing.load(Ordering::Relaxed) {
            *shard.admitted.entry(key).or_default() += 1;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a bucket half written.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn too_many(wait: Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// Unix milliseconds: the deployment's buckets are kept in them.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The bucket an address counts in: IPv4 as is, IPv6 per /64.
pub fn bucket_of(ip: Option<IpAddr>) -> IpAddr {
    match ip {
        None => IpAddr::from([0, 0, 0, 0]),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

pub struct RateLimits {
    pub authorize: IpLimiter,
    pub refresh: IpLimiter,
    /// Per admin API key (`api::admin::key_guard`).
    pub admin_api: IpLimiter,
    /// New web sign-in tickets, per address (`oidc::authorize`).
    pub web_login: IpLimiter,
    /// A person's exports of their account (`api::auth::account`).
    pub account_export: IpLimiter,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn limit(per_minute: u32) -> Limit {
        IpLimiter::per_minute("test", per_minute).limit.unwrap()
    }

    #[test]
    fn admissions_are_counted_only_while_sharing_and_merged_buckets_refuse() {
        let limiter = IpLimiter::per_minute("test", 6);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        limiter.check(Some(ip)).unwrap();
        assert!(limiter.take_admitted(10).is_empty());
        limiter.set_sharing(true);
        limiter.check(Some(ip)).unwrap();
        limiter.check(Some(ip)).unwrap();
        assert_eq!(limiter.take_admitted(10), vec![(ip, 2)]);
        assert!(limiter.take_admitted(10).is_empty(), "taken once");
        // The other instances used the rest of the minute: refused here too.
        assert_eq!(limiter.interval_ms(), Some(10_000));
        limiter.merge(ip, 1_000_000 + 70_000, 1_000_000);
        assert!(limiter.check(Some(ip)).is_err());
        // A bucket in the past changes nothing.
        let other: IpAddr = "198.51.100.8".parse().unwrap();
        limiter.merge(other, 999_000, 1_000_000);
        limiter.check(Some(other)).unwrap();
    }

    #[test]
    fn limit_refuses_past_the_quota_with_a_retry_after() {
        let limiter = IpLimiter::per_minute("test", 2);
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_ok());
        match limiter.check(ip) {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!((1..=30).contains(&retry_after))
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Another client has its own bucket.
        assert!(limiter.check(Some(IpAddr::from([10, 0, 0, 2]))).is_ok());
    }

    #[test]
    fn the_bucket_refills_at_the_sustained_rate() {
        let l = limit(60); // one a second, a burst of 60
        let ip = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..60 {
            assert!(l.check_at(ip, 0).is_ok());
        }
        assert_eq!(l.check_at(ip, 0), Err(SECOND));
        assert_eq!(l.check_at(ip, SECOND / 2), Err(SECOND / 2));
        assert!(l.check_at(ip, SECOND).is_ok());
        assert!(l.check_at(ip, SECOND).is_err());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = IpLimiter::per_minute("test", 0);
        for _ in 0..1000 {
            assert!(limiter.check(None).is_ok());
        }
        assert_eq!(limiter.buckets(), 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let l = limit(1);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.check_at(bucket_of(Some(a)), 0).is_ok());
        assert!(
            l.check_at(bucket_of(Some(b)), 0).is_err(),
            "same /64, same bucket"
        );
        assert!(l.check_at(bucket_of(Some(other_net)), 0).is_ok());
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert!(l.check_at(bucket_of(Some(v4)), 0).is_ok());
        assert!(l.check_at(bucket_of(Some(mapped)), 0).is_err());
    }

    #[test]
    fn a_flood_of_addresses_stays_bounded_and_limited() {
        let limiter = IpLimiter::per_minute("test", 2);
        let l = limiter.limit.as_ref().unwrap();
        let known = IpAddr::from([10, 9, 9, 9]);
        assert!(l.check_at(known, 0).is_ok());
        // Four times the table's size in fresh addresses within one refill.
        let mut admitted = 0;
        for i in 0..(4 * MAX_BUCKETS) as u32 {
            let ip = IpAddr::from((0x0b00_0000 + i).to_be_bytes());
            if l.check_at(ip, 0).is_ok() {
                admitted += 1;
            }
        }
        assert!(
            limiter.buckets() <= MAX_BUCKETS + 1,
            "{} buckets",
            limiter.buckets()
        );
        // Once full, the rest shared one bucket of two.
        assert!(admitted <= MAX_BUCKETS + 2, "{admitted} admitted");
        // The client known before the flood still has its own bucket.
        assert!(l.check_at(known, 0).is_ok());
        // A minute later the flood's buckets are full again: a newcomer's
        // shard drops them and the newcomer gets a bucket of its own.
        let before = limiter.buckets();
        assert!(l.check_at(IpAddr::from([10, 8, 8, 8]), 61 * SECOND).is_ok());
        assert!(limiter.buckets() < before - MAX_BUCKETS / SHARDS / 2);
        // The purge drops every full bucket.
        l.forget_idle_at(120 * SECOND);
        assert_eq!(limiter.buckets(), 0);
    }
}
