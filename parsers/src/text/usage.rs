//! Termination and resource-usage bodies: the `(1) Normal termination` line, the Usr/Sys
//! rusage lines, byte counts and the partitionable-slot usage table.

use std::borrow::Cow;

use crate::event::*;
use crate::value::Value;

use super::*;

/// `(1) Normal termination (return value N)` / `(0) Abnormal termination (signal N)` and,
/// after an abnormal one, the core-file line.
pub(super) fn termination(body: &mut Body) -> Result<Termination, BodyError> {
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
pub(super) fn find_dash(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    memchr::memchr_iter(b'-', b)
        .find(|&i| i >= 2 && b[i - 2..i] == *b"  " && b.get(i + 1..i + 3) == Some(b"  "))
        .map(|i| i - 2)
}

/// A usage line of no usage at all, up to its label.
pub(super) const NO_USAGE_DASH: &str = "Usr 0 00:00:00, Sys 0 00:00:00  -  ";

/// `Usr D HH:MM:SS, Sys D HH:MM:SS  -  Label`: returns the usage text and the label.
pub(super) fn rusage_line(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_ascii_start();
    // No usage, as local usage nearly always reads: the separator's place is known.
    if let Some(label) = t.strip_prefix(NO_USAGE_DASH) {
        return Some((&t[..NO_USAGE.len()], label.trim_ascii()));
    }
    rusage_line_by_search(t)
}

/// [`rusage_line`] by looking for the separator (the reading of record).
pub(super) fn rusage_line_by_search(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_ascii_start();
    if !t.starts_with("Usr ") {
        return None;
    }
    let dash = find_dash(t)?;
    Some((t[..dash].trim_ascii_end(), t[dash + 5..].trim_ascii()))
}

/// `N  -  (Run|Total) Bytes (Sent|Received) By (Job|Node)`.
pub(super) fn bytes_line(line: &str) -> Option<(f64, &str)> {
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
pub(super) fn bytes_line_by_search(line: &str) -> Option<(f64, &str)> {
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

pub(super) fn set_bytes(r: &mut Rusage, value: f64, label: &str) -> bool {
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

pub(super) fn set_rusage(r: &mut Rusage, text: &str, label: &str) -> bool {
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
pub(super) struct UsageColumns {
    use_end: usize,
    req_end: usize,
    alloc_end: Option<usize>,
    assigned_start: Option<usize>,
}

impl UsageColumns {
    /// The columns of the header HTCondor writes above nearly every table (with or without
    /// its last space), known without reading it: `    Usage  Request Allocated `.
    pub(super) const USUAL: UsageColumns = UsageColumns {
        use_end: 10,
        req_end: 19,
        alloc_end: Some(28),
        assigned_start: None,
    };
    pub(super) const USUAL_HEADER: &str =
        "\tPartitionable Resources :    Usage  Request Allocated ";

    pub(super) fn of_header(line: &str) -> UsageColumns {
        match line.strip_suffix(' ').unwrap_or(line) {
            l if l.len() + 1 == Self::USUAL_HEADER.len() && Self::USUAL_HEADER.starts_with(l) => {
                Self::USUAL
            }
            _ => UsageColumns::from_header(line),
        }
    }

    pub(super) fn from_header(line: &str) -> UsageColumns {
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

    pub(super) fn row(&self, line: &str) -> Option<UsageRow> {
        self.row_by_mask(line)
            .unwrap_or_else(|| self.row_by_cutting(line))
    }

    /// The row as HTCondor's reader cuts it (the reading of record): blanks skipped, the
    /// resource name up to a space or `:`, then each column's range of the text after the
    /// `:`, trimmed. `None` if there is no `:`.
    pub(super) fn row_by_cutting(&self, line: &str) -> Option<UsageRow> {
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
    pub(super) fn row_by_mask(&self, line: &str) -> Option<Option<UsageRow>> {
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
pub(super) struct LineMasks {
    space: u64,
    tab: u64,
    colon: u64,
}

/// `None` if a byte of `word` is a control character other than a tab, or outside ASCII.
#[inline]
pub(super) fn line_masks(word: &[u8; 64]) -> Option<LineMasks> {
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
pub(super) fn trim_blank(text: &str) -> &str {
    pub(super) const BLANKS: u64 = u64::from_ne_bytes([b' '; 8]);
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
pub(super) fn resource_name(name: &str) -> Cow<'static, str> {
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
pub(super) fn bytes_and_usage(body: &mut Body, r: &mut Rusage) -> Vec<UsageRow> {
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
