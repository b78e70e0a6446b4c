//! How long to wait before retrying a request: the server's `Retry-After` when it sent one, else
//! exponential back-off with jitter.
//!
//! - `Retry-After` (RFC 9110 §10.2.3) is either delay-seconds (`120`) or an HTTP-date (IMF-fixdate
//!   `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850 and asctime forms). It is honoured
//!   as a minimum: the wait is the server's delay plus up to 10 % jitter, so workers told the same
//!   instant do not all come back at once. A date in the past means "now".
//! - Without it, retry `k` (0-based) waits `backoff · 2^min(k, 6)`, capped at [`MAX_BACKOFF`], drawn
//!   uniformly from the upper half of that step ("equal jitter": never less than half, never more
//!   than the step).
//!
//! Jitter comes from a process-wide splitmix64 stream seeded once from the clock and the process
//! id. It is deliberately not seeded from the config: it only spreads retries in time and never
//! changes a result (answers and judgments are cached by content, not by when they arrived).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest exponential back-off step: a retry never waits longer than this unless the server
/// asked for it with `Retry-After`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The longest `Retry-After` honoured: a server asking for more (an exhausted daily quota) ends
/// the retries at once with a line saying so, rather than blocking a run for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The wait before retry `attempt` (0 = the first retry). `unit` is a uniform draw in `[0, 1)`
/// ([`jitter_unit`] in production; fixed values in tests).
pub fn retry_delay(
    backoff: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
    unit: f64,
) -> Duration {
    let unit = unit.clamp(0.0, 1.0);
    match retry_after {
        Some(ra) => ra + ra.mul_f64(0.1 * unit),
        None => {
            let step = backoff
                .saturating_mul(2u32.pow(attempt.min(6)))
                .min(MAX_BACKOFF);
            step.mul_f64(0.5 + 0.5 * unit)
        }
    }
}

/// Parses a `Retry-After` header value at time `now`: delay-seconds or an HTTP-date. `None` when
/// the value is neither (the caller falls back to exponential back-off).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = parse_http_date(v)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the Unix epoch of an HTTP-date in any of its three forms (always GMT).
pub fn parse_http_date(s: &str) -> Option<u64> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [_, d, m, y, t, "GMT"] => (d.parse().ok()?, *m, y.parse().ok()?, *t),
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: 70–99 → 19xx, else 20xx)
        [_, dmy, t, "GMT"] => {
            let mut p = dmy.split('-');
            let d = p.next()?.parse().ok()?;
            let m = p.next()?;
            let y: u64 = p.next()?.parse().ok()?;
            let y = if y < 100 {
                y + if y >= 70 { 1900 } else { 2000 }
            } else {
                y
            };
            (d, m, y, *t)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [_, m, d, t, y] => (d.parse().ok()?, *m, y.parse().ok()?, *t),
        _ => return None,
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|&n| n == month)? as u64 + 1;
    let mut hms = time.split(':').map(|x| x.parse::<u64>().ok());
    let (h, mi, se) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || se > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + h * 3_600 + mi * 60 + se)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm), year ≥ 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A uniform draw in `[0, 1)` from the process-wide jitter stream (see the module doc).
pub fn jitter_unit() -> f64 {
    static STATE: OnceLock<AtomicU64> = OnceLock::new();
    let state = STATE.get_or_init(|| {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        AtomicU64::new(clock ^ (u64::from(std::process::id()) << 32))
    });
    let x = splitmix64(state.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed));
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// One SplitMix64 step from state `z`: the crate's mixer after the golden-ratio increment.
fn splitmix64(z: u64) -> u64 {
    finefail_core::splitmix::mix64(z.wrapping_add(0x9E37_79B9_7F4A_7C15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_http_date_forms_agree() {
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(s), Some(784_111_777), "{s}");
        }
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("soon"), None);
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn backoff_doubles_within_the_upper_half_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 0..10 {
            let step = (base * 2u32.pow(attempt.min(6))).min(MAX_BACKOFF);
            assert_eq!(retry_delay(base, attempt, None, 0.0), step / 2);
            assert_eq!(retry_delay(base, attempt, None, 1.0), step);
        }
        assert_eq!(
            retry_delay(Duration::from_secs(10), 9, None, 1.0),
            MAX_BACKOFF
        );
        let ra = Some(Duration::from_secs(2));
        assert_eq!(retry_delay(base, 0, ra, 0.0), Duration::from_secs(2));
        assert_eq!(retry_delay(base, 0, ra, 1.0), Duration::from_millis(2200));
    }

    #[test]
    fn jitter_is_uniform_enough_and_bounded() {
        let draws: Vec<f64> = (0..4000).map(|_| jitter_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.03, "mean {mean}");
        let low = draws.iter().filter(|&&u| u < 0.1).count();
        assert!((250..=550).contains(&low), "{low} of 4000 below 0.1");
        let base = Duration::from_millis(40);
        for (k, u) in draws.iter().enumerate().take(200) {
            let attempt = (k % 4) as u32;
            let step = base * 2u32.pow(attempt);
            let d = retry_delay(base, attempt, None, *u);
            assert!(
                d >= step / 2 && d <= step,
                "{d:?} outside [{:?}, {step:?}]",
                step / 2
            );
        }
    }
}
