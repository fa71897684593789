//! The text event-log format: `NNN (C.P.S) DATE TIME title`, indented body lines, `...`.
//!
//! Header lines are parsed with nom; bodies follow the per-event layouts of HTCondor's
//! writer (`condor_event.cpp`), accepting what its reader accepts.

use std::borrow::Cow;

use nom::bytes::complete::{tag, take_while_m_n};
use nom::character::complete::{char, digit1};
use nom::combinator::{map_res, opt, recognize};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::event::*;
use crate::event_type::{EventType, FILE_TRANSFER_TITLES};
use crate::time::{HeaderTime, parse_clock, parse_date};
use crate::value::Value;

/// A parsed header line.
#[derive(Debug, Clone, PartialEq)]
pub struct Header<'a> {
    pub number: u16,
    pub id: JobId,
    pub time: HeaderTime,
    /// The text after the time (the event's title), without the separating space.
    pub title: &'a str,
}

fn signed_int(input: &str) -> IResult<&str, i64> {
    map_res(recognize(preceded(opt(char('-')), digit1)), |s: &str| {
        s.parse::<i64>()
    })
    .parse(input)
}

fn event_number(input: &str) -> IResult<&str, u16> {
    map_res(
        take_while_m_n(3, 3, |c: char| c.is_ascii_digit()),
        |s: &str| s.parse::<u16>(),
    )
    .parse(input)
}

fn job_id(input: &str) -> IResult<&str, JobId> {
    let (rest, (_, cluster, _, proc, _, subproc, _)) = (
        char('('),
        signed_int,
        char('.'),
        signed_int,
        char('.'),
        signed_int,
        char(')'),
    )
        .parse(input)?;
    Ok((
        rest,
        JobId {
            cluster,
            proc,
            subproc,
        },
    ))
}

/// Whether a line starts like an event header (`NNN (`): used to resynchronise.
pub fn looks_like_header(line: &[u8]) -> bool {
    line.len() >= 5
        && line[0].is_ascii_digit()
        && line[1].is_ascii_digit()
        && line[2].is_ascii_digit()
        && line[3] == b' '
        && line[4] == b'('
}

/// Parses a header line; the error names what was expected.
#[inline(always)]
pub fn parse_header(line: &str) -> Result<Header<'_>, &'static str> {
    match padded_header(line).or_else(|| common_header(line)) {
        Some(h) => Ok(h),
        None => parse_header_nom(line),
    }
}

/// The header exactly as HTCondor pads it, `NNN (C.PPP.SSS) YYYY-MM-DD HH:MM:SS title`
/// with a three-digit proc and subproc: everything after the cluster sits at a fixed
/// offset, so it is checked and read without a scan. `None` for anything else, which
/// [`common_header`] then reads: the same result either way.
#[inline]
fn padded_header(line: &str) -> Option<Header<'_>> {
    let b = line.as_bytes();
    if b.len() < 5 || b[3] != b' ' || b[4] != b'(' {
        return None;
    }
    let (cluster, i) = word_digits(b, 5)?;
    // `.PPP.SSS) YYYY-MM-DD HH:MM:SS`, 29 bytes, as four words checked and converted eight
    // bytes at a time (the month spans the second and third).
    let t: &[u8; 29] = b.get(i..i + 29)?.try_into().ok()?;
    let word = |k: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&t[k..k + 8]);
        u64::from_le_bytes(w)
    };
    const W0: Layout = Layout::new(b".000.000");
    const W1: Layout = Layout::new(b") 0000-0");
    const W2: Layout = Layout::new(b"0-00 00:");
    const W3: Layout = Layout::new(b"00:00:00");
    let x0 = W0.digit_values(word(0))?;
    let x1 = W1.digit_values(word(8))?;
    let x2 = W2.digit_values(word(16))?;
    let x3 = W3.digit_values(word(21))?;
    let (p0, p1, p2, p3) = (pairs(x0), pairs(x1), pairs(x2), pairs(x3));
    let byte = |x: u64, k: u32| (x >> (8 * k)) as u32 & 0xFF;
    let proc = byte(x0, 1) * 100 + byte(p0, 2);
    let subproc = byte(x0, 5) * 100 + byte(p0, 6);
    let year = byte(p1, 2) * 100 + byte(p1, 4);
    let month = byte(x1, 7) * 10 + byte(x2, 0);
    let day = byte(p2, 2);
    let (hour, minute, second) = (byte(p3, 0), byte(p3, 3), byte(p3, 6));
    // The event number: three digits, checked without a branch per byte.
    let mut bad = 0u8;
    let mut digit = |c: u8| {
        let v = c.wrapping_sub(b'0');
        bad |= u8::from(v > 9);
        u32::from(v)
    };
    let number = digit(b[0]) * 100 + digit(b[1]) * 10 + digit(b[2]);
    if bad != 0 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let id = JobId {
        cluster,
        proc: i64::from(proc),
        subproc: i64::from(subproc),
    };
    let date = (year as i32, month, day);
    dated_header(
        line,
        i + 29,
        number as u16,
        id,
        date,
        (hour, minute, second),
    )
}

/// Eight bytes of text laid out as a template whose `0`s stand for digits.
#[derive(Clone, Copy)]
struct Layout {
    /// The template as a little-endian word.
    pattern: u64,
    /// 0xFF at the digits' bytes.
    digits: u64,
}

impl Layout {
    const fn new(template: &[u8; 8]) -> Layout {
        let mut digits = 0u64;
        let mut k = 0;
        while k < 8 {
            if template[k] == b'0' {
                digits |= 0xFF << (8 * k);
            }
            k += 1;
        }
        Layout {
            pattern: u64::from_le_bytes(*template),
            digits,
        }
    }

    /// The digit values of a little-endian word laid out so: each digit's byte holds its
    /// value, every other byte zero. `None` unless every digit's byte holds an ASCII digit
    /// and every other byte equals the template's.
    #[inline(always)]
    fn digit_values(self, word: u64) -> Option<u64> {
        const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);
        const HIGH: u64 = u64::from_le_bytes([0xF0; 8]);
        const SIX: u64 = u64::from_le_bytes([6; 8]);
        let digits = self.digits;
        let others = (word ^ self.pattern) & !digits == 0;
        // A digit is 0x30..=0x39: high nibble 3, and still 3 after adding 6. Adding 6
        // carries into the next byte only from a byte of 0xFA or more, which fails a check
        // anyway.
        let high = word & HIGH & digits == ZEROS & digits;
        let six = word.wrapping_add(SIX) & HIGH & digits == ZEROS & digits;
        (others & high & six).then_some((word ^ ZEROS) & digits)
    }
}

/// For a word of digit values (each byte at most 9): byte `k` becomes ten times itself plus
/// byte `k + 1`, the two-digit number starting there (at most 99: no byte carries over).
#[inline(always)]
fn pairs(x: u64) -> u64 {
    x.wrapping_mul(10).wrapping_add(x >> 8)
}

/// The end of both fast header readers, once the date ends at `line[end]`: an ISO header
/// time without zone, and the title after one space (or none at all).
#[inline(always)]
fn dated_header(
    line: &str,
    end: usize,
    number: u16,
    id: JobId,
    (year, month, day): (i32, u32, u32),
    (hour, minute, second): (u32, u32, u32),
) -> Option<Header<'_>> {
    let time = chrono::NaiveTime::from_hms_opt(hour, minute, second.min(59))?;
    let title = match line.as_bytes().get(end) {
        None => "",
        Some(b' ') => line.get(end + 1..)?,
        Some(_) => return None,
    };
    Some(Header {
        number,
        id,
        time: HeaderTime {
            year: Some(year),
            month,
            day,
            time,
            utc: false,
            offset: None,
        },
        title,
    })
}

/// Digits `b[from..]` up to the first non-digit, at most 18 (no overflow): value and end.
#[inline]
fn digits(b: &[u8], from: usize) -> Option<(i64, usize)> {
    let rest = b.get(from..)?;
    let mut n: i64 = 0;
    let mut len = 0;
    while let Some(&c) = rest.get(len) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if len == 18 {
            return None;
        }
        n = n * 10 + i64::from(d);
        len += 1;
    }
    (len > 0).then_some((n, from + len))
}

/// [`digits`] for fewer than eight digits with eight bytes to read, found and converted as
/// one word; more digits, or fewer bytes left, take the loop.
#[inline(always)]
fn word_digits(b: &[u8], from: usize) -> Option<(i64, usize)> {
    let Some(chunk) = b.get(from..from + 8) else {
        return digits(b, from);
    };
    let mut w = [0; 8];
    w.copy_from_slice(chunk);
    // Digits become their values 0..=9; any other byte is above 9.
    let x = u64::from_le_bytes(w) ^ u64::from_le_bytes([b'0'; 8]);
    // The high bit of a byte above 9, or of one whose own high bit is set. A carry out of
    // such a byte spoils only the bytes after the first non-digit, which are not read.
    let above_nine =
        (x.wrapping_add(u64::from_le_bytes([0x76; 8])) | x) & u64::from_le_bytes([0x80; 8]);
    let len = above_nine.trailing_zeros() / 8;
    if len == 8 {
        return digits(b, from);
    }
    if len == 0 {
        return None;
    }
    // The digits as an eight-digit number with leading zeros (the first digit is the lowest
    // byte), then summed in pairs, fours and the eight.
    let mut v = x << (8 * (8 - len));
    v = v.wrapping_mul(10).wrapping_add(v >> 8);
    const LOW: u64 = 0x0000_00FF_0000_00FF;
    v = ((v & LOW)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & LOW).wrapping_mul(1 + (10_000 << 32))))
        >> 32;
    Some((v as i64, from + len as usize))
}

fn two(b: &[u8]) -> Option<u32> {
    match b {
        [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u32::from(a - b'0') * 10 + u32::from(c - b'0'))
        }
        _ => None,
    }
}

/// The header HTCondor writes by default, `NNN (C.P.S) YYYY-MM-DD HH:MM:SS title`, read
/// without nom; `None` for anything else (signs, fractions, zones, legacy dates, anything
/// wrong), which [`parse_header_nom`] then reads or reports: the same result either way.
fn common_header(line: &str) -> Option<Header<'_>> {
    let b = line.as_bytes();
    if b.len() < 5 || b[3] != b' ' || b[4] != b'(' {
        return None;
    }
    let number = u16::try_from(
        (b[0] as char).to_digit(10)? * 100
            + (b[1] as char).to_digit(10)? * 10
            + (b[2] as char).to_digit(10)?,
    )
    .ok()?;
    let (cluster, i) = digits(b, 5)?;
    let (proc, i) = digits(b, (b.get(i) == Some(&b'.')).then_some(i + 1)?)?;
    let (subproc, i) = digits(b, (b.get(i) == Some(&b'.')).then_some(i + 1)?)?;
    let d = b.get(i..i + 21)?;
    // `) YYYY-MM-DD HH:MM:SS`
    if d[0] != b')'
        || d[1] != b' '
        || d[6] != b'-'
        || d[9] != b'-'
        || d[12] != b' '
        || d[15] != b':'
        || d[18] != b':'
        || !d[2..6].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let year = d[2..6]
        .iter()
        .fold(0i32, |y, c| y * 10 + i32::from(c - b'0'));
    let (month, day) = (two(&d[7..9])?, two(&d[10..12])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let clock = (two(&d[13..15])?, two(&d[16..18])?, two(&d[19..21])?);
    let id = JobId {
        cluster,
        proc,
        subproc,
    };
    dated_header(line, i + 21, number, id, (year, month, day), clock)
}

/// The header parser of record, for every form.
fn parse_header_nom(line: &str) -> Result<Header<'_>, &'static str> {
    let (rest, number) = event_number(line).map_err(|_| "a three-digit event number")?;
    let (rest, _) = tag::<_, _, nom::error::Error<&str>>(" ")
        .parse(rest)
        .map_err(|_| "a space after the event number")?;
    let (rest, id) = job_id(rest).map_err(|_| "a job id `(cluster.proc.subproc)`")?;
    let rest = rest.strip_prefix(' ').ok_or("a space after the job id")?;
    let (year, month, day, used) = parse_date(rest).ok_or("a date `YYYY-MM-DD` or `MM/DD`")?;
    let (clock, utc, offset, used2) = parse_clock(&rest[used..]).ok_or("a time `HH:MM:SS`")?;
    let rest = &rest[used + used2..];
    let title = match rest.strip_prefix(' ') {
        Some(t) => t,
        None if rest.is_empty() => rest,
        None => return Err("a space after the time"),
    };
    Ok(Header {
        number,
        id,
        time: HeaderTime {
            year,
            month,
            day,
            time: clock,
            utc,
            offset,
        },
        title,
    })
}

/// Why a body could not be read: what was expected, and the 0-based body line it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyError {
    pub expected: String,
    /// Index into the body lines (0 = the header line itself).
    pub line: usize,
}

fn err<T>(line: usize, expected: impl Into<String>) -> Result<T, BodyError> {
    Err(BodyError {
        expected: expected.into(),
        line,
    })
}

/// Cursor over the body lines (header excluded); line index 1 is the first body line.
struct Body<'a, 'l> {
    lines: &'l [&'a str],
    next: usize,
}

impl<'a> Body<'a, '_> {
    fn peek(&self) -> Option<&'a str> {
        self.lines.get(self.next).copied()
    }
    fn take(&mut self) -> Option<&'a str> {
        let l = self.peek()?;
        self.next += 1;
        Some(l)
    }
    /// The line number (1-based body index) of the line `take` returns next.
    fn at(&self) -> usize {
        self.next + 1
    }
    fn rest(&mut self) -> &[&'a str] {
        let r = &self.lines[self.next..];
        self.next = self.lines.len();
        r
    }
}

/// Parses `(N) text` as written by termination lines; returns N and the text.
fn paren_flag(line: &str) -> Option<(i64, &str)> {
    let l = line.trim_ascii_start();
    let inner = l.strip_prefix('(')?;
    let close = byte_at(inner, b')')?;
    let n = inner[..close].trim_ascii().parse().ok()?;
    Some((n, inner[close + 1..].trim_ascii_start()))
}

/// Where `needle` first occurs in `haystack`. Haystacks here are a line or a title and
/// needles a word: a substring searcher costs more to set up than to run, so this looks
/// for the needle's first byte with memchr and compares the rest there.
fn find(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return Some(0);
    };
    let mut from = 0;
    while let Some(p) = memchr::memchr(first, &h[from..]) {
        let at = from + p;
        if h[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Where the ASCII byte `b` first occurs in a short line: a plain loop, cheaper there than
/// the standard library's char searcher.
fn byte_at(line: &str, b: u8) -> Option<usize> {
    line.bytes().position(|c| c == b)
}

/// `str::split_once` with memchr's searcher (see [`find`]).
fn split_at_first<'a>(text: &'a str, separator: &str) -> Option<(&'a str, &'a str)> {
    let at = find(text, separator)?;
    Some((&text[..at], &text[at + separator.len()..]))
}

fn number_in(text: &str, prefix: &str) -> Option<i64> {
    let rest = text.strip_prefix(prefix)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `(1) Normal termination (return value N)` / `(0) Abnormal termination (signal N)` and,
/// after an abnormal one, the core-file line.
fn termination(body: &mut Body) -> Result<Termination, BodyError> {
    let at = body.at();
    let Some(line) = body.take() else {
        return err(
            at,
            "a termination line `(1) Normal termination (return value N)`",
        );
    };
    let Some((flag, text)) = paren_flag(line) else {
        return err(
            at,
            "a termination line `(1) Normal termination (return value N)`",
        );
    };
    if flag != 0 {
        match number_in(text, "Normal termination (return value ") {
            Some(return_value) => Ok(Termination::Normal { return_value }),
            None => err(at, "`Normal termination (return value N)`"),
        }
    } else {
        let Some(signal) = number_in(text, "Abnormal termination (signal ") else {
            return err(at, "`Abnormal termination (signal N)`");
        };
        let at = body.at();
        let core_line = body.take().map(str::trim_ascii);
        let core_file = match core_line {
            Some(l) if l.starts_with("(1) Corefile in: ") => {
                Some(l["(1) Corefile in: ".len()..].to_string())
            }
            Some(l) if l.starts_with("(0)") => None,
            _ => {
                return err(
                    at,
                    "a core-file line `(0) No core file` or `(1) Corefile in: PATH`",
                );
            }
        };
        Ok(Termination::Abnormal { signal, core_file })
    }
}

/// Position of the `  -  ` separator of rusage, byte-count and image-size lines.
fn find_dash(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    memchr::memchr_iter(b'-', b)
        .find(|&i| i >= 2 && b[i - 2..i] == *b"  " && b.get(i + 1..i + 3) == Some(b"  "))
        .map(|i| i - 2)
}

/// A usage line of no usage at all, up to its label.
const NO_USAGE_DASH: &str = "Usr 0 00:00:00, Sys 0 00:00:00  -  ";

/// `Usr D HH:MM:SS, Sys D HH:MM:SS  -  Label`: returns the usage text and the label.
fn rusage_line(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_ascii_start();
    // No usage, as local usage nearly always reads: the separator's place is known.
    if let Some(label) = t.strip_prefix(NO_USAGE_DASH) {
        return Some((&t[..NO_USAGE.len()], label.trim_ascii()));
    }
    rusage_line_by_search(t)
}

/// [`rusage_line`] by looking for the separator (the reading of record).
fn rusage_line_by_search(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_ascii_start();
    if !t.starts_with("Usr ") {
        return None;
    }
    let dash = find_dash(t)?;
    Some((t[..dash].trim_ascii_end(), t[dash + 5..].trim_ascii()))
}

/// `N  -  (Run|Total) Bytes (Sent|Received) By (Job|Node)`.
fn bytes_line(line: &str) -> Option<(f64, &str)> {
    let t = line.trim_ascii_start();
    let b = t.as_bytes();
    // Digits right before the separator, as HTCondor writes counts: read in place. At most
    // 15 digits, so exact as an f64.
    let digits = b.iter().take(16).take_while(|c| c.is_ascii_digit()).count();
    if (1..=15).contains(&digits) && b[digits..].starts_with(b"  -  ") {
        let n = b[..digits]
            .iter()
            .fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
        return Some((n as f64, t[digits + 5..].trim_ascii_end()));
    }
    bytes_line_by_search(t)
}

/// [`bytes_line`] by looking for the separator (the reading of record).
fn bytes_line_by_search(line: &str) -> Option<(f64, &str)> {
    let t = line.trim_ascii_start();
    let dash = find_dash(t)?;
    let number = t[..dash].trim_ascii();
    // Byte counts are almost always plain integers: skip the float parser for those (exact
    // below 2^53; `-0` is left to it, which reads it as negative zero).
    let value = match number.parse::<i64>() {
        Ok(i) if i.unsigned_abs() < 1 << 53 && !(i == 0 && number.starts_with('-')) => i as f64,
        _ => number.parse::<f64>().ok()?,
    };
    Some((value, t[dash + 5..].trim_ascii_end()))
}

fn set_bytes(r: &mut Rusage, value: f64, label: &str) -> bool {
    // `(Run|Total) Bytes (Sent|Received) By (Job|Node)`, matched by prefix: no searching.
    let (slot, by) = if let Some(rest) = label.strip_prefix("Run Bytes ") {
        if let Some(by) = rest.strip_prefix("Sent By ") {
            (&mut r.sent_bytes, by)
        } else if let Some(by) = rest.strip_prefix("Received By ") {
            (&mut r.received_bytes, by)
        } else {
            return false;
        }
    } else if let Some(rest) = label.strip_prefix("Total Bytes ") {
        if let Some(by) = rest.strip_prefix("Sent By ") {
            (&mut r.total_sent_bytes, by)
        } else if let Some(by) = rest.strip_prefix("Received By ") {
            (&mut r.total_received_bytes, by)
        } else {
            return false;
        }
    } else {
        return false;
    };
    if by.is_empty() || by.contains(' ') {
        return false;
    }
    *slot = Some(value);
    true
}

fn set_rusage(r: &mut Rusage, text: &str, label: &str) -> bool {
    let slot = match label {
        "Run Remote Usage" => &mut r.run_remote,
        "Run Local Usage" => &mut r.run_local,
        "Total Remote Usage" => &mut r.total_remote,
        "Total Local Usage" => &mut r.total_local,
        _ => return false,
    };
    *slot = Some(if text == NO_USAGE {
        Cow::Borrowed(NO_USAGE)
    } else {
        Cow::Owned(text.to_string())
    });
    true
}

/// Column layout of a usage table, from its header line (as HTCondor's reader does).
#[derive(Debug, PartialEq)]
struct UsageColumns {
    use_end: usize,
    req_end: usize,
    alloc_end: Option<usize>,
    assigned_start: Option<usize>,
}

impl UsageColumns {
    /// The columns of the header HTCondor writes above nearly every table (with or without
    /// its last space), known without reading it: `    Usage  Request Allocated `.
    const USUAL: UsageColumns = UsageColumns {
        use_end: 10,
        req_end: 19,
        alloc_end: Some(28),
        assigned_start: None,
    };
    const USUAL_HEADER: &str = "\tPartitionable Resources :    Usage  Request Allocated ";

    fn of_header(line: &str) -> UsageColumns {
        match line.strip_suffix(' ').unwrap_or(line) {
            l if l.len() + 1 == Self::USUAL_HEADER.len() && Self::USUAL_HEADER.starts_with(l) => {
                Self::USUAL
            }
            _ => UsageColumns::from_header(line),
        }
    }

    fn from_header(line: &str) -> UsageColumns {
        let table = byte_at(line, b':').map_or("", |c| &line[c + 1..]);
        let b = table.as_bytes();
        let mut i = 0;
        let skip = |i: &mut usize, space: bool| {
            while *i < b.len() && (b[*i] == b' ') == space {
                *i += 1;
            }
        };
        skip(&mut i, true);
        skip(&mut i, false);
        let use_end = i + 1;
        skip(&mut i, true);
        skip(&mut i, false);
        let req_end = i + 1;
        let (mut alloc_end, mut assigned_start) = (None, None);
        // A header is a few dozen bytes: a plain scan beats setting up a substring searcher.
        let find_from = |from: usize, what: &[u8]| {
            b[from.min(b.len())..]
                .windows(what.len())
                .position(|w| w == what)
                .map(|p| p + from)
        };
        if let Some(p) = find_from(i, b"Allocated") {
            alloc_end = Some(p + 9);
            assigned_start = find_from(p, b"Assigned");
        }
        UsageColumns {
            use_end,
            req_end,
            alloc_end,
            assigned_start,
        }
    }

    fn row(&self, line: &str) -> Option<UsageRow> {
        self.row_by_mask(line)
            .unwrap_or_else(|| self.row_by_cutting(line))
    }

    /// The row as HTCondor's reader cuts it (the reading of record): blanks skipped, the
    /// resource name up to a space or `:`, then each column's range of the text after the
    /// `:`, trimmed. `None` if there is no `:`.
    fn row_by_cutting(&self, line: &str) -> Option<UsageRow> {
        let lead = line
            .bytes()
            .position(|c| c != b'\t' && c != b' ')
            .unwrap_or(line.len());
        // Only ASCII bytes were skipped: a char boundary.
        let t = &line[lead..];
        let b = t.as_bytes();
        let name_end = b
            .iter()
            .position(|&c| c == b' ' || c == b':')
            .unwrap_or(b.len());
        let colon = memchr::memchr(b':', &b[name_end..])? + name_end;
        let table = &t[colon + 1..];
        let cell = |from: usize, to: Option<usize>| -> Option<Value> {
            let from = from.min(table.len());
            let to = to.unwrap_or(table.len()).min(table.len()).max(from);
            let text = trim_blank(table.get(from..to)?);
            (!text.is_empty()).then(|| Value::parse_classad(text))
        };
        Some(UsageRow {
            resource: resource_name(&t[..name_end]),
            usage: cell(0, Some(self.use_end)),
            request: cell(self.use_end, Some(self.req_end)),
            allocated: self.alloc_end.and_then(|end| cell(self.req_end, Some(end))),
            assigned: self.assigned_start.and_then(|start| cell(start, None)),
        })
    }

    /// [`UsageColumns::row_by_cutting`] from bit masks of the line's spaces, tabs and colons,
    /// found in one pass: the name ends at the first space or colon after the lead, and a
    /// cell is its column's range of the non-blank mask, from its lowest bit to its highest.
    /// Tabs and spaces are the blanks either way. `None` (the caller cuts) for a line of more
    /// than 64 bytes, or holding a byte outside ASCII or a control character other than a tab.
    fn row_by_mask(&self, line: &str) -> Option<Option<UsageRow>> {
        let b = line.as_bytes();
        let len = b.len();
        if len > 64 {
            return None;
        }
        // Padding with spaces adds no name byte, no colon and no cell.
        let mut word = [b' '; 64];
        word[..len].copy_from_slice(b);
        let LineMasks { space, tab, colon } = line_masks(&word)?;
        let blank = space | tab;
        let lead = (!blank).trailing_zeros() as usize;
        if lead >= len {
            return Some(None);
        }
        let name_end = (((space | colon) >> lead).trailing_zeros() as usize + lead).min(len);
        let colons = colon & u64::MAX.checked_shl(name_end as u32).unwrap_or(0);
        if colons == 0 {
            return Some(None);
        }
        let table = colons.trailing_zeros() as usize + 1;
        let text = !blank;
        let cell = |from: usize, to: usize| -> Option<Value> {
            let (from, to) = ((table + from).min(len), table.saturating_add(to).min(len));
            if from >= to {
                return None;
            }
            // Bits from..to of the mask.
            let span = (u64::MAX >> (64 - (to - from))) << from;
            let m = text & span;
            if m == 0 {
                return None;
            }
            let (s, e) = (m.trailing_zeros() as usize, 64 - m.leading_zeros() as usize);
            Some(Value::parse_classad(&line[s..e]))
        };
        Some(Some(UsageRow {
            resource: resource_name(&line[lead..name_end]),
            usage: cell(0, self.use_end),
            request: cell(self.use_end, self.req_end),
            allocated: self.alloc_end.and_then(|end| cell(self.req_end, end)),
            assigned: self
                .assigned_start
                .and_then(|start| cell(start, usize::MAX)),
        }))
    }
}

/// Where a 64-byte word has spaces, tabs and colons, bit `k` for `word[k]`.
struct LineMasks {
    space: u64,
    tab: u64,
    colon: u64,
}

/// `None` if a byte of `word` is a control character other than a tab, or outside ASCII.
#[inline]
fn line_masks(word: &[u8; 64]) -> Option<LineMasks> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; the four unaligned 16-byte loads read `word`.
        let (space, tab, colon, low) = unsafe {
            let bits = |v, c: u8, k: usize| {
                u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u16)
                    << (16 * k)
            };
            // Signed: bytes outside ASCII are negative, so below `!` as well.
            let bang = _mm_set1_epi8(b'!' as i8);
            let (mut space, mut tab, mut colon, mut low) = (0u64, 0u64, 0u64, 0u64);
            for k in 0..4 {
                let v = _mm_loadu_si128(word.as_ptr().add(16 * k).cast());
                space |= bits(v, b' ', k);
                tab |= bits(v, b'\t', k);
                colon |= bits(v, b':', k);
                low |= u64::from(_mm_movemask_epi8(_mm_cmplt_epi8(v, bang)) as u16) << (16 * k);
            }
            (space, tab, colon, low)
        };
        (low == space | tab).then_some(LineMasks { space, tab, colon })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = word;
        None
    }
}

/// `str::trim_ascii` for the cells of a usage table, which are mostly blanks: runs of spaces
/// are skipped eight bytes at a time.
fn trim_blank(text: &str) -> &str {
    const BLANKS: u64 = u64::from_ne_bytes([b' '; 8]);
    let b = text.as_bytes();
    let mut start = 0;
    while let Some(chunk) = b.get(start..start + 8) {
        // Little-endian: the first byte is the lowest; zero bytes of `x` are spaces.
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default()) ^ BLANKS;
        if x != 0 {
            start += (x.trailing_zeros() / 8) as usize;
            break;
        }
        start += 8;
    }
    // Only ASCII spaces were skipped, so `start` is a char boundary.
    text[start..].trim_ascii()
}

/// A usage table's resource name; the ones every table has need no copy.
fn resource_name(name: &str) -> Cow<'static, str> {
    // A `match` compares lengths first and each name as a few integer loads.
    Cow::Borrowed(match name {
        "Cpus" => "Cpus",
        "Disk" => "Disk",
        "GPUs" => "GPUs",
        "Memory" => "Memory",
        "TimeExecute" => "TimeExecute",
        "TimeSlotBusy" => "TimeSlotBusy",
        _ => return Cow::Owned(name.to_string()),
    })
}

/// Reads optional byte lines and an optional usage table, stopping at anything else.
fn bytes_and_usage(body: &mut Body, r: &mut Rusage) -> Vec<UsageRow> {
    let mut usage = Vec::new();
    let mut columns: Option<UsageColumns> = None;
    while let Some(line) = body.peek() {
        if let Some(cols) = &columns {
            match cols.row(line) {
                Some(row) if line.starts_with(['\t', ' ']) => {
                    usage.push(row);
                    body.take();
                    continue;
                }
                _ => break,
            }
        }
        let t = line.trim_ascii_start();
        if t.starts_with("Partitionable ") || t.starts_with("Resources") {
            columns = Some(UsageColumns::of_header(line));
            body.take();
            // At most one row per line left: one allocation instead of a growing vector.
            usage.reserve_exact(body.lines.len() - body.next);
            continue;
        }
        match bytes_line(line) {
            Some((v, label)) if set_bytes(r, v, label) => {
                body.take();
            }
            _ => break,
        }
    }
    usage
}

/// `Name = value` lines (028 payloads, unknown events).
fn attr_line(line: &str) -> Option<(String, Value)> {
    let (name, value) = attr_parts(line)?;
    Some((name.to_string(), Value::parse_classad(value)))
}

/// An execute event's slot property: an attribute line, the names every slot has borrowed.
fn slot_property(line: &str) -> Option<(Cow<'static, str>, Value)> {
    // The names every slot has, as HTCondor writes them (`Name = value`): recognised by
    // their first byte and compared whole, without walking the name.
    let t = line.trim_ascii_start();
    let known = match t.as_bytes().first() {
        Some(b'C') => ["CondorScratchDir = ", "Cpus = "]
            .into_iter()
            .find(|p| t.starts_with(p)),
        Some(b'D') => Some("Disk = ").filter(|p| t.starts_with(p)),
        Some(b'G') => Some("GPUs = ").filter(|p| t.starts_with(p)),
        Some(b'M') => Some("Memory = ").filter(|p| t.starts_with(p)),
        _ => None,
    };
    if let Some(prefix) = known {
        let name = &prefix[..prefix.len() - 3];
        return Some((
            Cow::Borrowed(name),
            Value::parse_classad(t[prefix.len()..].trim_ascii()),
        ));
    }
    slot_property_by_parts(line)
}

/// [`slot_property`] from [`attr_parts`] (the reading of record).
fn slot_property_by_parts(line: &str) -> Option<(Cow<'static, str>, Value)> {
    let (name, value) = attr_parts(line)?;
    let name = match name {
        "CondorScratchDir" => Cow::Borrowed("CondorScratchDir"),
        "Cpus" => Cow::Borrowed("Cpus"),
        "Disk" => Cow::Borrowed("Disk"),
        "GPUs" => Cow::Borrowed("GPUs"),
        "Memory" => Cow::Borrowed("Memory"),
        other => Cow::Owned(other.to_string()),
    };
    Some((name, Value::parse_classad(value)))
}

/// The name and the trimmed value text of a `Name = value` line.
fn attr_parts(line: &str) -> Option<(&str, &str)> {
    // One pass: blanks, a name, blanks, `=`. Anything else before the first `=` would have
    // put a byte no name may hold into the name.
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    while i < b.len() && NAME_BYTE[usize::from(b[i])] {
        i += 1;
    }
    let end = i;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    if start == end || b.get(i) != Some(&b'=') {
        return None;
    }
    // Cut at ASCII bytes, so at char boundaries. Trimmed at both ends, the value takes
    // parse_classad's no-trim path.
    Some((&line[start..end], line[i + 1..].trim_ascii()))
}

/// Bytes an attribute name may hold (ASCII letters, digits, `_`, `.`): one table lookup per
/// byte instead of four comparisons.
static NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
        b += 1;
    }
    table
};

fn optional_text(body: &mut Body) -> Option<String> {
    body.peek()
        .map(str::trim_ascii)
        .filter(|l| !l.is_empty())
        .map(|l| {
            body.take();
            l.to_string()
        })
}

fn title_rest<'a>(title: &'a str, prefix: &str) -> Option<&'a str> {
    title.strip_prefix(prefix).map(str::trim_ascii)
}

/// Parses the body of an event of the given number. `lines` excludes the header line and
/// the `...` terminator; `title` is the header's text after the time.
pub fn parse_body(number: u16, title: &str, lines: &[&str]) -> Result<EventBody, BodyError> {
    let mut body = Body { lines, next: 0 };
    let expect_title = |prefix: &str| -> Result<(), BodyError> {
        if title.starts_with(prefix) {
            Ok(())
        } else {
            err(0, format!("the title `{prefix}`"))
        }
    };
    let Some(kind) = EventType::from_number(number) else {
        return Ok(other(title, lines));
    };
    use EventType as T;
    Ok(match kind {
        T::Submit => {
            let Some(host) = title_rest(title, "Job submitted from host:") else {
                return err(0, "the title `Job submitted from host: <addr>`");
            };
            let mut notes = body
                .rest()
                .iter()
                .map(|l| l.trim_ascii())
                .filter(|l| !l.is_empty());
            let mut log_notes = None;
            let mut user_notes = None;
            let mut warnings = None;
            for note in notes.by_ref() {
                if let Some(w) = note.strip_prefix("WARNING: Committed job submission into the queue with the following warning(s): ") {
                    warnings = Some(w.to_string());
                } else if log_notes.is_none() && user_notes.is_none() {
                    log_notes = Some(note.to_string());
                } else if user_notes.is_none() {
                    user_notes = Some(note.to_string());
                }
            }
            EventBody::Submit(Submit {
                host: host.to_string(),
                log_notes,
                user_notes,
                warnings,
            })
        }
        T::ClusterSubmit => {
            let Some(host) = title_rest(title, "Cluster submitted from host:") else {
                return err(0, "the title `Cluster submitted from host: <addr>`");
            };
            EventBody::ClusterSubmit {
                host: host.to_string(),
            }
        }
        T::Execute | T::NodeExecute => {
            let (node, host) = if kind == T::Execute {
                let Some(host) = title_rest(title, "Job executing on host:") else {
                    return err(0, "the title `Job executing on host: <addr>`");
                };
                (None, host)
            } else {
                let Some((node, host)) = title
                    .strip_prefix("Node ")
                    .and_then(|r| r.split_once(" executing on host:"))
                else {
                    return err(0, "the title `Node N executing on host: <addr>`");
                };
                let Ok(node) = node.trim_ascii().parse() else {
                    return err(0, "a node number");
                };
                (Some(node), host.trim_ascii())
            };
            let mut slot_name = None;
            let mut props = Vec::with_capacity(lines.len());
            for line in body.rest() {
                if let Some(name) = line.trim_ascii_start().strip_prefix("SlotName:") {
                    slot_name = Some(name.trim_ascii().trim_matches('"').to_string());
                } else if let Some(attr) = slot_property(line) {
                    props.push(attr);
                }
            }
            EventBody::Execute(Execute {
                host: host.to_string(),
                slot_name,
                props,
                node,
            })
        }
        T::ExecutableError => {
            let at = body.at();
            match body.take().and_then(paren_flag) {
                Some((error_type, _)) => EventBody::ExecutableError { error_type },
                None => match paren_flag(title) {
                    Some((error_type, _)) => EventBody::ExecutableError { error_type },
                    None => return err(at, "an error line `(N) text`"),
                },
            }
        }
        T::JobEvicted => {
            const EVICTED: &str = "Job was evicted.";
            expect_title(EVICTED)?;
            // `Code C Subcode S` follows the title only when the writer gave a vacate code.
            let extra = &title[EVICTED.len()..];
            let code = find(extra, "Code ").and_then(|p| number_in(&extra[p..], "Code "));
            let subcode = find(extra, "Subcode ").and_then(|p| number_in(&extra[p..], "Subcode "));
            let at = body.at();
            let Some((flag, what)) = body.take().and_then(paren_flag) else {
                return err(
                    at,
                    "a line `(0) Job was not checkpointed.` or `(1) Job was checkpointed.`",
                );
            };
            let terminated_and_requeued = what.starts_with("Job terminated and was requeued");
            let mut rusage = Rusage::default();
            for _ in 0..2 {
                let at = body.at();
                match body.take().and_then(rusage_line) {
                    Some((text, label)) if set_rusage(&mut rusage, text, label) => {}
                    _ => {
                        return err(
                            at,
                            "a usage line `Usr D HH:MM:SS, Sys D HH:MM:SS  -  Run Remote Usage`",
                        );
                    }
                }
            }
            let mut usage = bytes_and_usage(&mut body, &mut rusage);
            let mut requeued = None;
            if terminated_and_requeued && body.peek().is_some_and(|l| paren_flag(l).is_some()) {
                requeued = Some(termination(&mut body)?);
            }
            let mut reason = None;
            if let Some(l) = body.peek() {
                let t = l.trim_ascii();
                if !t.is_empty() && !t.starts_with("Partitionable ") {
                    reason = Some(t.strip_prefix("Reason: ").unwrap_or(t).to_string());
                    body.take();
                }
            }
            if usage.is_empty() {
                usage = bytes_and_usage(&mut body, &mut rusage);
            }
            EventBody::Evicted(Box::new(Evicted {
                checkpointed: flag != 0 && !terminated_and_requeued,
                requeued,
                terminated_and_requeued,
                reason,
                code,
                subcode,
                rusage,
                usage,
            }))
        }
        T::JobTerminated | T::NodeTerminated => {
            let node = if kind == T::JobTerminated {
                expect_title("Job terminated.")?;
                None
            } else {
                match title
                    .strip_prefix("Node ")
                    .and_then(|r| r.split_once(" terminated."))
                {
                    Some((n, _)) => n.trim_ascii().parse().ok(),
                    None => return err(0, "the title `Node N terminated.`"),
                }
            };
            let term = termination(&mut body)?;
            let mut rusage = Rusage::default();
            for _ in 0..4 {
                let at = body.at();
                match body.take().and_then(rusage_line) {
                    Some((text, label)) if set_rusage(&mut rusage, text, label) => {}
                    _ => {
                        return err(
                            at,
                            "a usage line `Usr D HH:MM:SS, Sys D HH:MM:SS  -  <label>`",
                        );
                    }
                }
            }
            let usage = bytes_and_usage(&mut body, &mut rusage);
            EventBody::Terminated(Box::new(Terminated {
                termination: term,
                rusage,
                usage,
                node,
            }))
        }
        T::ImageSize => {
            let Some(size) =
                title_rest(title, "Image size of job updated:").and_then(|s| s.parse::<i64>().ok())
            else {
                return err(0, "the title `Image size of job updated: N`");
            };
            let mut ev = ImageSize {
                size_kb: size,
                memory_usage_mb: None,
                resident_set_size_kb: None,
                proportional_set_size_kb: None,
            };
            while let Some(line) = body.peek() {
                let Some((value, label)) = bytes_line(line) else {
                    break;
                };
                // The word before the first space names the value, in any case; as HTCondor
                // writes it (`MemoryUsage of job (MB)`) it is known by one comparison.
                let written = |name: &str| {
                    label
                        .strip_prefix(name)
                        .is_some_and(|r| r.is_empty() || r.starts_with(' '))
                };
                let is = |name: &str| {
                    written(name)
                        || label[..byte_at(label, b' ').unwrap_or(label.len())]
                            .eq_ignore_ascii_case(name)
                };
                let slot = if is("MemoryUsage") {
                    &mut ev.memory_usage_mb
                } else if is("ResidentSetSize") {
                    &mut ev.resident_set_size_kb
                } else if is("ProportionalSetSize") {
                    &mut ev.proportional_set_size_kb
                } else {
                    break;
                };
                *slot = Some(value as i64);
                body.take();
            }
            EventBody::ImageSize(ev)
        }
        T::ShadowException => {
            expect_title("Shadow exception!")?;
            let message = body
                .take()
                .map(|l| l.trim_ascii().to_string())
                .unwrap_or_default();
            let mut r = Rusage::default();
            bytes_and_usage(&mut body, &mut r);
            EventBody::ShadowException {
                message,
                sent_bytes: r.sent_bytes,
                received_bytes: r.received_bytes,
            }
        }
        T::Generic => EventBody::Generic {
            info: title.to_string(),
        },
        T::JobAborted => {
            expect_title("Job was aborted")?;
            let reason = body
                .peek()
                .map(str::trim_ascii)
                .filter(|l| !l.is_empty() && !l.starts_with("Job terminated by "))
                .map(str::to_string);
            EventBody::Aborted { reason }
        }
        T::JobSuspended => {
            expect_title("Job was suspended.")?;
            let at = body.at();
            match body
                .take()
                .and_then(|l| number_in(l.trim_ascii(), "Number of processes actually suspended: "))
            {
                Some(num_pids) => EventBody::Suspended { num_pids },
                None => return err(at, "`Number of processes actually suspended: N`"),
            }
        }
        T::JobHeld => {
            expect_title("Job was held.")?;
            let reason = body
                .take()
                .map(str::trim_ascii)
                .filter(|r| *r != "Reason unspecified")
                .map(str::to_string);
            let (mut code, mut subcode) = (0, 0);
            if let Some(line) = body.peek() {
                let t = line.trim_ascii();
                if let Some(c) = number_in(t, "Code ")
                    && let Some(p) = find(t, "Subcode ")
                {
                    code = c;
                    subcode = number_in(&t[p..], "Subcode ").unwrap_or(0);
                }
            }
            EventBody::Held(Held {
                reason,
                code,
                subcode,
            })
        }
        T::JobReleased => {
            expect_title("Job was released.")?;
            EventBody::Released {
                reason: optional_text(&mut body),
            }
        }
        T::PostScriptTerminated => {
            expect_title("POST Script terminated.")?;
            let term = termination(&mut body)?;
            let dag_node = body
                .rest()
                .iter()
                .find_map(|l| l.trim_ascii().strip_prefix("DAG Node: "))
                .map(|s| s.trim_ascii().to_string());
            EventBody::PostScriptTerminated {
                termination: term,
                dag_node,
            }
        }
        T::PreSkip => {
            let dag_node = body
                .rest()
                .iter()
                .find_map(|l| l.trim_ascii().strip_prefix("DAG Node: "))
                .map(|s| s.trim_ascii().to_string());
            EventBody::PreSkip { dag_node }
        }
        T::RemoteError => {
            let t = title.trim_ascii();
            let Some((kind_word, rest)) = split_at_first(t, " from ") else {
                return err(0, "the title `Error from <daemon> on <host>:`");
            };
            let rest = rest.trim_ascii().trim_end_matches(':');
            let (daemon, host) = match split_at_first(rest, " on ") {
                Some((d, h)) => (d.trim_ascii(), h.trim_ascii()),
                None => ("", rest),
            };
            let mut message = String::new();
            let (mut code, mut subcode) = (0, 0);
            for line in body.rest() {
                let l = line.strip_prefix('\t').unwrap_or(line);
                if let Some(c) = number_in(l.trim_ascii(), "Code ")
                    && let Some(p) = find(l, "Subcode ")
                {
                    code = c;
                    subcode = number_in(&l[p..], "Subcode ").unwrap_or(0);
                    break;
                }
                if !message.is_empty() {
                    message.push('\n');
                }
                message.push_str(l);
            }
            EventBody::RemoteError {
                critical: kind_word != "Warning" && kind_word != "Message",
                daemon: daemon.into(),
                host: host.into(),
                message,
                code,
                subcode,
            }
        }
        T::JobDisconnected => {
            let reason = body.take().map(str::trim_ascii).unwrap_or("").to_string();
            let target = body
                .take()
                .map(str::trim_ascii)
                .and_then(|l| l.strip_prefix("Trying to reconnect to "))
                .unwrap_or("");
            let (name, addr) = target.split_once(' ').unwrap_or((target, ""));
            EventBody::Disconnected {
                reason,
                startd_name: name.into(),
                startd_addr: addr.trim_ascii().into(),
            }
        }
        T::JobReconnected => {
            let name = title_rest(title, "Job reconnected to")
                .unwrap_or("")
                .to_string();
            let mut startd_addr = String::new();
            let mut starter_addr = String::new();
            for line in body.rest() {
                let t = line.trim_ascii();
                if let Some(a) = t.strip_prefix("startd address: ") {
                    startd_addr = a.trim_ascii().into();
                } else if let Some(a) = t.strip_prefix("starter address: ") {
                    starter_addr = a.trim_ascii().into();
                }
            }
            EventBody::Reconnected {
                startd_name: name,
                startd_addr,
                starter_addr,
            }
        }
        T::JobReconnectFailed => {
            let reason = body.take().map(str::trim_ascii).unwrap_or("").to_string();
            let name = body
                .take()
                .map(str::trim_ascii)
                .and_then(|l| l.strip_prefix("Can not reconnect to "))
                .map(|l| l.trim_end_matches(", rescheduling job").to_string())
                .unwrap_or_default();
            EventBody::ReconnectFailed {
                reason,
                startd_name: name,
            }
        }
        T::GridResourceUp | T::GridResourceDown => {
            let resource = body
                .rest()
                .iter()
                .find_map(|l| l.trim_ascii().strip_prefix("GridResource: "))
                .unwrap_or("")
                .trim_ascii()
                .to_string();
            EventBody::GridResource { resource }
        }
        T::GridSubmit => {
            let mut resource = String::new();
            let mut job_id = String::new();
            for line in body.rest() {
                let t = line.trim_ascii();
                if let Some(r) = t.strip_prefix("GridResource: ") {
                    resource = r.trim_ascii().into();
                } else if let Some(j) = t.strip_prefix("GridJobId: ") {
                    job_id = j.trim_ascii().into();
                }
            }
            EventBody::GridSubmit { resource, job_id }
        }
        T::JobAdInformation => EventBody::JobAdInformation {
            attrs: body.rest().iter().filter_map(|l| attr_line(l)).collect(),
        },
        T::AttributeUpdate => {
            let t = title.trim_ascii();
            if let Some(rest) = t.strip_prefix("Changing job attribute ") {
                let Some((attr, rest)) = rest.split_once(" from ") else {
                    return err(0, "`Changing job attribute A from X to Y`");
                };
                let (old, new) = rest.rsplit_once(" to ").unwrap_or((rest, ""));
                EventBody::AttributeUpdate {
                    attribute: attr.into(),
                    old_value: Some(old.into()),
                    value: new.into(),
                }
            } else if let Some(rest) = t.strip_prefix("Setting job attribute ") {
                let (attr, new) = rest.split_once(" to ").unwrap_or((rest, ""));
                EventBody::AttributeUpdate {
                    attribute: attr.into(),
                    old_value: None,
                    value: new.into(),
                }
            } else {
                return err(
                    0,
                    "`Changing job attribute ...` or `Setting job attribute ...`",
                );
            }
        }
        T::ClusterRemove => {
            let (mut next_proc, mut next_row, mut completion, mut notes) = (0, 0, 0, None);
            for line in body.rest() {
                let t = line.trim_ascii();
                if let Some(rest) = t.strip_prefix("Materialized ") {
                    next_proc = number_in(rest, "").unwrap_or(0);
                    if let Some(p) = rest.find(" from ") {
                        next_row = number_in(&rest[p + 6..], "").unwrap_or(0);
                    }
                    completion = if rest.contains("Complete") {
                        1
                    } else if rest.contains("Paused") {
                        2
                    } else if let Some(p) = rest.find("Error ") {
                        number_in(&rest[p + 6..], "").unwrap_or(-1)
                    } else {
                        0
                    };
                } else if !t.is_empty() {
                    notes = Some(t.to_string());
                }
            }
            EventBody::ClusterRemove {
                next_proc,
                next_row,
                completion,
                notes,
            }
        }
        T::FileTransfer => {
            let t = title.trim_ascii();
            let Some(i) = FILE_TRANSFER_TITLES.iter().position(|x| *x == t) else {
                return err(
                    0,
                    "a file-transfer title such as `Started transferring input files`",
                );
            };
            let kind = FileTransferKind::from_number(i as i64 + 1).expect("six kinds");
            let mut queueing_delay = None;
            let mut host = None;
            for line in body.rest() {
                let l = line.trim_ascii();
                if let Some(s) = l.strip_prefix("Seconds spent in queue: ") {
                    queueing_delay = s.trim_ascii().parse().ok();
                } else if let Some(h) = l.strip_prefix("Transferring to host: ") {
                    host = Some(h.trim_ascii().to_string());
                }
            }
            EventBody::FileTransfer {
                kind,
                queueing_delay,
                host,
            }
        }
        _ => other(title, lines),
    })
}

fn other(title: &str, lines: &[&str]) -> EventBody {
    EventBody::Other {
        head: title.trim_ascii_end().to_string(),
        lines: lines.iter().map(|l| l.to_string()).collect(),
        attrs: lines.iter().filter_map(|l| attr_line(l)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded xorshift generator: `next(n)` is a number below `n`, the same every run.
    fn xorshift(mut state: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }

    #[test]
    fn header_forms() {
        let h = parse_header("012 (17219110.000.000) 2024-05-26 15:13:42 Job was held.").unwrap();
        assert_eq!(
            (h.number, h.id.cluster, h.id.proc, h.title),
            (12, 17219110, 0, "Job was held.")
        );
        let h = parse_header("036 (15004600.-01.000) 03/26 08:30:19.250Z Cluster removed").unwrap();
        assert_eq!((h.id.proc, h.time.year, h.time.utc), (-1, None, true));
        let h = parse_header("041 (1.0.0) 2024-01-01 00:00:00 ").unwrap();
        assert_eq!(h.title, "");
        assert_eq!(
            parse_header("12 (1.0.0) 2024-01-01 00:00:00 x").unwrap_err(),
            "a three-digit event number"
        );
        assert_eq!(
            parse_header("012 (1.0) 2024-01-01 00:00:00 x").unwrap_err(),
            "a job id `(cluster.proc.subproc)`"
        );
        assert_eq!(
            parse_header("012 (1.0.0) 2024/01/01 00:00:00 x").unwrap_err(),
            "a date `YYYY-MM-DD` or `MM/DD`"
        );
    }

    #[test]
    fn common_headers_read_as_nom_reads_them() {
        let lines = [
            "012 (17219110.000.000) 2024-05-26 15:13:42 Job was held.",
            "000 (1.2.3) 2024-05-26 15:13:42 ",
            "000 (1.2.3) 2024-05-26 15:13:42",
            "000 (1.2.3) 2024-05-26 15:13:42x",
            "000 (1.2.3) 2024-05-26 24:13:42 x",
            "000 (1.2.3) 2024-05-26 23:60:42 x",
            "000 (1.2.3) 2024-05-26 23:59:60 x",
            "000 (1.2.3) 2024-13-26 23:59:59 x",
            "000 (1.2.3) 2024-12-32 23:59:59 x",
            "000 (1.2.3) 2024-12-00 23:59:59 x",
            "000 (1.-1.3) 2024-12-01 23:59:59 x",
            "000 (1..3) 2024-12-01 23:59:59 x",
            "000 (1.2.3 2024-12-01 23:59:59 x",
            "000 (99999999999999999999.2.3) 2024-12-01 23:59:59 x",
            "000 (999999999999999999.2.3) 2024-12-01 23:59:59 x",
            "000 (1.2.3) 2024-12-01T23:59:59 x",
            "000 (1.2.3) 2024-12-01 23:59:59.5 x",
            "000 (1.2.3) 2024-12-01 23:59:59Z x",
            "000 (1.2.3) 2024-12-01 23:59:59+01:00 x",
            "000 (1.2.3) 12/01 23:59:59 x",
            "0a0 (1.2.3) 2024-12-01 23:59:59 x",
            "000 (1.2.3) 2o24-12-01 23:59:59 x",
            "000 (1.2.3) 2024-12-01 23:59:59 \u{e9}t\u{e9}",
            "000 (1.2.3)  2024-12-01 23:59:59 x",
        ];
        // The same lines with proc and subproc padded as HTCondor writes them, for the
        // fixed-offset reader, and a few more breakages at its fixed offsets.
        let padded: Vec<String> = lines
            .iter()
            .map(|l| {
                l.replace(".2.3)", ".002.003)")
                    .replace(".-1.3)", ".-01.003)")
            })
            .chain(
                [
                    "000 (1.000.000)_2024-12-01 23:59:59 x",
                    "000 (1.000.000) 2024-12-01 23:59:5",
                    "000 (1.000.0000) 2024-12-01 23:59:59 x",
                    "000 (1.00.0000) 2024-12-01 23:59:59 x",
                    "000 (1.0a0.000) 2024-12-01 23:59:59 x",
                    "000 (1.000.000) 2024/12/01 23:59:59 x",
                    "000 (1.000.000) 2024-12-01 23-59-59 x",
                    "000 (1.000.000) 2024-12-01 2:59:59 x",
                    "000 (.000.000) 2024-12-01 23:59:59 x",
                    "999 (1.000.000) 2024-02-31 23:59:59 x",
                    "00 (1.000.000) 2024-12-01 23:59:59 x",
                ]
                .map(String::from),
            )
            .collect();
        for line in lines
            .iter()
            .copied()
            .chain(padded.iter().map(String::as_str))
        {
            let nom = parse_header_nom(line);
            if let Some(fast) = common_header(line) {
                assert_eq!(Ok(fast), nom, "{line}");
            }
            if let Some(fast) = padded_header(line) {
                assert_eq!(Ok(fast), nom, "{line}");
            }
            assert_eq!(parse_header(line), nom, "{line}");
        }
        assert!(common_header(lines[0]).is_some());
        assert!(padded_header(lines[0]).is_some());
        assert!(padded_header(&padded[0]).is_some());
        assert!(padded_header("000 (1.000.000) 2024-12-01 23:59:59").is_some());
    }

    #[test]
    fn padded_headers_with_any_byte_changed_read_as_nom_reads_them() {
        let bases = [
            "012 (17219110.000.000) 2024-05-26 15:13:42 Job was held.",
            "000 (1.123.456) 1999-12-31 23:59:59",
            "040 (42.009.090) 2026-02-28 00:00:00 Started transferring input files",
        ];
        // Bytes next to digits and separators in ASCII, and the ones that carry when 6 is added.
        let replacements = b"0159/:;.-) (aZ\t\xfa\xff";
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let (mut fast, mut tried) = (0, 0);
        for round in 0..30_000 {
            let mut line = bases[round % bases.len()].as_bytes().to_vec();
            for _ in 0..1 + next(2) {
                let at = next(line.len().min(45));
                line[at] = replacements[next(replacements.len())];
            }
            let Ok(line) = String::from_utf8(line) else {
                continue;
            };
            tried += 1;
            if let Some(h) = padded_header(&line) {
                assert_eq!(Ok(h), parse_header_nom(&line), "{line:?}");
                fast += 1;
            }
            assert_eq!(parse_header(&line), parse_header_nom(&line), "{line:?}");
        }
        // Many changed lines are still valid padded headers (a digit for a digit).
        assert!(tried > 20_000 && fast > 3_000, "{tried} {fast}");
    }

    #[test]
    fn digits_read_as_a_word_as_the_loop_reads_them() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let others = b"./:) a\x00\xff\xc6\x8a\x89\x39\x30";
        for _ in 0..20_000 {
            let mut b: Vec<u8> = (0..next(4)).map(|_| b'x').collect();
            let from = b.len();
            b.extend((0..next(21)).map(|_| b'0' + next(10) as u8));
            b.extend((0..next(12)).map(|_| others[next(others.len())]));
            assert_eq!(word_digits(&b, from), digits(&b, from), "{b:?} from {from}");
        }
        assert_eq!(word_digits(b"(1234567.000", 1), Some((1_234_567, 8)));
        assert_eq!(word_digits(b"(17219110.000", 1), Some((17_219_110, 9)));
        assert_eq!(word_digits(b"(.000.000)", 1), None);
    }

    #[test]
    fn attribute_lines_read_as_trim_and_split_reads_them() {
        // The definition the one-pass reader must agree with.
        fn by_trimming(line: &str) -> Option<(String, Value)> {
            let t = line.trim_ascii();
            let eq = t.find('=')?;
            let name = t[..eq].trim_ascii();
            let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
            if name.is_empty() || !name.bytes().all(ok) {
                return None;
            }
            Some((
                name.to_string(),
                Value::parse_classad(t[eq + 1..].trim_ascii()),
            ))
        }
        let lines = [
            "\tCpus = 1",
            "Cpus=1",
            "  My.Attr_2   =   \"x = y\"  ",
            "\t= 1",
            "\tA B = 1",
            "\tA-B = 1",
            "\tA =",
            "\tA",
            "",
            "\t\u{e9} = 1",
            "\tA\u{e9} = 1",
            "\tA = \u{e9}t\u{e9} ",
            "\tA\x0c= 2\r",
            "\tA == 2",
        ];
        for line in lines.into_iter().chain([
            "\tCpus = 2",
            "  GPUs=0",
            "\tMemory = 1024 ",
            "\tGLIDEIN_Site = \"X\"",
        ]) {
            assert_eq!(attr_line(line), by_trimming(line), "{line:?}");
            let slot = slot_property(line).map(|(k, v)| (k.into_owned(), v));
            assert_eq!(slot, by_trimming(line), "{line:?}");
        }
        assert!(attr_line(lines[0]).is_some() && attr_line(lines[4]).is_none());
    }

    #[test]
    fn find_finds_what_a_substring_searcher_finds() {
        let cases = [
            ("Code 13 Subcode 2", "Subcode "),
            ("Code 13 Subcode 2", "Code "),
            ("SubSubcode 2", "Subcode "),
            ("Subcode", "Subcode "),
            ("", "x"),
            ("abc", ""),
            ("\u{e9}t\u{e9} from x", " from "),
            ("aaab", "aab"),
            ("on on ", " on "),
        ];
        for (h, n) in cases {
            assert_eq!(find(h, n), h.find(n), "{h:?} {n:?}");
        }
    }

    #[test]
    fn usage_and_byte_lines_read_in_place_as_by_search() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let leads = ["\t", "\t\t", "", " "];
        let usages = [
            NO_USAGE,
            "Usr 1 02:03:04, Sys 0 00:00:01",
            "Usr 0 00:00:00, Sys 0 00:00:0",
        ];
        let numbers = [
            "0",
            "25",
            "007",
            "999999999999999",
            "9999999999999999",
            "-3",
            "1.5",
            "",
        ];
        let seps = ["  -  ", " -  ", "  - ", "  -  -  ", "   -   "];
        let labels = [
            "Run Remote Usage",
            "Total Bytes Sent By Job",
            " x ",
            "",
            "a  -  b",
        ];
        let (mut usage_fast, mut bytes_fast) = (0, 0);
        for _ in 0..20_000 {
            let (lead, sep, label) = (
                leads[next(leads.len())],
                seps[next(seps.len())],
                labels[next(labels.len())],
            );
            let line = format!("{lead}{}{sep}{label}", usages[next(usages.len())]);
            assert_eq!(rusage_line(&line), rusage_line_by_search(&line), "{line:?}");
            usage_fast += usize::from(line.trim_ascii_start().starts_with(NO_USAGE_DASH));
            let line = format!("{lead}{}{sep}{label}", numbers[next(numbers.len())]);
            assert_eq!(bytes_line(&line), bytes_line_by_search(&line), "{line:?}");
            bytes_fast += usize::from(
                sep == "  -  "
                    && line
                        .trim_ascii_start()
                        .starts_with(|c: char| c.is_ascii_digit()),
            );
        }
        assert!(
            usage_fast > 1_000 && bytes_fast > 1_000,
            "{usage_fast} {bytes_fast}"
        );
        assert_eq!(
            bytes_line("\t160  -  Run Bytes Received By Job"),
            Some((160.0, "Run Bytes Received By Job"))
        );
        assert_eq!(
            rusage_line("\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage"),
            Some((NO_USAGE, "Run Local Usage"))
        );
    }

    #[test]
    fn slot_properties_by_known_name_are_read_as_by_parts() {
        let lines = [
            "\tCpus = 1",
            "\tCondorScratchDir = \"/var/lib/condor/execute/dir_24438\"",
            "Disk = 11264",
            "  GPUs =  0 ",
            "\tMemory = 128",
            "\tMemory = ",
            "\tMemory =",
            "\tMemoryX = 1",
            "\tCpus  = 1",
            "\tCpus= 1",
            "\tCpusExtra = 2",
            "\tC = 1",
            "\tDisk = \"x y\"",
            "\tGPUs = 1 + 2",
            "\tOther = 3",
            "\tSlotName: slot1@vm",
            "",
        ];
        for line in lines {
            assert_eq!(
                slot_property(line),
                slot_property_by_parts(line),
                "{line:?}"
            );
        }
        assert_eq!(
            slot_property("\tMemory = 128"),
            Some((Cow::Borrowed("Memory"), Value::Int(128)))
        );
    }

    #[test]
    fn the_usual_usage_header_has_the_columns_its_reading_gives() {
        let usual = UsageColumns::USUAL_HEADER;
        assert_eq!(UsageColumns::from_header(usual), UsageColumns::USUAL);
        assert_eq!(UsageColumns::of_header(usual), UsageColumns::USUAL);
        let bare = usual.trim_end();
        assert_eq!(UsageColumns::from_header(bare), UsageColumns::USUAL);
        assert_eq!(UsageColumns::of_header(bare), UsageColumns::USUAL);
        for other in [
            "\tPartitionable Resources :    Usage  Request Allocated Assigned",
            "\tPartitionable Resources :    Usage  Request          ",
            "\tPartitionable Resources :    Usage  Request Allocate",
            "\tPartitionable Resources :    Usage  Request Allocated  ",
            "\tResources :    Usage  Request Allocated ",
        ] {
            assert_eq!(
                UsageColumns::of_header(other),
                UsageColumns::from_header(other),
                "{other:?}"
            );
        }
    }

    #[test]
    fn usage_rows_by_mask_are_the_cut_and_trimmed_rows() {
        let headers = [
            "\tPartitionable Resources :    Usage  Request Allocated ",
            "\tPartitionable Resources :    Usage  Request Allocated     Assigned",
            "\tResources :    Usage  Request",
            "\tPartitionable Resources :  Usage Request Allocated Assigned",
        ];
        let leads = ["\t   ", "   ", "\t", "", " \t "];
        let names = [
            "Cpus",
            "Disk (KB)",
            "Memory (MB)",
            "TimeExecute (s)",
            "x:y",
            "",
            "Gpus",
        ];
        // Row text from a small alphabet, with blanks most likely, as in real tables.
        let alphabet = [
            " ", " ", " ", " ", "1", "0", "42", "x", ":", "\t", "\u{e9}", "-", "\r",
        ];
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let (mut masked, mut rows) = (0, 0);
        for round in 0..20_000 {
            let cols = UsageColumns::from_header(headers[round % headers.len()]);
            let mut line = String::from(leads[next(leads.len())]);
            line.push_str(names[next(names.len())]);
            line.push_str(&" ".repeat(next(20)));
            if next(8) != 0 {
                line.push(':');
            }
            // Half the rows from the first nine letters only: tables as HTCondor writes them.
            let letters = if round % 2 == 0 { 9 } else { alphabet.len() };
            let len = next(50);
            line.extend((0..len).map(|_| alphabet[next(letters)]));
            if let Some(row) = cols.row_by_mask(&line) {
                assert_eq!(row, cols.row_by_cutting(&line), "{line:?}");
                masked += 1;
                rows += usize::from(row.is_some());
            }
        }
        // Most lines took the mask (no control character but tabs, no non-ASCII byte, short)
        // and most of those were rows: both were tested.
        assert!(masked > 4_000 && rows > 3_000, "{masked} {rows}");
        let cols = UsageColumns::from_header(headers[0]);
        let line = "\t   Disk (KB)            :       10    10240     11264 ";
        let row = cols.row_by_mask(line).unwrap().unwrap();
        assert_eq!(Some(&row), cols.row_by_cutting(line).as_ref());
        assert_eq!(row.resource, "Disk");
        assert_eq!(row.usage, Some(Value::Int(10)));
        assert_eq!(row.request, Some(Value::Int(10240)));
        assert_eq!(row.allocated, Some(Value::Int(11264)));
        assert_eq!(row.assigned, None);
    }

    #[test]
    fn image_size_labels_are_read_by_their_first_word_in_any_case() {
        let body = |lines: &[&str]| match parse_body(6, "Image size of job updated: 7", lines) {
            Ok(EventBody::ImageSize(ev)) => (
                ev.memory_usage_mb,
                ev.resident_set_size_kb,
                ev.proportional_set_size_kb,
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            body(&[
                "\t5  -  MemoryUsage of job (MB)",
                "\t4604  -  ResidentSetSize of job (KB)",
                "\t99  -  ProportionalSetSize of job (KB)",
            ]),
            (Some(5), Some(4604), Some(99))
        );
        assert_eq!(
            body(&["\t5  -  memoryusage", "\t6  -  RESIDENTSETSIZE of job"]),
            (Some(5), Some(6), None)
        );
        // A longer word is another label: reading stops there.
        assert_eq!(
            body(&["\t5  -  MemoryUsageX of job", "\t6  -  ResidentSetSize"]),
            (None, None, None)
        );
    }

    #[test]
    fn held_body() {
        let b = parse_body(
            12,
            "Job was held.",
            &["\tReason unspecified", "\tCode 34 Subcode 102"],
        )
        .unwrap();
        assert_eq!(
            b,
            EventBody::Held(Held {
                reason: None,
                code: 34,
                subcode: 102
            })
        );
        let b = parse_body(12, "Job was held.", &["\tdisk full"]).unwrap();
        assert_eq!(
            b,
            EventBody::Held(Held {
                reason: Some("disk full".into()),
                code: 0,
                subcode: 0
            })
        );
    }

    #[test]
    fn byte_counts_read_as_the_float_parser_reads_them() {
        for number in [
            "0",
            "160",
            "-0",
            "-7",
            "+5",
            "1.5",
            "9007199254740993",
            "1e3",
        ] {
            let line = format!("\t{number}  -  Run Bytes Sent By Job");
            let (value, label) = bytes_line(&line).unwrap();
            let expected: f64 = number.parse().unwrap();
            assert_eq!(value.to_bits(), expected.to_bits(), "{number}");
            assert_eq!(label, "Run Bytes Sent By Job");
        }
        assert_eq!(bytes_line("\tabc  -  Run Bytes Sent By Job"), None);
    }

    #[test]
    fn usage_table_columns() {
        let lines = [
            "\t(1) Normal termination (return value 0)",
            "\t\tUsr 0 00:00:00, Sys 0 00:00:03  -  Run Remote Usage",
            "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage",
            "\t\tUsr 0 00:00:00, Sys 0 00:00:03  -  Total Remote Usage",
            "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Local Usage",
            "\t19765  -  Run Bytes Sent By Job",
            "\tPartitionable Resources :    Usage  Request Allocated",
            "\t   Cpus                 :                 1         1",
            "\t   Memory (MB)          :     0.50        1      3987 ",
        ];
        let EventBody::Terminated(t) = parse_body(5, "Job terminated.", &lines).unwrap() else {
            panic!()
        };
        assert_eq!(t.rusage.sent_bytes, Some(19765.0));
        assert_eq!(t.usage[0].resource, "Cpus");
        assert_eq!(t.usage[0].usage, None);
        assert_eq!(t.usage[0].request, Some(Value::Int(1)));
        assert_eq!(t.usage[1].usage, Some(Value::Real(0.5)));
        assert_eq!(t.usage[1].allocated, Some(Value::Int(3987)));
        assert_eq!(
            parse_body(5, "Job terminated.", &["\tgarbage"])
                .unwrap_err()
                .line,
            1
        );
    }
}
