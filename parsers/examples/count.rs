//! Reads event logs and prints per-type counts, as `holdadvisor events --summary --utc` does:
//! a stand-in for timing the parser alone.
//!   cargo run -p holdadvisor-parsers --release --example count -- FILE...

use std::time::Instant;

use holdadvisor_parsers::event_type::EventCounts;
use holdadvisor_parsers::{EventReader, ReadOptions, Zone};

/// The holdadvisor binary's allocator (`src/main.rs`), so that this measures what it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let opts = ReadOptions {
        zone: Zone::Utc,
        ..Default::default()
    };
    let t = Instant::now();
    let (mut total, mut malformed, mut bytes) = (0u64, 0u64, 0u64);
    let mut counts = EventCounts::default();
    for path in std::env::args().skip(1) {
        bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut reader = if std::env::var("MAPPED").is_ok_and(|m| m == "0") {
            EventReader::open(&path, opts.clone())
        } else {
            EventReader::open_mapped(&path, opts.clone())
        }
        .expect("readable file");
        if let Some(n) = std::env::var("THREADS").ok().and_then(|n| n.parse().ok()) {
            reader.set_threads(n);
        }
        if let Some(n) = std::env::var("BATCH").ok().and_then(|n| n.parse().ok()) {
            reader.set_batch_bytes(n);
        }
        // COUNT=1: count on the parsing threads, as `events --summary` does.
        let counting = std::env::var("COUNT").is_ok_and(|c| c == "1");
        if counting {
            reader.count_only(None);
        }
        for item in reader.by_ref() {
            match item {
                Ok(e) => {
                    total += 1;
                    counts.add(e.number);
                }
                Err(_) => malformed += 1,
            }
        }
        if let Some(tally) = reader.tally() {
            counts.merge(&tally.counts);
            total += tally.counts.total();
        }
    }
    let s = t.elapsed().as_secs_f64();
    for (n, c) in counts.iter() {
        println!("{n:03} {c}");
    }
    println!(
        "total {total} malformed {malformed}: {s:.3} s, {:.0} MB/s, {:.0} events/s",
        bytes as f64 / 1e6 / s,
        total as f64 / s
    );
}
