//! Fuzz target: any bytes, in any format, read whole or fed in pieces as a growing file
//! would be, must never panic, and every event must come out of the data in order; parsing
//! in parallel chunks changes nothing, and counting (`count_only`) counts what reading reads.
#![no_main]

use std::io::Read;

use holdadvisor_parsers::event_type::EventCounts;
use holdadvisor_parsers::reader::read_bytes;
use holdadvisor_parsers::{EventReader, ReadOptions, Zone};
use libfuzzer_sys::fuzz_target;

/// A source that hands out the data a few bytes at a time, like a log still being written.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(self.data.len()).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let opts = ReadOptions {
        zone: Zone::Utc,
        ..Default::default()
    };
    let whole = read_bytes(data, opts.clone());
    let mut last = 0;
    for e in &whole.events {
        assert!(e.position.offset >= last && (e.position.offset as usize) < data.len().max(1));
        last = e.position.offset;
        let _ = e.to_json();
    }
    // The same bytes arriving in small pieces give the same events.
    let step = 1 + data.first().copied().unwrap_or(7) as usize % 13;
    let items: Vec<_> = EventReader::new(Trickle { data, step }, "-", opts.clone()).collect();
    let events: Vec<_> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
    assert_eq!(events.len(), whole.events.len());
    assert_eq!(items.len() - events.len(), whole.errors.len());
    for (a, b) in events.iter().zip(&whole.events) {
        assert_eq!((a.number, a.position), (b.number, b.position));
    }
    // Parsing in parallel chunks gives exactly what one thread gives.
    let read = |threads: usize, batch: usize| {
        let mut reader = EventReader::new(data, "-", opts.clone());
        reader.set_threads(threads);
        reader.set_batch_bytes(batch);
        let items: Vec<_> = reader.by_ref().collect();
        (items, reader.incomplete())
    };
    let one = read(1, 1 << 20);
    assert!(read(3, 64) == one);
    assert!(read(2, 64 + step * 50) == one);
    // Counting, on the parsing threads or not: the same errors, and a count of every event.
    let mut want = EventCounts::default();
    for event in one.0.iter().flatten() {
        want.add(event.number);
    }
    let want: Vec<_> = want.iter().collect();
    let errors: Vec<_> = one.0.iter().filter_map(|i| i.as_ref().err()).collect();
    for (threads, batch) in [(1, 1 << 20), (3, 64 + step * 7)] {
        let mut reader = EventReader::new(data, "-", opts.clone());
        reader.set_threads(threads);
        reader.set_batch_bytes(batch);
        reader.count_only(None);
        let items: Vec<_> = reader.by_ref().collect();
        let got: Vec<_> = items.iter().map(|i| i.as_ref().expect_err("only errors")).collect();
        assert!(got == errors);
        assert!(reader.tally().unwrap().counts.iter().collect::<Vec<_>>() == want);
        assert!(reader.incomplete() == one.1);
    }
});
