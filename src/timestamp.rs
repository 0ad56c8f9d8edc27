//! Times are stored as Unix seconds and shown as RFC 3339 UTC strings.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A moment as an operator writes one: RFC 3339, or a day `YYYY-MM-DD`
/// (UTC). As Unix seconds: the moment itself, or the day's first second —
/// or, with `day_end`, the first second after the moment or the day (an
/// exclusive end, so that `to=2026-12-04` takes in all of that day).
pub fn parse_moment(text: &str, day_end: bool) -> Option<i64> {
    let text = text.trim();
    if let Ok(moment) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(moment.unix_timestamp() + i64::from(day_end));
    }
    let day = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let day = if day_end { day.next_day()? } else { day };
    Some(day.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    #[test]
    fn moments_are_rfc_3339_or_whole_days() {
        use super::parse_moment;
        assert_eq!(parse_moment("1970-01-02", false), Some(86_400));
        assert_eq!(parse_moment("1970-01-02", true), Some(2 * 86_400));
        assert_eq!(parse_moment("1970-01-01T00:01:00Z", false), Some(60));
        assert_eq!(parse_moment("1970-01-01T08:01:00+08:00", true), Some(61));
        assert_eq!(parse_moment("yesterday", false), None);
        assert_eq!(parse_moment("2026-13-01", false), None);
    }

    #[test]
    fn formats_utc_with_z() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
