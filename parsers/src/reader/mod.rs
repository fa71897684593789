//! Streaming reader of event logs in any of HTCondor's three formats.
//!
//! Memory is bounded by the largest event (capped at [`MAX_EVENT_BYTES`]) plus one read
//! buffer and, for text, one batch of parsed events. Malformed input yields [`ParseError`]s
//! and reading resumes at the next event boundary. A last event without its terminator is
//! never returned half-read: it is kept as [`Incomplete`] and comes out whole once the writer
//! finishes it (follow mode).
//!
//! Text is parsed on every core the process may use: in batches of about 8 MB (32 MB when
//! only counting), cut at event boundaries into chunks that threads take in turn; the results
//! come out in file order and are exactly those of one thread (line numbers and legacy years
//! are fixed up in order). [`EventReader::open_mapped`] reads a file through a memory map
//! instead of copying it into one buffer; the threads parsing its batches copy their chunks
//! with `pread` instead, which costs the kernel less than mapping the pages.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Condvar, Mutex, mpsc};

use chrono::NaiveDateTime;
use memchr::memchr;

use crate::attrs::event_from_attrs;
use crate::error::ParseError;
use crate::event::{DateForm, Event, EventBody, Position};
use crate::event_type::EventCounts;
use crate::markup::{json_attrs, json_object_end, xml_attrs, xml_element_end};
use crate::newlines::Newlines;
use crate::text::{looks_like_header, parse_body, parse_header};
use crate::time::{DayCache, HeaderTime, YearResolver, Zone, resolve, resolve_with};

mod parallel;
use parallel::*;

/// What a header with an impossible date is reported as.
const BAD_DATE: &str = "a valid calendar date";

/// One event may not exceed this many bytes; a longer run is reported and skipped.
pub const MAX_EVENT_BYTES: usize = 64 << 20;
const READ_CHUNK: usize = 1 << 20;
/// Text is parsed in parallel in batches of about this many bytes, split at event boundaries
/// (less than an eighth of it left is parsed on the calling thread). The threads meet at the
/// end of every batch; at 2 MB that wait cost a two-core count of 537 MB about 5% of its time.
const BATCH: usize = 8 << 20;
/// The batch when only counting: counted events are dropped where they are parsed, so a
/// batch holds no events and may be larger, with fewer meetings (a two-core count of 537 MB,
/// twelve alternating runs: median 0.255 s at 8 MB, 0.237 s at 32 MB, 0.244 s at 64 MB).
const COUNT_BATCH: usize = 32 << 20;

/// The three formats HTCondor writes event logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Xml,
}

/// How to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The year of the first legacy `MM/DD` date (later ones roll over at New Year).
    /// Default: inferred from dated events and the file's modification time.
    pub year: Option<i32>,
    /// How to read times written without `Z`.
    pub zone: Zone,
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// The modification time used to infer legacy years (set by `open`).
    pub anchor: Option<NaiveDateTime>,
}

/// A trailing event that has no terminator yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incomplete {
    pub offset: u64,
    pub line: u64,
    pub bytes: u64,
}

/// Events counted instead of handed out (see [`EventReader::count_only`]): per event number,
/// of one job's or of all.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Only this ClusterId, and ProcId if given.
    pub job: Option<(i64, Option<i64>)>,
    pub counts: EventCounts,
}

impl Tally {
    fn add(&mut self, event: &Event) {
        if self.job.is_none_or(|(c, p)| event.id.is_of(c, p)) {
            self.counts.add(event.number);
        }
    }

    fn empty_like(&self) -> Tally {
        Tally {
            job: self.job,
            counts: EventCounts::default(),
        }
    }
}

/// The bytes being parsed: a buffer filled by reads, or a window onto a memory-mapped file.
enum Data {
    Buf(Vec<u8>),
    /// A chunk of the caller's bytes, in a parallel worker (see [`parse_piece`]).
    Borrowed(RawSlice),
    /// `map[..end]` is visible; `end` grows by `READ_CHUNK` per fill, as reads would, so a
    /// mapped file is read exactly as the same file through reads.
    Map {
        map: memmap2::Mmap,
        end: usize,
        file: File,
    },
}

impl Default for Data {
    fn default() -> Data {
        Data::Buf(Vec::new())
    }
}

impl Deref for Data {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Data::Buf(b) => b,
            // SAFETY: only `parse_piece` makes this, from a slice that outlives the reader.
            Data::Borrowed(raw) => unsafe { raw.get() },
            Data::Map { map, end, .. } => &map[..*end],
        }
    }
}

/// What parsing an event did to the year resolver, replayed in file order after a parallel
/// batch (a worker cannot know the years of legacy dates before its chunk).
#[derive(Debug, Clone, Copy)]
struct YearEffect {
    /// The last ISO date before this event (and after the previous effect).
    before: Option<(i32, u32)>,
    /// The month of a global log header's `ctime`.
    global: Option<(i32, u32)>,
    /// The event's own ISO date.
    observe: Option<(i32, u32)>,
    /// A legacy `MM/DD` date still to be resolved (the event's time is a placeholder).
    legacy: Option<HeaderTime>,
}

/// Streams events from any `Read`.
pub struct EventReader<R> {
    src: R,
    name: String,
    opts: ReadOptions,
    format: Option<Format>,
    years: YearResolver,
    /// The last day an event fell on (see [`DayCache`]).
    days: DayCache,
    buf: Data,
    /// After a mapped file hits its end in follow mode: the file, read from then on.
    own: Option<File>,
    /// Threads for parallel text batches (1: none; 0: not decided yet).
    threads: usize,
    /// Bytes per parallel batch, if the caller chose (else [`EventReader::batch`] picks).
    batch: Option<usize>,
    /// A mapped file's handle for the parsing threads, which read their chunks themselves.
    read_chunks: Option<Arc<File>>,
    /// In a parallel worker: year effects by event offset, instead of resolving years.
    defer: Option<VecDeque<(u64, YearEffect)>>,
    /// File offset up to which bytes were prefetched.
    prefetched: u64,
    /// In a parallel worker: the last ISO date not yet in `defer`.
    last_observe: Option<(i32, u32)>,
    /// Results of parallel workers, in file order, handed out before anything else.
    batches: VecDeque<VecDeque<Result<Event, ParseError>>>,
    /// Threads that parse chunks of batches, started at the first batch; they end when the
    /// reader is dropped.
    workers: Vec<mpsc::Sender<Arc<Job>>>,
    /// Emptied result queues, for reuse.
    spare: Vec<VecDeque<Result<Event, ParseError>>>,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    /// File offset of `buf[0]`.
    base: u64,
    /// 1-based line number at `pos`.
    line: u64,
    eof: bool,
    ready: VecDeque<Result<Event, ParseError>>,
    incomplete: Option<Incomplete>,
    /// Reused storage for one event's lines.
    lines: Vec<&'static str>,
    /// Where each line of the event being scanned ends, relative to its start.
    line_ends: Vec<usize>,
    scratch: Option<Box<[u8]>>,
    /// Counting instead of handing events out.
    tally: Option<Tally>,
}

impl EventReader<File> {
    /// Opens a file; its modification time anchors legacy-date years.
    pub fn open(path: impl AsRef<Path>, mut opts: ReadOptions) -> io::Result<EventReader<File>> {
        let path = path.as_ref();
        let file = File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if opts.anchor.is_none() {
            opts.anchor = file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(|t| chrono::DateTime::<chrono::Local>::from(t).naive_local());
        }
        Ok(EventReader::new(file, path.display().to_string(), opts))
    }

    /// Like [`EventReader::open`], but reads a regular file through a memory map (no copies):
    /// the fast way to read a whole file. Follow mode ([`EventReader::clear_eof`]) switches
    /// to reads where the map ends.
    pub fn open_mapped(path: impl AsRef<Path>, opts: ReadOptions) -> io::Result<EventReader<File>> {
        let reader = EventReader::open(path, opts)?;
        let file = reader.src.try_clone()?;
        Ok(reader.mapping(file))
    }
}

impl<R: Read> EventReader<R> {
    pub fn new(src: R, name: impl Into<String>, opts: ReadOptions) -> EventReader<R> {
        let anchor = opts
            .anchor
            .or_else(|| Some(chrono::Local::now().naive_local()));
        EventReader {
            src,
            name: name.into(),
            years: YearResolver::new(opts.year, anchor),
            days: DayCache::default(),
            format: opts.format,
            opts,
            buf: Data::Buf(Vec::new()),
            own: None,
            threads: 0,
            batch: None,
            read_chunks: None,
            defer: None,
            last_observe: None,
            prefetched: 0,
            batches: VecDeque::new(),
            workers: Vec::new(),
            spare: Vec::new(),
            pos: 0,
            base: 0,
            line: 1,
            eof: false,
            ready: VecDeque::new(),
            incomplete: None,
            lines: Vec::new(),
            line_ends: Vec::new(),
            scratch: None,
            tally: None,
        }
    }

    /// Reads `file` through a memory map instead of `src` (which must read the same file from
    /// its start, and is used if the file cannot be mapped: not a regular file, or empty).
    /// Call before reading.
    pub fn mapping(mut self, file: File) -> EventReader<R> {
        let fresh = self.pos == 0 && self.base == 0 && self.buf.is_empty();
        if fresh && file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) {
            // SAFETY: the map is only read. A file truncated while mapped makes reads past
            // its new end fault (as with any mapped reader); logs are appended and rotated
            // by renaming, and follow mode leaves the map for reads.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
                #[cfg(unix)]
                let _ = map.advise(memmap2::Advice::Sequential);
                self.buf = Data::Map { map, end: 0, file };
            }
        }
        self
    }

    /// How many threads parse text in parallel (default: the cores this process may use,
    /// at most 8; 1 parses on the calling thread only).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// From now on, counts events instead of handing them out: the iterator yields only
    /// errors, and [`EventReader::tally`] says how many events of each number were read
    /// (of one job's, if `job` is given). Events are parsed in full as before, but counted
    /// and dropped on the thread that parsed them, not passed between threads.
    pub fn count_only(&mut self, job: Option<(i64, Option<i64>)>) {
        self.tally = Some(Tally {
            job,
            counts: EventCounts::default(),
        });
    }

    /// What [`EventReader::count_only`] has counted so far.
    pub fn tally(&self) -> Option<&Tally> {
        self.tally.as_ref()
    }

    /// Bytes per parallel batch (tests make it small to split often).
    #[doc(hidden)]
    pub fn set_batch_bytes(&mut self, bytes: usize) {
        self.batch = Some(bytes.clamp(64, BATCH));
    }

    /// Bytes per parallel batch: the caller's choice, else larger when only counting.
    fn batch(&self) -> usize {
        self.batch.unwrap_or(if self.tally.is_some() {
            COUNT_BATCH
        } else {
            BATCH
        })
    }

    /// The format detected (or forced), once the first byte has been seen.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// The trailing event still lacking its terminator, as of the last `next`.
    pub fn incomplete(&self) -> Option<Incomplete> {
        self.incomplete
    }

    /// Byte offset just past everything consumed: where a later run should resume.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Line number (1-based) of the next unconsumed line.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Starts reading at a byte offset already known to be an event boundary (resuming).
    pub fn resume_at(&mut self, offset: u64, line: u64) {
        self.base = offset;
        self.line = line;
    }

    /// Lets a reader that hit end of file look again (follow mode, after the file grew).
    pub fn clear_eof(&mut self) {
        self.eof = false;
        if !matches!(self.buf, Data::Map { .. }) {
            return;
        }
        // The map ends where the file ended when it was made: read what comes after.
        let Data::Map { map, end, mut file } = std::mem::take(&mut self.buf) else {
            return;
        };
        let rest = map[self.pos.min(end)..end].to_vec();
        self.base += self.pos as u64;
        self.pos = 0;
        self.buf = Data::Buf(rest);
        if file.seek(SeekFrom::Start(end as u64)).is_err() {
            self.eof = true;
        }
        self.own = Some(file);
    }

    fn fill(&mut self) -> io::Result<bool> {
        let batch = self.batch();
        let buf = match &mut self.buf {
            Data::Map { map, end, .. } => {
                let grown = (*end + READ_CHUNK).min(map.len());
                let n = grown - *end;
                *end = grown;
                if n == 0 {
                    self.eof = true;
                }
                return Ok(n > 0);
            }
            Data::Buf(buf) => buf,
            Data::Borrowed(..) => {
                self.eof = true;
                return Ok(false);
            }
        };
        if self.pos > 0 && self.pos >= buf.len() / 2 {
            buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        // Read into a scratch block allocated once, so no read pays for zeroing fresh memory;
        // a batch's worth when text is parsed in parallel (one read: never waits for more
        // than a pipe has).
        let chunk = if self.threads > 1 { batch } else { READ_CHUNK };
        let scratch = self
            .scratch
            .get_or_insert_with(|| vec![0u8; chunk].into_boxed_slice());
        let n = loop {
            let read = match &mut self.own {
                Some(file) => file.read(scratch),
                None => self.src.read(scratch),
            };
            match read {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        buf.extend_from_slice(&scratch[..n]);
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// `fill`, keeping a read error in `failed` (as no more data, until it is reported).
    fn fill_or(&mut self, failed: &mut Option<io::Error>) -> bool {
        match self.fill() {
            Ok(more) => more,
            Err(e) => {
                *failed = Some(e);
                true
            }
        }
    }

    fn read_error(&mut self, e: io::Error) -> ParseError {
        self.eof = true;
        ParseError {
            file: self.name.clone(),
            line: self.line,
            offset: self.offset(),
            expected: format!("readable data ({e})"),
            found: String::new(),
        }
    }

    fn consume(&mut self, len: usize, lines: u64) {
        self.pos += len;
        self.line += lines;
    }

    fn error_here(&self, at: usize, line: u64, expected: impl Into<String>) -> ParseError {
        let at = at.min(self.buf.len());
        ParseError::new(
            &self.name,
            line,
            self.base + at as u64,
            expected,
            &self.buf[at..(at + 200).min(self.buf.len())],
        )
    }

    /// Reads the next event or error (only errors when counting); `None` at the end of the
    /// data available now.
    fn step(&mut self) -> Option<Result<Event, ParseError>> {
        loop {
            let item = self.step_any()?;
            match (&mut self.tally, item) {
                // A parallel worker's legacy-dated events go to the reading thread, which
                // resolves their years in file order (and may find them impossible).
                (Some(tally), Ok(event))
                    if self.defer.is_none() || event.date_form != DateForm::Legacy =>
                {
                    tally.add(&event)
                }
                (_, item) => return Some(item),
            }
        }
    }

    /// Reads the next event or error; `None` at the end of the data available now.
    fn step_any(&mut self) -> Option<Result<Event, ParseError>> {
        if self.threads == 0 {
            self.threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        }
        // A read error ends the data; it comes out as an error item.
        let mut failed = None;
        loop {
            if let Some(e) = failed.take() {
                return Some(Err(self.read_error(e)));
            }
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if let Some(batch) = self.batches.front_mut() {
                if let Some(item) = batch.pop_front() {
                    return Some(item);
                }
                if let Some(done) = self.batches.pop_front() {
                    self.spare.push(done);
                }
                continue;
            }
            let data = &self.buf[self.pos..];
            let format = match self.format {
                Some(f) => f,
                None => match data.iter().find(|b| !b.is_ascii_whitespace()) {
                    Some(b'{') => *self.format.insert(Format::Json),
                    Some(b'<') => *self.format.insert(Format::Xml),
                    Some(_) => *self.format.insert(Format::Text),
                    None if self.eof => return None,
                    None => {
                        if !self.fill_or(&mut failed) && self.eof {
                            self.incomplete = None;
                            return None;
                        }
                        continue;
                    }
                },
            };
            if format == Format::Text && self.threads > 1 && self.text_batch() {
                continue;
            }
            let step = match format {
                Format::Text => self.step_text(),
                Format::Json => Step::progress(self.step_markup(Format::Json)),
                Format::Xml => Step::progress(self.step_markup(Format::Xml)),
            };
            match step {
                // Events go straight out; only extra errors wait in the queue, behind them.
                Step::Item(item) => {
                    if self.ready.is_empty() {
                        return Some(item);
                    }
                    self.ready.push_front(item);
                    continue;
                }
                Step::Progress => continue,
                Step::NeedMore => {}
            }
            // Need more bytes.
            if self.eof || !self.fill_or(&mut failed) {
                let rest = &self.buf[self.pos..];
                if rest.iter().all(u8::is_ascii_whitespace) {
                    self.incomplete = None;
                } else {
                    self.incomplete = Some(Incomplete {
                        offset: self.offset(),
                        line: self.line,
                        bytes: rest.len() as u64,
                    });
                }
                return None;
            }
            if failed.is_none() && self.buf.len() - self.pos > MAX_EVENT_BYTES {
                self.skip_oversized();
            }
        }
    }

    /// Asks the CPU for the bytes a little ahead of `at`: a mapped file's pages are not in
    /// any cache yet, and a scan that waits for each of them is slow.
    #[inline]
    fn prefetch(&mut self, at: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            const AHEAD: usize = 16 << 10;
            let until = (at + AHEAD).min(self.buf.len());
            let abs = self.base + at as u64;
            if self.prefetched < abs {
                self.prefetched = abs;
            }
            let mut i = (self.prefetched - self.base) as usize;
            while i < until {
                // SAFETY: a prefetch of an address inside the buffer; it reads nothing.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        self.buf.as_ptr().add(i).cast(),
                    );
                }
                i += 64;
            }
            self.prefetched = self.base + i as u64;
        }
    }

    /// Drops an over-long run up to the next line that could start an event.
    fn skip_oversized(&mut self) {
        let start = self.pos;
        let line = self.line;
        let data = &self.buf[start..];
        let mut cut = data.len();
        let mut lines = 0;
        let mut i = 0;
        while let Some(nl) = memchr(b'\n', &data[i..]) {
            i += nl + 1;
            lines += 1;
            if i > 0 && starts_event(&data[i..]) {
                cut = i;
                break;
            }
        }
        let err = self.error_here(
            start,
            line,
            format!("an event of at most {MAX_EVENT_BYTES} bytes"),
        );
        self.consume(cut, lines);
        self.ready.push_back(Err(err));
    }

    /// Takes one text event (or one run of junk) if complete.
    fn step_text(&mut self) -> Step {
        let start = self.pos;
        self.prefetch(start);
        let data = &self.buf[start..];
        let mut newlines = Newlines::new(data);
        // The first line.
        let Some(eol) = newlines.next() else {
            return Step::progress(self.eof && self.finish_partial_line(start));
        };
        let first = trim_cr(&data[..eol]);
        if first.iter().all(u8::is_ascii_whitespace) {
            self.consume(eol + 1, 1);
            return Step::Progress;
        }
        if !looks_like_header(first) {
            return Step::progress(self.skip_junk_text(start));
        }
        // Scan body lines to the terminator, or to a header that shows it is missing,
        // remembering where each line ends so parsing need not look for them again.
        self.line_ends.clear();
        self.line_ends.push(eol);
        let mut i = eol + 1;
        let mut lines = 1u64;
        loop {
            let Some(nl) = newlines.next().map(|end| end - i) else {
                if self.eof && i < data.len() && trim_cr(&data[i..]) == b"..." {
                    // A terminator with no final newline: the event is complete.
                    let end = data.len();
                    let ascii = newlines.ascii_up_to(i);
                    let item = self.finish_text_event(start, i, end, lines + 1, None, ascii);
                    return self.emit(item);
                }
                return Step::NeedMore;
            };
            // Body lines start with a tab or a space; only `.` or a digit can begin the
            // terminator or a header.
            if !matches!(data[i], b'.' | b'0'..=b'9') {
                self.line_ends.push(i + nl);
                i += nl + 1;
                lines += 1;
                continue;
            }
            let line = trim_cr(&data[i..i + nl]);
            if line == b"..." {
                let end = i + nl + 1;
                let ascii = newlines.ascii_up_to(i);
                let item = self.finish_text_event(start, i, end, lines + 1, None, ascii);
                return self.emit(item);
            }
            if looks_like_header(line) {
                let missing_at = i;
                let ascii = newlines.ascii_up_to(i);
                let item = self.finish_text_event(start, i, i, lines, Some(missing_at), ascii);
                return self.emit(item);
            }
            self.line_ends.push(i + nl);
            i += nl + 1;
            lines += 1;
        }
    }

    /// Hands out a text event, or, when counting, counts and drops it on this thread (as
    /// `step` would, without moving it through the reading loop).
    fn emit(&mut self, item: Result<Event, ParseError>) -> Step {
        if let (Some(tally), Ok(event)) = (&mut self.tally, &item)
            && (self.defer.is_none() || event.date_form != DateForm::Legacy)
        {
            tally.add(event);
            return Step::Progress;
        }
        Step::Item(item)
    }

    /// At end of file, a last line with no newline that is not an event start is junk.
    fn finish_partial_line(&mut self, start: usize) -> bool {
        let rest = &self.buf[start..];
        if rest.iter().all(u8::is_ascii_whitespace) || looks_like_header(rest) {
            return false;
        }
        self.skip_junk_text(start)
    }

    /// Reports a run of lines that are no event, up to the next header line. Waits for more
    /// data while it cannot yet see where the run ends, so the run is one error however the
    /// bytes arrive.
    fn skip_junk_text(&mut self, start: usize) -> bool {
        let data = &self.buf[start..];
        let mut i = 0;
        let mut lines = 0;
        loop {
            match memchr(b'\n', &data[i..]) {
                Some(nl) => {
                    i += nl + 1;
                    lines += 1;
                    let rest = &data[i..];
                    if rest.len() < 5 && !self.eof {
                        return false;
                    }
                    if looks_like_header(rest) || rest.is_empty() {
                        break;
                    }
                }
                None if self.eof => {
                    i = data.len();
                    break;
                }
                None => return false,
            }
        }
        let line = self.line;
        let err = self.error_here(
            start,
            line,
            "an event header `NNN (cluster.proc.subproc) date time`",
        );
        self.consume(i, lines);
        self.ready.push_back(Err(err));
        true
    }

    /// Parses the event in `buf[start+0 .. start+body_end]` and consumes to `start+end`.
    fn finish_text_event(
        &mut self,
        start: usize,
        body_end: usize,
        end: usize,
        lines: u64,
        missing_terminator_at: Option<usize>,
        ascii: bool,
    ) -> Result<Event, ParseError> {
        let line = self.line;
        // The buffer is lent out while the event borrows from it; parsing needs `&mut self`.
        let buf = std::mem::take(&mut self.buf);
        let raw = &buf[start..start + body_end];
        let owned;
        let text = if ascii {
            debug_assert!(raw.is_ascii());
            // SAFETY: the line scan saw every byte of `raw` and none was outside ASCII.
            unsafe { std::str::from_utf8_unchecked(raw) }
        } else {
            match std::str::from_utf8(raw) {
                Ok(t) => t,
                Err(_) => {
                    owned = String::from_utf8_lossy(raw).into_owned();
                    &owned
                }
            }
        };
        let mut split = std::mem::take(&mut self.lines);
        split.clear();
        let line_ends = std::mem::take(&mut self.line_ends);
        let same_bytes = text.len() == raw.len();
        let mut from = 0;
        let recorded = same_bytes && line_ends.last().is_some_and(|e| *e <= text.len());
        // Where invalid UTF-8 was replaced, byte positions moved: split afresh.
        let fresh: Vec<usize> = if recorded {
            Vec::new()
        } else {
            memchr::memchr_iter(b'\n', text.as_bytes())
                .chain(std::iter::once(text.len()))
                .collect()
        };
        let mut ends: &[usize] = if recorded { &line_ends } else { &fresh };
        // No empty last line after a final `\n`.
        if let Some((&last, rest)) = ends.split_last()
            && last == text.len()
            && rest.last().map_or(0, |e| e + 1) == last
        {
            ends = rest;
        }
        // One `extend` of known length: no capacity check per line.
        split.extend(ends.iter().map(|&end| {
            debug_assert!(from <= end && end <= text.len());
            // SAFETY: every `end` is the position of a `\n` in `text` or its length, and
            // `from` is 0 or one past such a `\n`: in order, and char boundaries, since a
            // `\n` byte is never inside a UTF-8 sequence.
            let l = unsafe { text.get_unchecked(from..end) };
            from = end + 1;
            match l.as_bytes().last() {
                // SAFETY: dropping a final ASCII `\r` keeps a char boundary.
                Some(b'\r') => unsafe { l.get_unchecked(..l.len() - 1) },
                _ => l,
            }
        }));
        self.line_ends = line_ends;
        let item = self.parse_text_event(&split, start, line);
        split.clear();
        // Keep the allocation for the next event; the borrowed lines are gone.
        self.lines = split.into_iter().map(|_| "").collect();
        self.buf = buf;
        if let Some(at) = missing_terminator_at {
            let missing_line = line + lines;
            let err = self.error_here(
                start + at,
                missing_line,
                "the terminator `...` before the next event header",
            );
            self.ready.push_back(Err(err));
        }
        self.consume(end, lines);
        item
    }

    fn parse_text_event(
        &mut self,
        lines: &[&str],
        start: usize,
        line: u64,
    ) -> Result<Event, ParseError> {
        let offset = self.base + start as u64;
        let header = parse_header(lines[0]).map_err(|expected| {
            ParseError::new(&self.name, line, offset, expected, lines[0].as_bytes())
        })?;
        let body = parse_body(header.number, header.title, &lines[1..]).map_err(|e| {
            let bad = lines.get(e.line).copied().unwrap_or("");
            let byte = offset
                + lines[..e.line.min(lines.len())]
                    .iter()
                    .map(|l| l.len() as u64 + 1)
                    .sum::<u64>();
            ParseError::new(
                &self.name,
                line + e.line as u64,
                byte,
                e.expected,
                bad.as_bytes(),
            )
        })?;
        let global = match &body {
            EventBody::Generic { info } => self.global_header_month(info),
            _ => None,
        };
        let mut deferred = false;
        let time = match &mut self.defer {
            // A parallel worker: legacy years wait for the events before this chunk.
            Some(defer) => {
                let t = &header.time;
                if global.is_none() && t.year.is_some() {
                    // Of a run of dated events only the last matters to the years after it.
                    self.last_observe = t.year.map(|y| (y, t.month));
                } else {
                    let effect = YearEffect {
                        before: self.last_observe.take(),
                        global,
                        observe: t.year.map(|y| (y, t.month)),
                        legacy: t.year.is_none().then_some(header.time),
                    };
                    defer.push_back((offset, effect));
                }
                if t.year.is_none() {
                    deferred = true;
                    Some(chrono::DateTime::UNIX_EPOCH.naive_utc())
                } else {
                    resolve_with(t, &mut YearResolver::default(), &mut self.days)
                }
            }
            None => {
                if let Some((year, month)) = global {
                    self.years.observe(year, month);
                }
                resolve_with(&header.time, &mut self.years, &mut self.days)
            }
        };
        let time = time.ok_or_else(|| {
            ParseError::new(&self.name, line, offset, BAD_DATE, lines[0].as_bytes())
        })?;
        let timestamp = if deferred {
            0
        } else {
            self.stamp(&header.time, time)
        };
        Ok(Event {
            number: header.number,
            id: header.id,
            time,
            utc: header.time.utc,
            timestamp,
            date_form: if header.time.year.is_some() {
                DateForm::Iso
            } else {
                DateForm::Legacy
            },
            body,
            position: Position { offset, line },
        })
    }

    /// Unix seconds of a header's time.
    fn stamp(&self, t: &HeaderTime, time: NaiveDateTime) -> i64 {
        let naive = self.days.naive_seconds(time);
        if t.utc {
            naive
        } else if let Some(off) = t.offset {
            Zone::Fixed(off).to_unix_from(time, naive)
        } else {
            self.opts.zone.to_unix_from(time, naive)
        }
    }

    /// The global event log's header (`Global JobLog: ctime=N ...`) dates legacy events
    /// after it: the year and month it names.
    fn global_header_month(&self, info: &str) -> Option<(i32, u32)> {
        if self.opts.year.is_some() {
            return None;
        }
        let rest = info.strip_prefix("Global JobLog:")?;
        let ctime = rest
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("ctime="))
            .and_then(|v| v.parse::<i64>().ok())?;
        let t = chrono::DateTime::from_timestamp(ctime, 0)?;
        use chrono::Datelike;
        let local = match self.opts.zone {
            Zone::Utc => t.naive_utc(),
            Zone::Fixed(east) => t.naive_utc() + chrono::Duration::seconds(east.into()),
            Zone::Local => t.with_timezone(&chrono::Local).naive_local(),
        };
        Some((local.year(), local.month()))
    }

    /// Parses about a batch of text on `threads` threads, split at event boundaries, and
    /// queues the results in file order; false when too little is buffered to split.
    ///
    /// A line that looks like a header right after a `...` line is where the sequential
    /// scanner starts a step whatever came before (every scan stops at a `...` line or at a
    /// header line), so parsing each chunk alone yields exactly the same items. Line numbers
    /// and legacy years, which depend on what came before, are fixed up here in order.
    fn text_batch(&mut self) -> bool {
        // Reads happen only where the sequential path would read (`fill`, which reads a
        // batch at a time here): a batch never waits on a pipe for data.
        let batch = self.batch();
        if let Data::Map { map, end, .. } = &mut self.buf {
            *end = (*end).max((self.pos + batch + READ_CHUNK).min(map.len()));
        }
        if self.buf.len() - self.pos < batch / 8 {
            return false;
        }
        let buf = std::mem::take(&mut self.buf);
        let data = &buf[self.pos..];
        // Parsing threads read a mapped file's chunks through a handle of their own, made at
        // the first batch (small files never need one).
        if let (Data::Map { file, .. }, None) = (&buf, &self.read_chunks) {
            self.read_chunks = file.try_clone().ok().map(Arc::new);
        }
        let file = match (&buf, &self.read_chunks) {
            (Data::Map { .. }, Some(file)) => Some((Arc::clone(file), self.pos as u64)),
            _ => None,
        };
        let cuts = batch_cuts(
            data,
            self.threads * 16,
            batch,
            file.as_ref().map(|(f, at)| (&**f, *at)),
        );
        if cuts.len() < 3 {
            self.buf = buf;
            return false;
        }
        // More chunks than threads, taken in turn: a thread that is held up holds up one
        // small chunk, not half the batch; chunks nobody has taken yet, this thread takes.
        // Sixteen a thread: the others wait at the batch's end for half a chunk on average
        // (ten alternating runs counting a 537 MB log, four a thread against sixteen:
        // medians 0.290 against 0.273 s in one hour, 0.421 against 0.418 s in a slower one).
        let n = cuts.len() - 1;
        let job = Arc::new(Job {
            data: RawSlice::new(data),
            file,
            base: self.base + self.pos as u64,
            name: self.name.clone(),
            opts: self.opts.clone(),
            tally: self.tally.as_ref().map(Tally::empty_like),
            next: AtomicUsize::new(0),
            state: Mutex::new(JobState {
                done: 0,
                panicked: false,
                pieces: (0..n).map(|_| None).collect(),
                spare: std::mem::take(&mut self.spare),
            }),
            finished: Condvar::new(),
            cuts,
        });
        if self.workers.is_empty() {
            self.workers = (1..self.threads).filter_map(|_| spawn_worker()).collect();
        }
        for worker in &self.workers {
            let _ = worker.send(Arc::clone(&job));
        }
        job.work();
        // Every chunk is taken: wait for those other threads took.
        let mut state = job.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.done < n {
            state = job.finished.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        assert!(!state.panicked, "an event-log parsing thread panicked");
        let pieces: Vec<Piece> = state.pieces.drain(..).flatten().collect();
        self.spare = std::mem::take(&mut state.spare);
        let end = job.cuts[n];
        drop(state);
        let mut line = self.line;
        for piece in pieces {
            let (mut items, mut effects) = (piece.items, piece.effects);
            if let (Some(tally), Some(counted)) = (&mut self.tally, &piece.tally) {
                tally.counts.merge(&counted.counts);
            }
            let shift = line - 1;
            for item in items.iter_mut() {
                // The event's own item: the event, or its date error (a missing terminator is
                // reported at the offset of the header after it, too).
                let at = match item {
                    Ok(e) => {
                        e.position.line += shift;
                        Some(e.position.offset)
                    }
                    Err(e) => {
                        e.line += shift;
                        (e.expected == BAD_DATE).then_some(e.offset)
                    }
                };
                // Effects of events the worker counted and dropped come first, in order.
                while let Some(at) = at
                    && effects.front().is_some_and(|(o, _)| *o < at)
                    && let Some((_, effect)) = effects.pop_front()
                {
                    self.replay(None, effect, &buf);
                }
                if effects.front().is_some_and(|(o, _)| Some(*o) == at)
                    && let Some((_, effect)) = effects.pop_front()
                {
                    self.replay(Some(item), effect, &buf);
                }
            }
            for (_, effect) in effects {
                self.replay(None, effect, &buf);
            }
            if let Some((year, month)) = piece.last_observe {
                self.years.observe(year, month);
            }
            line += piece.lines;
            self.batches.push_back(items);
        }
        self.pos += end;
        self.line = line;
        self.buf = buf;
        true
    }

    /// Applies a worker's year effect in file order, resolving a deferred legacy date (the
    /// item is `None` for an event that needed no resolving and was counted by the worker).
    fn replay(
        &mut self,
        item: Option<&mut Result<Event, ParseError>>,
        effect: YearEffect,
        buf: &[u8],
    ) {
        if let Some((year, month)) = effect.before {
            self.years.observe(year, month);
        }
        if let Some((year, month)) = effect.global {
            self.years.observe(year, month);
        }
        if let Some((year, month)) = effect.observe {
            self.years.observe(year, month);
        }
        let (Some(t), Some(item)) = (effect.legacy, item) else {
            return;
        };
        let Ok(event) = &mut *item else {
            return;
        };
        match resolve(&t, &mut self.years) {
            Some(time) => {
                event.time = time;
                event.timestamp = self.stamp(&t, time);
            }
            None => {
                let at = (event.position.offset - self.base) as usize;
                let rest = buf.get(at..).unwrap_or_default();
                let first = &rest[..memchr(b'\n', rest).unwrap_or(rest.len())];
                *item = Err(ParseError::new(
                    &self.name,
                    event.position.line,
                    event.position.offset,
                    BAD_DATE,
                    trim_cr(first),
                ));
            }
        }
    }

    /// Takes one JSON object or XML `<c>` element (or a run of junk); false when more data
    /// is needed.
    fn step_markup(&mut self, format: Format) -> bool {
        let start = self.pos;
        let data = &self.buf[start..];
        // Skip white space, `...` separators and (XML) prolog lines.
        let mut i = 0;
        let mut lines = 0u64;
        loop {
            while i < data.len() && data[i].is_ascii_whitespace() {
                if data[i] == b'\n' {
                    lines += 1;
                }
                i += 1;
            }
            let rest = &data[i..];
            let skipped: &[&[u8]] = match format {
                Format::Xml => &[
                    b"...",
                    b"<?xml",
                    b"<!DOCTYPE",
                    b"<classads>",
                    b"</classads>",
                ],
                _ => &[b"..."],
            };
            // Bytes that may yet become one of those lines wait for the rest: what is skipped
            // must not depend on where a read happened to end.
            if !self.eof
                && skipped
                    .iter()
                    .any(|s| s.len() > rest.len() && s.starts_with(rest))
            {
                return false;
            }
            let skip_line = skipped.iter().any(|s| rest.starts_with(s));
            if !skip_line {
                break;
            }
            match memchr(b'\n', rest) {
                Some(nl) => {
                    i += nl + 1;
                    lines += 1;
                }
                None if self.eof => {
                    i = data.len();
                    break;
                }
                None => return false,
            }
        }
        if i > 0 {
            self.consume(i, lines);
            return true;
        }
        if data.is_empty() {
            return false;
        }
        let (open, found_end) = match format {
            Format::Json => (
                data.starts_with(b"{"),
                if data.starts_with(b"{") {
                    json_object_end(data)
                } else {
                    None
                },
            ),
            _ => (
                data.starts_with(b"<c>"),
                if data.starts_with(b"<c>") {
                    xml_element_end(data)
                } else {
                    None
                },
            ),
        };
        if !open {
            return self.skip_junk_markup(start, format);
        }
        let Some(end) = found_end else { return false };
        let line = self.line;
        let offset = self.base + start as u64;
        let bytes = &data[..end];
        let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
        let parsed = match format {
            Format::Json => json_attrs(bytes),
            _ => xml_attrs(&String::from_utf8_lossy(bytes)),
        };
        let item = parsed
            .and_then(|attrs| {
                event_from_attrs(attrs, self.opts.zone, Position { offset, line }).map_err(|e| e.0)
            })
            .map_err(|expected| ParseError::new(&self.name, line, offset, expected, bytes));
        if let Ok(e) = &item {
            use chrono::Datelike;
            self.years.observe(e.time.year(), e.time.month());
        }
        self.ready.push_back(item);
        self.consume(end, newlines);
        true
    }

    fn skip_junk_markup(&mut self, start: usize, format: Format) -> bool {
        let data = &self.buf[start..];
        let marker: &[u8] = if format == Format::Json {
            b"\n{"
        } else {
            b"<c>"
        };
        let cut = match memchr::memmem::find(&data[1..], marker) {
            Some(p) => p + 1 + usize::from(format == Format::Json),
            None if self.eof => data.len(),
            // The run's end is not in sight yet: wait, so it is reported once.
            None => return false,
        };
        let newlines = data[..cut].iter().filter(|b| **b == b'\n').count() as u64;
        let expected = if format == Format::Json {
            "a JSON event object `{ ... }`"
        } else {
            "an XML event `<c> ... </c>`"
        };
        // The excerpt is of the run alone, so it does not depend on how much was read.
        let err = ParseError::new(
            &self.name,
            self.line,
            self.base + start as u64,
            expected,
            &data[..cut],
        );
        self.consume(cut, newlines);
        self.ready.push_back(Err(err));
        true
    }
}

/// What one step of a format's scanner did.
enum Step {
    /// Produced an event (or an error in its place).
    Item(Result<Event, ParseError>),
    /// Consumed something (and may have queued errors).
    Progress,
    /// Needs more bytes.
    NeedMore,
}

impl Step {
    fn progress(progressed: bool) -> Step {
        if progressed {
            Step::Progress
        } else {
            Step::NeedMore
        }
    }
}

#[inline]
fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn starts_event(data: &[u8]) -> bool {
    looks_like_header(data) || data.starts_with(b"{") || data.starts_with(b"<c>")
}

impl<R: Read> Iterator for EventReader<R> {
    type Item = Result<Event, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step()
    }
}

/// Everything read from one file.
#[derive(Debug, Default)]
pub struct LogRead {
    pub events: Vec<Event>,
    pub errors: Vec<ParseError>,
    pub incomplete: Option<Incomplete>,
    pub format: Option<Format>,
}

/// Reads a whole file. Lenient (the default): collect errors and keep going. Strict: stop at
/// the first error and return it.
pub fn read_path(
    path: impl AsRef<Path>,
    opts: ReadOptions,
    strict: bool,
) -> Result<LogRead, ParseError> {
    let path = path.as_ref();
    let mut reader = EventReader::open_mapped(path, opts).map_err(|e| ParseError {
        file: path.display().to_string(),
        line: 0,
        offset: 0,
        expected: "a readable file".into(),
        found: e.to_string(),
    })?;
    let mut out = LogRead::default();
    for item in reader.by_ref() {
        match item {
            Ok(e) => out.events.push(e),
            Err(e) if strict => return Err(e),
            Err(e) => out.errors.push(e),
        }
    }
    out.incomplete = reader.incomplete();
    out.format = reader.format();
    Ok(out)
}

/// Reads events from bytes in memory (tests, fuzzing).
pub fn read_bytes(bytes: &[u8], opts: ReadOptions) -> LogRead {
    let mut reader = EventReader::new(bytes, "-", opts);
    let mut out = LogRead::default();
    for item in reader.by_ref() {
        match item {
            Ok(e) => out.events.push(e),
            Err(e) => out.errors.push(e),
        }
    }
    out.incomplete = reader.incomplete();
    out.format = reader.format();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_found_in_small_reads_are_those_found_in_the_map() {
        use std::io::Write;
        // Events of many sizes, some with CRLF, with look-alikes of a boundary in between.
        let mut data = Vec::new();
        for n in 0..3000usize {
            let body = "x".repeat(n * 7 % 4500);
            let end = if n % 5 == 0 { "...\r\n" } else { "...\n" };
            data.extend(
                format!(
                    "00{} (1.0.0) 2024-01-01 00:00:00 t\n\t{body}\n{end}",
                    n % 10
                )
                .bytes(),
            );
            if n % 7 == 0 {
                data.extend(b"\n...\nnot a header\n...\n12 (bad\n");
            }
        }
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let at = 3;
        let data = &data[at..];
        let mut found = 0;
        for from in (0..data.len())
            .step_by(997)
            .chain(data.len() - 40..data.len() + 2)
        {
            let expected = boundary(data, from);
            assert_eq!(
                boundary_read(&file, at as u64, data, from),
                expected,
                "from {from}"
            );
            found += usize::from(expected.is_some());
        }
        assert!(found > 1000, "{found}");
    }
}
