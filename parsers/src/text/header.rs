//! Event header lines: `NNN (C.P.S) DATE TIME title`, read at fixed offsets where HTCondor
//! padded them and with nom otherwise.

use nom::bytes::complete::{tag, take_while_m_n};
use nom::character::complete::{char, digit1};
use nom::combinator::{map_res, opt, recognize};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::event::*;
use crate::time::{HeaderTime, parse_clock, parse_date};

/// A parsed header line.
#[derive(Debug, Clone, PartialEq)]
pub struct Header<'a> {
    pub number: u16,
    pub id: JobId,
    pub time: HeaderTime,
    /// The text after the time (the event's title), without the separating space.
    pub title: &'a str,
}

pub(super) fn signed_int(input: &str) -> IResult<&str, i64> {
    map_res(recognize(preceded(opt(char('-')), digit1)), |s: &str| {
        s.parse::<i64>()
    })
    .parse(input)
}

pub(super) fn event_number(input: &str) -> IResult<&str, u16> {
    map_res(
        take_while_m_n(3, 3, |c: char| c.is_ascii_digit()),
        |s: &str| s.parse::<u16>(),
    )
    .parse(input)
}

pub(super) fn job_id(input: &str) -> IResult<&str, JobId> {
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
pub(super) fn padded_header(line: &str) -> Option<Header<'_>> {
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
    pub(super) const W0: Layout = Layout::new(b".000.000");
    pub(super) const W1: Layout = Layout::new(b") 0000-0");
    pub(super) const W2: Layout = Layout::new(b"0-00 00:");
    pub(super) const W3: Layout = Layout::new(b"00:00:00");
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
pub(super) struct Layout {
    /// The template as a little-endian word.
    pattern: u64,
    /// 0xFF at the digits' bytes.
    digits: u64,
}

impl Layout {
    pub(super) const fn new(template: &[u8; 8]) -> Layout {
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
    pub(super) fn digit_values(self, word: u64) -> Option<u64> {
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
pub(super) fn pairs(x: u64) -> u64 {
    x.wrapping_mul(10).wrapping_add(x >> 8)
}

/// The end of both fast header readers, once the date ends at `line[end]`: an ISO header
/// time without zone, and the title after one space (or none at all).
#[inline(always)]
pub(super) fn dated_header(
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
pub(super) fn digits(b: &[u8], from: usize) -> Option<(i64, usize)> {
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
pub(super) fn word_digits(b: &[u8], from: usize) -> Option<(i64, usize)> {
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
    pub(super) const LOW: u64 = 0x0000_00FF_0000_00FF;
    v = ((v & LOW)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & LOW).wrapping_mul(1 + (10_000 << 32))))
        >> 32;
    Some((v as i64, from + len as usize))
}

pub(super) fn two(b: &[u8]) -> Option<u32> {
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
pub(super) fn common_header(line: &str) -> Option<Header<'_>> {
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
pub(super) fn parse_header_nom(line: &str) -> Result<Header<'_>, &'static str> {
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
