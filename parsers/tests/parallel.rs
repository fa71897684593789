//! Parallel text parsing gives exactly what parsing on one thread gives: the same events and
//! errors, with the same lines, offsets and legacy years, and the same trailing partial
//! event; and a memory-mapped file reads exactly as the same file read through reads.

use std::io::Write;
use std::path::{Path, PathBuf};

use holdadvisor_parsers::event_type::EventCounts;
use holdadvisor_parsers::{Event, EventReader, Incomplete, ParseError, ReadOptions, Zone};

type Items = (Vec<Result<Event, ParseError>>, Option<Incomplete>);

fn read(data: &[u8], opts: &ReadOptions, threads: usize, batch: usize) -> Items {
    let mut reader = EventReader::new(data, "x.log", opts.clone());
    reader.set_threads(threads);
    reader.set_batch_bytes(batch);
    let items = reader.by_ref().collect();
    (items, reader.incomplete())
}

fn logs_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "log") || p.ends_with("EventLog"))
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// Text logs of every kind the project has, and hand-made trouble between them.
fn corpus() -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut logs = Vec::new();
    for dir in ["text", "legacy", "iso-utc-subsec"] {
        logs.extend(logs_in(&root.join("tests/fixtures/pool").join(dir)));
    }
    logs.extend(logs_in(&root.join("../shared/real-logs")));
    let trouble: [&[u8]; 12] = [
        b"000 (7.0.0) 12/31 23:59:00 Job submitted from host: <1.2.3.4:9618>\n...\n",
        b"001 (7.0.0) 01/01 00:00:01 Job executing on host: <1.2.3.4:9618>\n...\n",
        b"008 (0.0.0) 06/15 10:00:00 Global JobLog: ctime=1500000000 id=x sequence=1 size=0 events=0 offset=0 event_off=0 max_rotation=1 creator_name=<>\n...\n",
        b"012 (7.0.0) 02/30 10:00:00 Job was held.\n\tdisk\n\tCode 3 Subcode 0\n...\n",
        b"012 (7.0.0) 2024-02-30 10:00:00 Job was held.\n\tdisk\n...\n",
        b"junk line\nmore junk\n...\n",
        b"012 (7.0.0) 2024-03-01 10:00:00 Job was held.\n\tno terminator\n",
        b"013 (7.0.0) 2024-03-01 10:00:00 Job was released.\r\n\tvia condor_release\r\n...\r\n",
        b"005 (7.0.0) 2024-03-01 10:00:00 Job terminated.\n\tgarbage\n...\n",
        b"013 (7.0.0) 2024-03-01 10:00:00 Job was released.\n\t\xff\xfe bad bytes\n...\n\n\n",
        b"12 (7.0.0) 2024-03-01 10:00:00 bad header\n...\n",
        b"...\n...\n",
    ];
    let mut out = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        out.extend_from_slice(log);
        out.extend_from_slice(trouble[i % trouble.len()]);
        if i % 5 == 0 {
            out.extend_from_slice(trouble[(i / 5 + 3) % trouble.len()]);
        }
    }
    out
}

#[test]
fn threads_change_nothing() {
    let data = corpus();
    assert!(data.len() > 100_000, "corpus of {} bytes", data.len());
    // The year inferred, as for legacy logs, and given.
    let opts = [
        ReadOptions {
            zone: Zone::Utc,
            ..Default::default()
        },
        ReadOptions {
            zone: Zone::Fixed(3600),
            year: Some(2023),
            ..Default::default()
        },
    ];
    for opts in &opts {
        // Cut short inside an event, too: the partial event stays partial.
        for data in [&data[..], &data[..data.len() - 30]] {
            let one = read(data, opts, 1, 1 << 20);
            assert!(one.0.iter().filter(|i| i.is_err()).count() > 10);
            for (threads, batch) in [(2, 64), (2, 5000), (3, 777), (4, 65536), (2, 1 << 20)] {
                let many = read(data, opts, threads, batch);
                assert_eq!(
                    many.0.len(),
                    one.0.len(),
                    "{threads} threads, batch {batch}"
                );
                for (a, b) in many.0.iter().zip(&one.0) {
                    assert_eq!(a, b, "{threads} threads, batch {batch}");
                }
                assert_eq!(many.1, one.1);
            }
        }
    }
}

/// Counting (`count_only`, what `events --summary` does) sees what reading sees: the same
/// events per number, of one job or all, and the same errors with the same lines, also when
/// the parsing threads count and drop events themselves, legacy years resolved in order.
#[test]
fn counting_counts_what_reading_reads() {
    let data = corpus();
    let mut opts = vec![ReadOptions {
        zone: Zone::Utc,
        ..Default::default()
    }];
    opts.push(ReadOptions {
        year: Some(2023),
        ..opts[0].clone()
    });
    for opts in &opts {
        let (items, incomplete) = read(&data, opts, 1, 1 << 20);
        let errors: Vec<&ParseError> = items.iter().filter_map(|i| i.as_ref().err()).collect();
        assert!(errors.len() > 10);
        for job in [
            None,
            Some((7, None)),
            Some((7, Some(0))),
            Some((7, Some(1))),
        ] {
            let mut want = EventCounts::default();
            for event in items.iter().flatten() {
                if job.is_none_or(|(c, p): (i64, Option<i64>)| event.id.is_of(c, p)) {
                    want.add(event.number);
                }
            }
            let want: Vec<(u16, u64)> = want.iter().collect();
            for (threads, batch) in [(1, 1 << 20), (2, 64), (2, 5000), (3, 777), (2, 1 << 20)] {
                let mut reader = EventReader::new(&data[..], "x.log", opts.clone());
                reader.set_threads(threads);
                reader.set_batch_bytes(batch);
                reader.count_only(job);
                let yielded: Vec<_> = reader.by_ref().collect();
                let got: Vec<&ParseError> = yielded
                    .iter()
                    .map(|i| i.as_ref().expect_err("counting yields only errors"))
                    .collect();
                let what = format!("{threads} threads, batch {batch}, job {job:?}");
                assert_eq!(got, errors, "{what}");
                let counted: Vec<(u16, u64)> = reader.tally().unwrap().counts.iter().collect();
                assert_eq!(counted, want, "{what}");
                assert_eq!(reader.incomplete(), incomplete, "{what}");
            }
        }
    }
}

#[test]
fn a_mapped_file_reads_as_the_same_file_read() {
    let data = corpus();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    // Several read chunks, so the map's window moves as reads would.
    for _ in 0..6 {
        file.write_all(&data).unwrap();
    }
    file.write_all(b"005 (1.0.0) 2024-03-01 10:00:00 Job terminated.\n")
        .unwrap();
    file.flush().unwrap();
    let opts = ReadOptions {
        zone: Zone::Utc,
        ..Default::default()
    };
    // Small batches too: many of them, each cut from the map's moving window.
    for (threads, batch) in [(1, None), (2, None), (2, Some(5000)), (3, Some(777))] {
        let mut read = EventReader::open(file.path(), opts.clone()).unwrap();
        read.set_threads(1);
        let a: Vec<_> = read.by_ref().collect();
        let mut mapped = EventReader::open_mapped(file.path(), opts.clone()).unwrap();
        mapped.set_threads(threads);
        if let Some(batch) = batch {
            mapped.set_batch_bytes(batch);
        }
        let b: Vec<_> = mapped.by_ref().collect();
        assert_eq!(a.len(), b.len());
        assert!(a == b);
        assert_eq!(read.incomplete(), mapped.incomplete());
        assert_eq!(read.offset(), mapped.offset());
        // Follow mode: the writer finishes the event; the mapped reader reads on.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(file.path())
            .unwrap();
        f.write_all(b"\t(1) Normal termination (return value 0)\n...\n")
            .unwrap();
        for r in [&mut read, &mut mapped] {
            r.clear_eof();
        }
        let a: Vec<_> = read.by_ref().collect();
        let b: Vec<_> = mapped.by_ref().collect();
        assert_eq!(a.len(), 1);
        assert!(a == b);
        assert_eq!(mapped.incomplete(), None);
        assert_eq!(read.offset(), mapped.offset());
        // Back to the unfinished state for the next round.
        let len = file.as_file().metadata().unwrap().len();
        file.as_file().set_len(len - 45).unwrap();
    }
}

#[test]
fn readers_can_still_move_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<EventReader<std::fs::File>>();
    send_and_sync::<EventReader<&[u8]>>();
}
