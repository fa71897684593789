//! The text event-log format: `NNN (C.P.S) DATE TIME title`, indented body lines, `...`.
//!
//! Header lines are parsed with nom (`header`); bodies follow the per-event layouts of
//! HTCondor's writer (`condor_event.cpp`), accepting what its reader accepts, with the
//! termination and resource-usage bodies in `usage`.

use std::borrow::Cow;

use crate::event::*;
use crate::event_type::{EventType, FILE_TRANSFER_TITLES};
use crate::value::Value;

mod header;
mod usage;

pub use header::*;
use usage::*;

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
