//! Parsing text batches on every core: the worker threads, the jobs they take chunks of,
//! and where a batch may be cut. The bytes lent to the threads (`RawSlice`) are the reader's
//! one use of raw pointers; its safety rests on `Job` keeping the batch alive and unchanged
//! until every chunk is parsed.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};

use crate::error::ParseError;
use crate::event::Event;
use crate::text::looks_like_header;

use super::*;

/// Bytes lent to parser threads; see the safety notes where it is read.
#[derive(Clone, Copy)]
pub(super) struct RawSlice(*const u8, usize);

// SAFETY: a `RawSlice` is only read, and only while the slice it was made from is alive and
// unchanged (`parse_piece` and `Job::work`).
unsafe impl Send for RawSlice {}
unsafe impl Sync for RawSlice {}

impl RawSlice {
    pub(super) fn new(bytes: &[u8]) -> RawSlice {
        RawSlice(bytes.as_ptr(), bytes.len())
    }

    /// # Safety
    /// The slice this was made from must still be alive and unchanged.
    pub(super) unsafe fn get<'a>(self) -> &'a [u8] {
        unsafe { std::slice::from_raw_parts(self.0, self.1) }
    }
}

/// One batch, shared by the threads parsing its chunks.
pub(super) struct Job {
    /// The batch: `EventReader::text_batch` keeps it alive and unchanged until every chunk
    /// taken (`next`) is done, and a chunk is only read once taken.
    pub(super) data: RawSlice,
    /// The mapped file and the file offset of `data`'s first byte: each thread reads its
    /// chunks from the file into a buffer of its own instead of through the map.
    pub(super) file: Option<(Arc<File>, u64)>,
    pub(super) cuts: Vec<usize>,
    pub(super) base: u64,
    pub(super) name: String,
    pub(super) opts: ReadOptions,
    /// When counting: an empty tally with the reader's filter.
    pub(super) tally: Option<Tally>,
    /// The next chunk to take.
    pub(super) next: AtomicUsize,
    pub(super) state: Mutex<JobState>,
    pub(super) finished: Condvar,
}

pub(super) struct JobState {
    /// Chunks done.
    pub(super) done: usize,
    pub(super) panicked: bool,
    pub(super) pieces: Vec<Option<Piece>>,
    pub(super) spare: Vec<VecDeque<Result<Event, ParseError>>>,
}

impl Job {
    /// Takes and parses chunks until none is left.
    pub(super) fn work(&self) {
        let n = self.cuts.len() - 1;
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            if i >= n {
                return;
            }
            let lock = || self.state.lock().unwrap_or_else(|e| e.into_inner());
            let out = lock().spare.pop().unwrap_or_default();
            let (a, b) = (self.cuts[i], self.cuts[i + 1]);
            // SAFETY: chunk `i` is taken and not yet done, so the batch is alive (see `data`).
            let data = unsafe { self.data.get() };
            let piece = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                CHUNK.with_borrow_mut(|copy| {
                    let bytes = self
                        .file
                        .as_ref()
                        .and_then(|(file, at)| read_chunk(file, at + a as u64, b - a, copy))
                        .unwrap_or(&data[a..b]);
                    parse_piece(
                        bytes,
                        self.base + a as u64,
                        &self.name,
                        &self.opts,
                        self.tally.as_ref(),
                        out,
                    )
                })
            }));
            let mut state = lock();
            match piece {
                Ok(piece) => state.pieces[i] = Some(piece),
                Err(_) => state.panicked = true,
            }
            state.done += 1;
            drop(state);
            self.finished.notify_all();
        }
    }
}

/// Starts a parser thread; `None` if the system will not.
pub(super) fn spawn_worker() -> Option<mpsc::Sender<Arc<Job>>> {
    let (send, receive) = mpsc::channel::<Arc<Job>>();
    std::thread::Builder::new()
        .name("event-log-parser".into())
        .spawn(move || {
            while let Ok(job) = receive.recv() {
                job.work();
            }
        })
        .ok()?;
    Some(send)
}

thread_local! {
    /// A parsing thread's copy of the chunk it parses (kept at its largest size).
    static CHUNK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `len` bytes of `file` from `at`, read into `copy`; `None` if they cannot all be read
/// (the caller reads the map instead).
///
/// Why copy what is mapped: the kernel then never maps those pages into this process. On a
/// log in the page cache, mapping each 64 KB on first touch and unmapping it all at exit
/// cost more than copying, and two threads faulting pages into one address space wait on
/// each other; a chunk of a few hundred KB copied into a buffer of the thread's own is also
/// in its cache when parsed.
pub(super) fn read_chunk<'c>(
    file: &File,
    at: u64,
    len: usize,
    copy: &'c mut Vec<u8>,
) -> Option<&'c [u8]> {
    if copy.len() < len {
        copy.resize(len, 0);
    }
    read_at(file, at, &mut copy[..len]).ok()?;
    Some(&copy[..len])
}

/// `buf.len()` bytes of `file` from `at`, without moving its cursor (`pread`); an error
/// where the platform has no such read, and the callers read the map instead.
pub(super) fn read_at(file: &File, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, at)
    }
    #[cfg(not(unix))]
    {
        let _ = (file, at, buf);
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// What a parallel worker made of one chunk.
pub(super) struct Piece {
    pub(super) items: VecDeque<Result<Event, ParseError>>,
    pub(super) effects: VecDeque<(u64, YearEffect)>,
    /// The last ISO date after the last effect.
    pub(super) last_observe: Option<(i32, u32)>,
    /// Lines in the chunk.
    pub(super) lines: u64,
    /// When counting: the events counted here (and left out of `items`).
    pub(super) tally: Option<Tally>,
}

/// Parses one chunk of text that starts and ends at event boundaries; line numbers count
/// from 1 at its start.
pub(super) fn parse_piece(
    bytes: &[u8],
    offset: u64,
    name: &str,
    opts: &ReadOptions,
    tally: Option<&Tally>,
    mut items: VecDeque<Result<Event, ParseError>>,
) -> Piece {
    // Years are resolved by the caller: no anchor to look up.
    let opts = ReadOptions {
        anchor: Some(chrono::NaiveDateTime::default()),
        ..opts.clone()
    };
    let mut reader = EventReader::new(io::empty(), name, opts);
    // The reader reads `bytes` in place and is dropped before they are.
    reader.buf = Data::Borrowed(RawSlice::new(bytes));
    reader.eof = true;
    reader.base = offset;
    reader.format = Some(Format::Text);
    reader.threads = 1;
    reader.defer = Some(VecDeque::new());
    // Counting: events are counted and dropped here, but for errors and legacy dates.
    reader.tally = tally.map(Tally::empty_like);
    items.extend(reader.by_ref());
    Piece {
        items,
        effects: reader.defer.take().unwrap_or_default(),
        last_observe: reader.last_observe,
        lines: reader.line - 1,
        tally: reader.tally.take(),
    }
}

/// Where to split `data` for `n` threads: 0, the chunk ends at event boundaries, and the
/// batch's end (the first boundary past about `batch` bytes, or near the end of `data`).
///
/// With `file` (the file and the offset of `data` in it), boundaries are looked for in
/// small reads of the file, so that the map's pages stay unmapped (see [`read_chunk`]).
pub(super) fn batch_cuts(
    data: &[u8],
    n: usize,
    batch: usize,
    file: Option<(&File, u64)>,
) -> Vec<usize> {
    let find = |from: usize| match file {
        Some((file, at)) => boundary_read(file, at, data, from),
        None => boundary(data, from),
    };
    let from = batch.min(data.len().saturating_sub(batch / 128));
    let Some(end) = find(from) else {
        return Vec::new();
    };
    let mut cuts = vec![0];
    for k in 1..n {
        if let Some(c) = find(end / n * k)
            && c > cuts[cuts.len() - 1]
            && c < end
        {
            cuts.push(c);
        }
    }
    cuts.push(end);
    cuts
}

/// An event boundary at or after `from` in `data`, found in reads of the same bytes from
/// `file` (where `data` starts at offset `at`) a few KB at a time; the map is looked at only
/// if the file cannot be read.
pub(super) fn boundary_read(file: &File, at: u64, data: &[u8], from: usize) -> Option<usize> {
    pub(super) const WINDOW: usize = 4096;
    let mut window = [0u8; WINDOW];
    let mut start = from;
    while start < data.len() {
        let len = WINDOW.min(data.len() - start);
        if read_at(file, at + start as u64, &mut window[..len]).is_err() {
            return boundary(data, start);
        }
        // A boundary whose header start lies wholly in the window is one in `data` too.
        if let Some(k) = boundary(&window[..len], 0) {
            return Some(start + k);
        }
        if start + len == data.len() {
            return None;
        }
        // The next window overlaps this one by a `\n...\r\n` and a header's first bytes.
        start += len - 10;
    }
    None
}

/// The first event boundary after `from`: the start of a line that looks like a header,
/// right after a `...` line.
pub(super) fn boundary(data: &[u8], from: usize) -> Option<usize> {
    let finder = memchr::memmem::Finder::new(b"\n...");
    let mut i = from;
    while let Some(p) = finder.find(data.get(i..)?) {
        let after = i + p + 4;
        let next = match data.get(after) {
            Some(b'\n') => Some(after + 1),
            Some(b'\r') if data.get(after + 1) == Some(&b'\n') => Some(after + 2),
            _ => None,
        };
        if let Some(k) = next
            && looks_like_header(&data[k..])
        {
            return Some(k);
        }
        i += p + 1;
    }
    None
}
