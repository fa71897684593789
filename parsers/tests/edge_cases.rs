//! Hand-made logs with exact expectations: truncated, interleaved, binary garbage,
//! half-written (follow mode), missing terminators, and every date form.

use std::io::{Read, Write};

use holdadvisor_parsers::event::{DateForm, EventBody, FileTransferKind, Termination};
use holdadvisor_parsers::reader::read_bytes;
use holdadvisor_parsers::{EventReader, Format, ReadOptions, Zone};

fn utc() -> ReadOptions {
    ReadOptions {
        zone: Zone::Utc,
        year: Some(2024),
        ..Default::default()
    }
}

const SUBMIT: &str = "000 (101.000.000) 2024-03-02 09:00:00 Job submitted from host: <10.0.0.1:9618?sock=schedd>\n    DAG Node: fetch\n...\n";
const HELD: &str = "012 (101.000.000) 2024-03-02 09:15:07 Job was held.\n\tTransfer input files failure at access point ap1 while sending files to the execution point. Details: reading from file /home/alice/in.dat: (errno 2) No such file or directory\n\tCode 13 Subcode 2\n...\n";
const RELEASED: &str = "013 (101.000.000) 2024-03-02 09:20:00 Job was released.\n\tvia condor_release (by user alice)\n...\n";

#[test]
fn clean_log_reads_every_event_with_positions() {
    let log = format!("{SUBMIT}{HELD}{RELEASED}");
    let r = read_bytes(log.as_bytes(), utc());
    assert_eq!(r.errors, vec![]);
    assert_eq!(r.incomplete, None);
    assert_eq!(r.format, Some(Format::Text));
    let numbers: Vec<u16> = r.events.iter().map(|e| e.number).collect();
    assert_eq!(numbers, [0, 12, 13]);
    assert_eq!(r.events[0].dag_node(), Some("fetch"));
    assert_eq!(r.events[1].position.offset, SUBMIT.len() as u64);
    assert_eq!(r.events[1].position.line, 4);
    assert_eq!(r.events[2].position.line, 8);
    let h = r.events[1].held().unwrap();
    assert_eq!((h.code, h.subcode), (13, 2));
    assert!(
        h.reason
            .as_deref()
            .unwrap()
            .ends_with("No such file or directory")
    );
    assert_eq!(r.events[1].timestamp, 1709370907);
}

#[test]
fn truncated_log_keeps_complete_events_and_reports_the_partial_one() {
    let log = format!("{SUBMIT}{HELD}");
    let cut = SUBMIT.len() + 60; // mid-way through the held event's reason
    let r = read_bytes(&log.as_bytes()[..cut], utc());
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.errors, vec![]);
    let partial = r.incomplete.expect("partial event reported");
    assert_eq!(
        (partial.offset, partial.line, partial.bytes),
        (SUBMIT.len() as u64, 4, 60)
    );
}

#[test]
fn follow_mode_returns_a_half_written_event_once_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    let mut w = std::fs::File::create(&path).unwrap();
    let held = HELD.as_bytes();
    w.write_all(SUBMIT.as_bytes()).unwrap();
    w.write_all(&held[..100]).unwrap();
    w.flush().unwrap();
    let mut reader = EventReader::open(&path, utc()).unwrap();
    let first: Vec<_> = reader.by_ref().collect();
    assert_eq!(first.len(), 1);
    assert!(first[0].is_ok());
    let partial = reader
        .incomplete()
        .expect("half-written event is incomplete, not an error");
    assert_eq!(partial.offset, SUBMIT.len() as u64);
    // The writer finishes the event; the reader, told to look again, returns it whole.
    w.write_all(&held[100..]).unwrap();
    w.write_all(RELEASED.as_bytes()).unwrap();
    w.flush().unwrap();
    reader.clear_eof();
    let rest: Vec<_> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(rest.iter().map(|e| e.number).collect::<Vec<_>>(), [12, 13]);
    assert_eq!(rest[0].held().unwrap().code, 13);
    assert_eq!(reader.incomplete(), None);
    assert_eq!(
        reader.offset(),
        (SUBMIT.len() + HELD.len() + RELEASED.len()) as u64
    );
}

#[test]
fn interleaved_jobs_and_missing_terminator_resynchronise() {
    // Two jobs interleaved; the first event lost its `...` (a crashed writer).
    let exec = "001 (102.000.000) 2024-03-02 09:01:00 Job executing on host: <10.0.0.9:9618>\n";
    let log = format!("{exec}{SUBMIT}{HELD}");
    let r = read_bytes(log.as_bytes(), utc());
    assert_eq!(
        r.events
            .iter()
            .map(|e| (e.number, e.id.cluster))
            .collect::<Vec<_>>(),
        [(1, 102), (0, 101), (12, 101)]
    );
    assert_eq!(r.errors.len(), 1);
    let e = &r.errors[0];
    assert_eq!((e.line, e.offset), (2, exec.len() as u64));
    assert_eq!(
        e.expected,
        "the terminator `...` before the next event header"
    );
}

#[test]
fn blank_lines_and_orphan_terminators_are_skipped_and_reported() {
    // HTCondor's reader stops silently at both; ours reads on.
    let log = format!("...\n{SUBMIT}\n\n{HELD}");
    let r = read_bytes(log.as_bytes(), utc());
    assert_eq!(r.events.len(), 2);
    assert_eq!(
        r.errors.len(),
        1,
        "the orphan `...` is reported; blank lines are not"
    );
    assert_eq!(
        (
            r.errors[0].line,
            r.errors[0].offset,
            r.errors[0].found.as_str()
        ),
        (1, 0, "...")
    );
}

#[test]
fn binary_garbage_between_events_is_one_error_with_its_offset() {
    let mut log = SUBMIT.as_bytes().to_vec();
    let garbage_at = log.len();
    log.extend_from_slice(b"\x00\xff\xfe\x01garbage\x00\n\x7f\x80\n");
    log.extend_from_slice(HELD.as_bytes());
    let r = read_bytes(&log, utc());
    assert_eq!(
        r.events.iter().map(|e| e.number).collect::<Vec<_>>(),
        [0, 12]
    );
    assert_eq!(r.errors.len(), 1);
    assert_eq!(
        (r.errors[0].line, r.errors[0].offset),
        (4, garbage_at as u64)
    );
    assert!(
        r.errors[0].found.starts_with("\\x00"),
        "{}",
        r.errors[0].found
    );
}

#[test]
fn malformed_event_body_names_the_line_and_reading_resumes() {
    let bad = "005 (101.000.000) 2024-03-02 10:00:00 Job terminated.\n\tsomething else\n...\n";
    let log = format!("{SUBMIT}{bad}{RELEASED}");
    let r = read_bytes(log.as_bytes(), utc());
    assert_eq!(
        r.events.iter().map(|e| e.number).collect::<Vec<_>>(),
        [0, 13]
    );
    assert_eq!(r.errors.len(), 1);
    let e = &r.errors[0];
    assert_eq!(e.line, 5);
    assert_eq!(e.offset, (SUBMIT.len() + bad.find('\t').unwrap()) as u64);
    assert!(e.expected.contains("Normal termination"), "{}", e.expected);
    assert!(
        e.to_string()
            .starts_with("-:5: (byte 169) expected a termination line"),
        "{e}"
    );
}

#[test]
fn strict_mode_stops_at_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.log");
    std::fs::write(&path, format!("{SUBMIT}garbage\n{HELD}")).unwrap();
    let err = holdadvisor_parsers::read_path(&path, utc(), true).unwrap_err();
    assert_eq!((err.line, err.offset), (4, SUBMIT.len() as u64));
    assert!(err.file.ends_with("bad.log"));
    let lenient = holdadvisor_parsers::read_path(&path, utc(), false).unwrap();
    assert_eq!((lenient.events.len(), lenient.errors.len()), (2, 1));
}

#[test]
fn crlf_line_endings_read_like_lf() {
    let log = format!("{SUBMIT}{HELD}").replace('\n', "\r\n");
    let r = read_bytes(log.as_bytes(), utc());
    assert_eq!(r.errors, vec![]);
    assert_eq!(r.events[1].held().unwrap().subcode, 2);
    assert_eq!(r.events[0].dag_node(), Some("fetch"));
}

#[test]
fn date_forms_and_year_inference() {
    let log = "\
000 (1.000.000) 12/31 23:59:58 Job submitted from host: <h>\n...\n\
001 (1.000.000) 01/01 00:00:03.250Z Job executing on host: <e>\n...\n\
006 (1.000.000) 2025-01-01T00:00:04 Image size of job updated: 10\n\t5  -  MemoryUsage of job (MB)\n...\n\
013 (1.000.000) 2025-01-01 00:00:05+02:00 Job was released.\n...\n";
    let r = read_bytes(
        log.as_bytes(),
        ReadOptions {
            zone: Zone::Utc,
            year: Some(2024),
            ..Default::default()
        },
    );
    assert_eq!(r.errors, vec![]);
    let t: Vec<String> = r
        .events
        .iter()
        .map(|e| e.time.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .collect();
    assert_eq!(
        t,
        [
            "2024-12-31 23:59:58.000",
            "2025-01-01 00:00:03.250",
            "2025-01-01 00:00:04.000",
            "2025-01-01 00:00:05.000"
        ]
    );
    assert_eq!(r.events[0].date_form, DateForm::Legacy);
    assert!(r.events[1].utc);
    assert_eq!(r.events[2].date_form, DateForm::Iso);
    // A numeric offset (HTCondor never writes one) is honoured rather than ignored.
    assert_eq!(r.events[3].timestamp, 1735689605 - 7200);
    // Without an explicit year, the file's modification time anchors it: a December event
    // in a file last written in January is from the year before.
    let anchor = chrono::NaiveDate::from_ymd_opt(2031, 1, 2)
        .unwrap()
        .and_hms_opt(0, 0, 0);
    let r = read_bytes(
        log.as_bytes(),
        ReadOptions {
            zone: Zone::Utc,
            anchor,
            ..Default::default()
        },
    );
    assert_eq!(r.events[0].time.format("%Y").to_string(), "2030");
    assert_eq!(r.events[1].time.format("%Y").to_string(), "2031");
}

#[test]
fn every_typed_event_reads_its_fields() {
    let log = "\
001 (7.003.000) 2024-03-02 09:01:00 Job executing on host: <10.0.0.9:9618?sock=startd>\n\tSlotName: slot1_2@ep07.example.org\n\tCondorScratchDir = \"/var/lib/condor/execute/dir_1\"\n\tCpus = 1\n\tMemory = 2048\n...\n\
002 (7.003.000) 2024-03-02 09:01:01 Job file not executable.\n\t(0) Job file not executable.\n...\n\
004 (7.003.000) 2024-03-02 09:02:00 Job was evicted. Code 1022 Subcode 0\n\t(0) CPU times\n\t\tUsr 0 00:00:01, Sys 0 00:00:00  -  Run Remote Usage\n\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage\n\t10  -  Run Bytes Sent By Job\n\t20  -  Run Bytes Received By Job\n\tReason: Job was vacated by the access point\n...\n\
005 (7.003.000) 2024-03-02 09:03:00 Job terminated.\n\t(0) Abnormal termination (signal 9)\n\t(1) Corefile in: /tmp/core.1\n\t\tUsr 0 00:00:01, Sys 0 00:00:00  -  Run Remote Usage\n\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage\n\t\tUsr 0 00:00:01, Sys 0 00:00:00  -  Total Remote Usage\n\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Local Usage\n\t1  -  Run Bytes Sent By Job\n\t2  -  Run Bytes Received By Job\n\t3  -  Total Bytes Sent By Job\n\t4  -  Total Bytes Received By Job\n\tPartitionable Resources :    Usage  Request Allocated\n\t   Cpus                 :     0.22        1         1 \n\t   Memory (MB)          :     2301     2048      2048 \n...\n\
006 (7.003.000) 2024-03-02 09:02:30 Image size of job updated: 2400000\n\t2301  -  MemoryUsage of job (MB)\n\t2356000  -  ResidentSetSize of job (KB)\n...\n\
007 (7.003.000) 2024-03-02 09:02:31 Shadow exception!\n\tError from slot1_2@ep07: out of memory\n\t0  -  Run Bytes Sent By Job\n\t163  -  Run Bytes Received By Job\n...\n\
009 (7.003.000) 2024-03-02 09:04:00 Job was aborted.\n\tvia condor_rm (by user alice)\n...\n\
010 (7.003.000) 2024-03-02 09:04:01 Job was suspended.\n\tNumber of processes actually suspended: 3\n...\n\
016 (7.003.000) 2024-03-02 09:04:02 POST Script terminated.\n\t(1) Normal termination (return value 1)\n    DAG Node: train_2\n...\n\
021 (7.003.000) 2024-03-02 09:04:03 Error from starter on slot1_2@ep07:\n\tFailed to open '/x'\n\tCode 6 Subcode 2\n...\n\
022 (7.003.000) 2024-03-02 09:04:04 Job disconnected, attempting to reconnect\n    Socket between submit and execute hosts closed unexpectedly\n    Trying to reconnect to slot1@ep07 <10.0.0.9:9618>\n...\n\
023 (7.003.000) 2024-03-02 09:04:05 Job reconnected to slot1@ep07\n    startd address: <10.0.0.9:9618>\n    starter address: <10.0.0.9:9619>\n...\n\
024 (7.003.000) 2024-03-02 09:04:06 Job reconnection failed\n    Job not found at execution machine\n    Can not reconnect to slot1@ep07, rescheduling job\n...\n\
027 (7.003.000) 2024-03-02 09:04:07 Job submitted to grid resource\n    GridResource: batch slurm\n    GridJobId: batch slurm 42\n...\n\
028 (7.003.000) 2024-03-02 09:04:08 Job ad information event triggered.\nProc = 3\nJOBGLIDEIN_Site = \"SiteA\"\nCurrentTime = time()\n...\n\
036 (7.-01.000) 2024-03-02 09:04:09 Cluster removed\n\tMaterialized 10 jobs from 10 items.\tComplete\n...\n\
040 (7.003.000) 2024-03-02 09:04:10 Entered queue to transfer output files\n\tSeconds spent in queue: 12\n\tTransferring to host: <10.0.0.1:9618>\n...\n\
104 (7.003.000) 2024-03-02 09:04:11 A future event\n\tWidget = 7\n...\n";
    let r = read_bytes(log.as_bytes(), utc());
    assert_eq!(r.errors, vec![], "no errors");
    let b: Vec<&EventBody> = r.events.iter().map(|e| &e.body).collect();
    let EventBody::Execute(x) = b[0] else {
        panic!("{:?}", b[0])
    };
    assert_eq!(
        (x.slot_name.as_deref(), x.props.len()),
        (Some("slot1_2@ep07.example.org"), 3)
    );
    assert_eq!(b[1], &EventBody::ExecutableError { error_type: 0 });
    let EventBody::Evicted(v) = b[2] else {
        panic!()
    };
    assert_eq!(
        (
            v.code,
            v.subcode,
            v.reason.as_deref(),
            v.rusage.received_bytes
        ),
        (
            Some(1022),
            Some(0),
            Some("Job was vacated by the access point"),
            Some(20.0)
        )
    );
    let EventBody::Terminated(t) = b[3] else {
        panic!()
    };
    assert_eq!(
        t.termination,
        Termination::Abnormal {
            signal: 9,
            core_file: Some("/tmp/core.1".into())
        }
    );
    assert_eq!(t.rusage.total_received_bytes, Some(4.0));
    assert_eq!(
        t.usage[1].usage.as_ref().and_then(|v| v.as_i64()),
        Some(2301)
    );
    let EventBody::ImageSize(i) = b[4] else {
        panic!()
    };
    assert_eq!(
        (i.size_kb, i.memory_usage_mb, i.resident_set_size_kb),
        (2400000, Some(2301), Some(2356000))
    );
    assert!(matches!(
        b[5],
        EventBody::ShadowException {
            received_bytes: Some(163.0),
            ..
        }
    ));
    assert_eq!(
        b[6],
        &EventBody::Aborted {
            reason: Some("via condor_rm (by user alice)".into())
        }
    );
    assert_eq!(b[7], &EventBody::Suspended { num_pids: 3 });
    assert_eq!(r.events[8].dag_node(), Some("train_2"));
    assert!(matches!(
        b[9],
        EventBody::RemoteError {
            code: 6,
            subcode: 2,
            critical: true,
            ..
        }
    ));
    assert!(
        matches!(b[10], EventBody::Disconnected { startd_name, .. } if startd_name == "slot1@ep07")
    );
    assert!(
        matches!(b[11], EventBody::Reconnected { starter_addr, .. } if starter_addr == "<10.0.0.9:9619>")
    );
    assert!(
        matches!(b[12], EventBody::ReconnectFailed { reason, .. } if reason == "Job not found at execution machine")
    );
    assert!(matches!(b[13], EventBody::GridSubmit { job_id, .. } if job_id == "batch slurm 42"));
    let EventBody::JobAdInformation { attrs } = b[14] else {
        panic!()
    };
    assert_eq!(attrs.len(), 3);
    assert_eq!(r.events[15].id.proc, -1);
    assert_eq!(
        b[15],
        &EventBody::ClusterRemove {
            next_proc: 10,
            next_row: 10,
            completion: 1,
            notes: None
        }
    );
    assert_eq!(
        b[16],
        &EventBody::FileTransfer {
            kind: FileTransferKind::OutputQueued,
            queueing_delay: Some(12),
            host: Some("<10.0.0.1:9618>".into())
        }
    );
    let EventBody::Other { head, attrs, .. } = b[17] else {
        panic!()
    };
    assert_eq!((head.as_str(), attrs.len()), ("A future event", 1));
    let json = r.events[17].to_json();
    assert_eq!(
        (
            json["MyType"].as_str(),
            json["EventHead"].as_str(),
            json["Widget"].as_i64()
        ),
        (Some("FutureEvent"), Some("A future event"), Some(7))
    );
}

#[test]
fn json_and_xml_formats_give_the_same_events_as_text() {
    let text = read_bytes(format!("{SUBMIT}{HELD}{RELEASED}").as_bytes(), utc());
    let mut json = String::new();
    for e in &text.events {
        json.push_str(&serde_json::to_string_pretty(&e.to_json()).unwrap());
        json.push('\n');
    }
    let from_json = read_bytes(json.as_bytes(), utc());
    assert_eq!(from_json.format, Some(Format::Json));
    assert_eq!(from_json.errors, vec![]);
    let mut xml = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE classads SYSTEM \"classads.dtd\">\n<classads>\n",
    );
    for e in &text.events {
        xml.push_str("<c>\n");
        for (k, v) in e.to_attrs() {
            let typed = match v {
                holdadvisor_parsers::Value::Int(i) => format!("<i>{i}</i>"),
                holdadvisor_parsers::Value::Str(s) => {
                    format!("<s>{}</s>", holdadvisor_parsers::markup::escape_xml(&s))
                }
                other => format!("<e>{other}</e>"),
            };
            xml.push_str(&format!("    <a n=\"{k}\">{typed}</a>\n"));
        }
        xml.push_str("</c>\n");
    }
    let from_xml = read_bytes(xml.as_bytes(), utc());
    assert_eq!(from_xml.format, Some(Format::Xml));
    assert_eq!(from_xml.errors, vec![]);
    for other in [&from_json, &from_xml] {
        assert_eq!(other.events.len(), 3);
        for (a, b) in text.events.iter().zip(&other.events) {
            assert_eq!((a.number, a.id, a.timestamp), (b.number, b.id, b.timestamp));
            assert_eq!(a.to_attrs(), b.to_attrs());
        }
    }
    // A half-written JSON object is incomplete, not an error.
    let cut = json.len() - 20;
    let partial = read_bytes(&json.as_bytes()[..cut], utc());
    assert_eq!((partial.events.len(), partial.errors.len()), (2, 0));
    assert!(partial.incomplete.is_some());
}

#[test]
fn no_input_makes_the_reader_panic() {
    // A deterministic sweep of nasty inputs; the fuzz target explores further.
    let mut seeds: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"...".to_vec(),
        b"{".to_vec(),
        b"<c>".to_vec(),
        b"000 (".to_vec(),
        b"012 (1.0.0) 2024-13-40 99:99:99 Job was held.\n...\n".to_vec(),
        b"012 (99999999999999999999999.0.0) 2024-01-01 00:00:00 x\n...\n".to_vec(),
        b"005 (1.0.0) 02/29 00:00:00 Job terminated.\n\t(1) Normal termination (return value 99999999999999999999)\n...\n".to_vec(),
        b"{\"EventTypeNumber\": 70000, \"EventTime\": \"x\"}".to_vec(),
        b"<c><a n=\"EventTypeNumber\"><i>12</i></a>".to_vec(),
        "012 (1.0.0) 2024-01-01 00:00:00 Job was held.\n\t\u{00e9}\u{1F600}\n\tCode x Subcode y\n...\n".as_bytes().to_vec(),
    ];
    let base = format!("{SUBMIT}{HELD}");
    for cut in 0..base.len() {
        seeds.push(base.as_bytes()[..cut].to_vec());
    }
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..500 {
        let mut b = base.as_bytes().to_vec();
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % b.len();
            b[i] = (x >> 32) as u8;
        }
        seeds.push(b);
    }
    for s in &seeds {
        let r = read_bytes(s, utc());
        // Every byte is accounted for: events, errors or the incomplete tail.
        assert!(
            r.events.len() + r.errors.len() + usize::from(r.incomplete.is_some()) > 0
                || s.iter().all(u8::is_ascii_whitespace)
        );
    }
    // A reader over a source that fails mid-way reports the failure as an error.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = SUBMIT.len().min(buf.len());
            buf[..n].copy_from_slice(&SUBMIT.as_bytes()[..n]);
            self.0 -= 1;
            Ok(n)
        }
    }
    let items: Vec<_> = EventReader::new(Failing(1), "f", utc()).collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert!(
        items[1]
            .as_ref()
            .unwrap_err()
            .expected
            .contains("disk on fire")
    );
}

/// Hands out data a few bytes at a time, like a log still being written.
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

#[test]
fn bytes_arriving_in_pieces_read_exactly_like_the_whole() {
    // Found by the fuzzer: a run of junk seen a few bytes at a time was reported piecemeal
    // and could swallow the event after it.
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/pool/json/c.echo.json"
    ))
    .unwrap();
    let cut = json.find("\n{").unwrap() + 1;
    let inputs = [
        format!("{}001 (002.000.000) 2026-11-24 02:21:19 Job executing on host: <h>\n...\n{}", &json[..cut], &json[cut..]),
        format!("{SUBMIT}junk line one\njunk two\n{HELD}trailing junk"),
        "<c>\n<a n=\"MyType\"><s>JobHeldEvent</s></a>\n</c>\nnot xml\n<c>\n<a n=\"EventTypeNumber\"><i>12</i></a>\n<a n=\"EventTime\"><s>2024-01-01T00:00:00</s></a>\n</c>\n".to_string(),
        // Found by the fuzzer (2026-12-03): a `...` cut by the end of a read was not yet a
        // separator, so where the unfinished tail began depended on where reads ended.
        format!("{}...1-9618 (001.000.000) 2026-11-24 x", &json[..cut]),
        "<c>\n<a n=\"EventTypeNumber\"><i>12</i></a>\n</c>\n<?xml version=\"1.0\"?>\n<c>\n<a n=".to_string(),
    ];
    for input in &inputs {
        let whole = read_bytes(input.as_bytes(), utc());
        for step in [1, 2, 3, 5, 7, 13, 64] {
            let mut reader = EventReader::new(
                Trickle {
                    data: input.as_bytes(),
                    step,
                },
                "-",
                utc(),
            );
            let items: Vec<_> = reader.by_ref().collect();
            assert_eq!(reader.incomplete(), whole.incomplete, "step {step}");
            let events: Vec<_> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
            let errors: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
            assert_eq!(events.len(), whole.events.len(), "step {step}");
            assert_eq!(errors.len(), whole.errors.len(), "step {step}: {errors:?}");
            for (a, b) in events.iter().zip(&whole.events) {
                assert_eq!((a.number, a.position), (b.number, b.position));
            }
        }
    }
}
