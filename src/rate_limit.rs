//! Per-client-IP token buckets for the calls that reach WeChat or mint tokens
//! (`authorize`, `refresh`). Kept in memory per instance.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

pub struct IpLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl IpLimiter {
    /// `per_minute` = 0 turns the limit off. The bucket holds a minute's worth,
    /// so a burst from many users behind one NAT is not refused.
    pub fn per_minute(per_minute: u32) -> Self {
        IpLimiter {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let ip = ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Drops the buckets of clients that have been quiet long enough to be full.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

pub struct RateLimits {
    pub authorize: IpLimiter,
    pub refresh: IpLimiter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_refuses_past_the_quota_with_a_retry_after() {
        let limiter = IpLimiter::per_minute(2);
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
    fn zero_turns_the_limit_off() {
        let limiter = IpLimiter::per_minute(0);
        for _ in 0..1000 {
            assert!(limiter.check(None).is_ok());
        }
    }
}
