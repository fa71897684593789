//! Event times: the two header date forms, and the year that legacy `MM/DD` dates leave out.

use std::cell::Cell;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

/// How to turn a wall-clock time without `Z` into Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The reading machine's local zone, as HTCondor's own reader does.
    #[default]
    Local,
    Utc,
    /// A fixed offset east of UTC, in seconds.
    Fixed(i32),
}

impl Zone {
    pub fn to_unix(self, time: NaiveDateTime) -> i64 {
        self.to_unix_from(time, time.and_utc().timestamp())
    }

    /// [`Zone::to_unix`] given `naive`, `time` read as UTC in Unix seconds.
    pub fn to_unix_from(self, time: NaiveDateTime, naive: i64) -> i64 {
        match self {
            Zone::Utc => naive,
            Zone::Fixed(east) => naive - i64::from(east),
            Zone::Local => LOCAL_HOUR.with(|hour| {
                local_to_unix(time, naive, hour, |t| {
                    use chrono::{Offset, TimeZone};
                    chrono::Local
                        .offset_from_local_datetime(&t)
                        .map(|o| o.fix().local_minus_utc())
                })
            }),
        }
    }
}

thread_local! {
    /// The last local hour [`Zone::Local`] converted whole: (naive seconds / 3600, offset
    /// east). Asking the system zone for every event cost `events` about 15% of its time.
    static LOCAL_HOUR: Cell<Option<(i64, i32)>> = const { Cell::new(None) };
}

/// Unix seconds of a local wall-clock `time`, given the zone's offsets (`offset_at`: east of
/// UTC at a local time; none in a DST gap, two in an overlap). An hour whose first and last
/// second have one and the same offset holds no change of offset (zones change at most once
/// an hour), so it is remembered in `hour` and its other times need no lookup.
fn local_to_unix(
    time: NaiveDateTime,
    naive: i64,
    hour: &Cell<Option<(i64, i32)>>,
    offset_at: impl Fn(NaiveDateTime) -> chrono::LocalResult<i32>,
) -> i64 {
    let key = naive.div_euclid(3600);
    if let Some((k, east)) = hour.get()
        && k == key
    {
        return naive - i64::from(east);
    }
    let exact = |t: NaiveDateTime| match offset_at(t) {
        chrono::LocalResult::Single(east) => Some(east),
        _ => None,
    };
    let start = time - chrono::Duration::seconds(naive - key * 3600);
    if let (Some(a), Some(b)) = (exact(start), exact(start + chrono::Duration::seconds(3599)))
        && a == b
    {
        hour.set(Some((key, a)));
        return naive - i64::from(a);
    }
    match offset_at(time) {
        chrono::LocalResult::Single(east) => naive - i64::from(east),
        // The earlier of the two readings, as before the change.
        chrono::LocalResult::Ambiguous(a, b) => naive - i64::from(a.max(b)),
        // A time skipped by a DST change: read it as UTC rather than fail.
        chrono::LocalResult::None => naive,
    }
}

/// A date and time as the header spells it, before the year of a legacy date is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderTime {
    /// `None` for legacy `MM/DD` dates.
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
    pub time: NaiveTime,
    pub utc: bool,
    /// A numeric offset east of UTC in seconds, if one was written (HTCondor never writes
    /// one, but hand-edited logs do).
    pub offset: Option<i32>,
}

/// Chooses years for legacy dates: an explicit year, else the year of the nearest earlier
/// dated event (ISO events, the global log's `ctime`), else the file's modification time;
/// moving forward a year whenever the month falls back by more than six (New Year).
#[derive(Debug, Clone, Default)]
pub struct YearResolver {
    explicit: Option<i32>,
    /// (year, month) of the file's modification time, or of now for streams.
    anchor: Option<(i32, u32)>,
    last: Option<(i32, u32)>,
}

impl YearResolver {
    pub fn new(explicit: Option<i32>, anchor: Option<NaiveDateTime>) -> YearResolver {
        YearResolver {
            explicit,
            anchor: anchor.map(|t| (t.year(), t.month())),
            last: None,
        }
    }

    /// Records a fully dated time, so later legacy dates follow it.
    pub fn observe(&mut self, year: i32, month: u32) {
        self.last = Some((year, month));
    }

    /// The year for a legacy date; the flag says whether it came from inference alone.
    pub fn resolve(&mut self, month: u32) -> i32 {
        let year = match self.last {
            Some((year, last_month)) if month + 6 < last_month => year + 1,
            Some((year, last_month)) if last_month + 6 < month && self.explicit.is_none() => {
                // Months jumping forward by more than half a year right after a dated event
                // mean the dated event was the later one (logs are appended in time order).
                year - 1
            }
            Some((year, _)) => year,
            None => match (self.explicit, self.anchor) {
                (Some(year), _) => year,
                // The file was last written at the anchor: a first event in a later month
                // than that must be from the year before.
                (None, Some((year, anchor_month))) if month > anchor_month => year - 1,
                (None, Some((year, _))) => year,
                (None, None) => chrono::Local::now().year(),
            },
        };
        self.last = Some((year, month));
        year
    }
}

/// Builds the wall-clock time of a header, resolving the year of legacy dates.
pub fn resolve(t: &HeaderTime, years: &mut YearResolver) -> Option<NaiveDateTime> {
    resolve_with(t, years, &mut DayCache::default())
}

/// [`resolve`], remembering the last calendar day in `days`.
pub fn resolve_with(
    t: &HeaderTime,
    years: &mut YearResolver,
    days: &mut DayCache,
) -> Option<NaiveDateTime> {
    let year = match t.year {
        Some(y) => {
            years.observe(y, t.month);
            y
        }
        None => years.resolve(t.month),
    };
    let date = days.date(year, t.month, t.day).or_else(|| {
        // 02/29 in a year inferred wrongly as non-leap: keep the event on 02/28.
        (t.year.is_none() && t.month == 2 && t.day == 29)
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })?;
    Some(date.and_time(t.time))
}

/// The last calendar day a reader built, with its midnight in Unix seconds (read as UTC).
/// Logs are written in time order, so most events fall on the day of the one before; building
/// and converting a date costs a tenth of reading a short event.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayCache {
    last: Option<((i32, u32, u32), NaiveDate, i64)>,
}

impl DayCache {
    /// The date, if it exists.
    fn date(&mut self, year: i32, month: u32, day: u32) -> Option<NaiveDate> {
        if let Some((ymd, date, _)) = self.last
            && ymd == (year, month, day)
        {
            return Some(date);
        }
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        let midnight = date.and_time(NaiveTime::MIN).and_utc().timestamp();
        self.last = Some(((year, month, day), date, midnight));
        Some(date)
    }

    /// `time.and_utc().timestamp()`, from the remembered midnight when it is that day.
    pub fn naive_seconds(&self, time: NaiveDateTime) -> i64 {
        use chrono::Timelike;
        match self.last {
            Some((_, date, midnight)) if date == time.date() => {
                midnight + i64::from(time.num_seconds_from_midnight())
            }
            _ => time.and_utc().timestamp(),
        }
    }
}

/// Parses `HH:MM:SS[.fff]` and the optional `Z` or numeric offset after it.
pub fn parse_clock(s: &str) -> Option<(NaiveTime, bool, Option<i32>, usize)> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = two_digits(&b[0..2])?;
    let m = two_digits(&b[3..5])?;
    let sec = two_digits(&b[6..8])?;
    let mut i = 8;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            return None;
        }
        let digits = &s[start..end.min(start + 9)];
        nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
        i = end;
    }
    let mut utc = false;
    let mut offset = None;
    match b.get(i) {
        Some(b'Z') => {
            utc = true;
            i += 1;
        }
        Some(&sign @ (b'+' | b'-')) => {
            // +HH:MM, +HHMM or +HH
            let rest = &b[i + 1..];
            let hh = rest.get(0..2).and_then(two_digits)?;
            let (mm, used) = match rest.get(2) {
                Some(b':') => (rest.get(3..5).and_then(two_digits)?, 5),
                Some(c) if c.is_ascii_digit() => (rest.get(2..4).and_then(two_digits)?, 4),
                _ => (0, 2),
            };
            let secs = (hh * 3600 + mm * 60) as i32;
            offset = Some(if sign == b'-' { -secs } else { secs });
            i += 1 + used;
        }
        _ => {}
    }
    let time = NaiveTime::from_hms_nano_opt(h, m, sec.min(59), nanos)?;
    Some((time, utc, offset, i))
}

fn two_digits(b: &[u8]) -> Option<u32> {
    match b {
        [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u32::from(a - b'0') * 10 + u32::from(c - b'0'))
        }
        _ => None,
    }
}

/// Parses a date at the start of `s`: `YYYY-MM-DD` (then ` ` or `T`) or `MM/DD` (then ` `).
/// Returns the date parts and the byte length consumed, including the separator.
pub fn parse_date(s: &str) -> Option<(Option<i32>, u32, u32, usize)> {
    let b = s.as_bytes();
    if b.len() >= 11 && b[4] == b'-' && b[7] == b'-' && (b[10] == b' ' || b[10] == b'T') {
        let year: i32 = s.get(0..4)?.parse().ok()?;
        if !s[0..4].bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let month = two_digits(&b[5..7])?;
        let day = two_digits(&b[8..10])?;
        return valid(month, day).then_some((Some(year), month, day, 11));
    }
    if b.len() >= 6 && b[2] == b'/' && b[5] == b' ' {
        let month = two_digits(&b[0..2])?;
        let day = two_digits(&b[3..5])?;
        return valid(month, day).then_some((None, month, day, 6));
    }
    None
}

fn valid(month: u32, day: u32) -> bool {
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// Parses an `EventTime` attribute (`2025-03-02T09:15:07[.123][Z]`).
pub fn parse_event_time(s: &str) -> Option<HeaderTime> {
    let (year, month, day, used) = parse_date(s)?;
    let (time, utc, offset, rest) = parse_clock(&s[used..])?;
    if used + rest != s.len() {
        return None;
    }
    Some(HeaderTime {
        year,
        month,
        day,
        time,
        utc,
        offset,
    })
}

/// ISO text of a time as the bindings and the JSON format print `EventTime`.
pub fn format_event_time(time: &NaiveDateTime, utc: bool) -> String {
    let millis = time.and_utc().timestamp_subsec_millis();
    let mut s = time.format("%Y-%m-%dT%H:%M:%S").to_string();
    if millis != 0 {
        s.push_str(&format!(".{millis:03}"));
    }
    if utc {
        s.push('Z');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_days_give_chrono_s_seconds() {
        let mut days = DayCache::default();
        let mut years = YearResolver::default();
        let mut checked = 0;
        // Forward through two New Years and a leap day, then back, every 7 h 13 min 17 s.
        let start = NaiveDate::from_ymd_opt(2023, 12, 30)
            .unwrap()
            .and_time(NaiveTime::MIN);
        let forward: Vec<NaiveDateTime> = (0..400)
            .map(|k| start + chrono::Duration::seconds(k * 25_997))
            .collect();
        for t in forward.iter().chain(forward.iter().rev()) {
            let header = HeaderTime {
                year: Some(t.year()),
                month: t.month(),
                day: t.day(),
                time: t.time(),
                utc: false,
                offset: None,
            };
            let read = resolve_with(&header, &mut years, &mut days).unwrap();
            assert_eq!(read, *t);
            assert_eq!(days.naive_seconds(read), t.and_utc().timestamp(), "{t}");
            // A time of another day than the remembered one is converted in full.
            let other = *t + chrono::Duration::days(3);
            assert_eq!(days.naive_seconds(other), other.and_utc().timestamp());
            checked += 1;
        }
        assert_eq!(checked, 800);
        assert_eq!(DayCache::default().date(2023, 2, 29), None);
    }

    /// A zone of standard offset `std` east, and `dst` east from UTC second `on` to `off`.
    fn fake_zone(
        std: i32,
        dst: i32,
        on: i64,
        off: i64,
    ) -> impl Fn(NaiveDateTime) -> chrono::LocalResult<i32> {
        move |t| {
            let naive = t.and_utc().timestamp();
            let valid: Vec<i32> = [dst, std]
                .into_iter()
                .filter(|&east| {
                    let unix = naive - i64::from(east);
                    (on <= unix && unix < off) == (east == dst)
                })
                .collect();
            match valid[..] {
                [] => chrono::LocalResult::None,
                [e] => chrono::LocalResult::Single(e),
                [a, b] => chrono::LocalResult::Ambiguous(a, b),
                _ => unreachable!(),
            }
        }
    }

    #[test]
    fn remembered_local_hours_give_what_each_lookup_gives() {
        let utc = |s: &str| dt(s).and_utc().timestamp();
        // Central Europe 2026 (whole-hour changes) and a Lord Howe-like zone (+10:30 and
        // +11:00: half-hour changes, which start and end inside local hours).
        let zones = [
            (
                3600,
                7200,
                utc("2026-03-29 01:00:00"),
                utc("2026-10-25 01:00:00"),
            ),
            (
                37800,
                39600,
                utc("2026-10-03 15:30:00"),
                utc("2027-04-03 15:00:00"),
            ),
            // The same changing at a quarter past: an hour whose first and last seconds each
            // have one offset, but not the same one.
            (
                37800,
                39600,
                utc("2026-10-03 15:45:00"),
                utc("2027-04-03 14:45:00"),
            ),
        ];
        for (std, dst, on, off) in zones {
            let zone = fake_zone(std, dst, on, off);
            let exact = |t: NaiveDateTime| match zone(t) {
                chrono::LocalResult::Single(e) => t.and_utc().timestamp() - i64::from(e),
                chrono::LocalResult::Ambiguous(a, b) => (t.and_utc().timestamp() - i64::from(a))
                    .min(t.and_utc().timestamp() - i64::from(b)),
                chrono::LocalResult::None => t.and_utc().timestamp(),
            };
            let hour = Cell::new(None);
            let mut checked = 0;
            for change in [on, off] {
                // Local wall-clock times from six hours before each change to six after, in
                // order as a log has them, then backwards.
                let first = change + i64::from(std) - 6 * 3600;
                let mut times: Vec<i64> = (0..=12 * 3600 / 37).map(|k| first + 37 * k).collect();
                let backwards: Vec<i64> = times.iter().rev().copied().collect();
                times.extend(backwards);
                for naive in times {
                    let t = chrono::DateTime::from_timestamp(naive, 0)
                        .unwrap()
                        .naive_utc();
                    assert_eq!(local_to_unix(t, naive, &hour, &zone), exact(t), "{t}");
                    checked += 1;
                }
            }
            assert!(checked > 4000);
        }
        // The fake zone is a real test: it has gaps and overlaps.
        let zone = fake_zone(
            3600,
            7200,
            utc("2026-03-29 01:00:00"),
            utc("2026-10-25 01:00:00"),
        );
        assert_eq!(zone(dt("2026-03-29 02:30:00")), chrono::LocalResult::None);
        assert!(matches!(
            zone(dt("2026-10-25 02:30:00")),
            chrono::LocalResult::Ambiguous(..)
        ));
    }

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn legacy_year_from_anchor_rolls_over_new_year() {
        let mut r = YearResolver::new(None, Some(dt("2024-01-03 00:00:00")));
        assert_eq!(r.resolve(12), 2023);
        assert_eq!(r.resolve(12), 2023);
        assert_eq!(r.resolve(1), 2024);
        assert_eq!(r.resolve(1), 2024);
    }

    #[test]
    fn legacy_year_follows_iso_neighbours_and_explicit() {
        let mut r = YearResolver::new(None, Some(dt("2030-06-01 00:00:00")));
        r.observe(2019, 3);
        assert_eq!(r.resolve(3), 2019);
        let mut r = YearResolver::new(Some(2011), None);
        assert_eq!(r.resolve(11), 2011);
        assert_eq!(r.resolve(2), 2012);
    }

    #[test]
    fn clock_forms() {
        let (t, utc, off, n) = parse_clock("09:15:07.123Z rest").unwrap();
        assert_eq!(
            (t.to_string().as_str(), utc, off, n),
            ("09:15:07.123", true, None, 13)
        );
        let (_, utc, off, n) = parse_clock("09:15:07+02:00").unwrap();
        assert_eq!((utc, off, n), (false, Some(7200), 14));
        assert!(parse_clock("9:15:07").is_none());
        assert!(parse_clock("09:15:07.Z").is_none());
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2024-05-26 15:13:42"),
            Some((Some(2024), 5, 26, 11))
        );
        assert_eq!(
            parse_date("2024-05-26T15:13:42"),
            Some((Some(2024), 5, 26, 11))
        );
        assert_eq!(parse_date("03/26 08:30:19"), Some((None, 3, 26, 6)));
        assert_eq!(parse_date("13/26 08:30:19"), None);
        assert_eq!(parse_date("2024-05-2x 1"), None);
        let t = parse_event_time("2025-03-02T09:15:07.250Z").unwrap();
        assert!(t.utc);
        assert_eq!(
            format_event_time(
                &NaiveDate::from_ymd_opt(2025, 3, 2)
                    .unwrap()
                    .and_time(t.time),
                true
            ),
            "2025-03-02T09:15:07.250Z"
        );
    }
}
