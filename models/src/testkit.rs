//! Hand-built events and a tiny seeded synthetic pool, for this crate's tests and benches.
//!
//! **Everything here is synthetic.** [`synth_pool`] is not the project's simulator
//! (`holdadvisor simulate`, issue 3): it is a few dozen lines that make a pool whose hold
//! outcomes depend on things known at hold time (site outages seen through other jobs' holds,
//! memory use against request, the job's own hold count) so that tests can check that the
//! encoder carries that information and that the model can use it. Figures measured on it say
//! nothing about real pools.

use chrono::DateTime;
use holdadvisor_parsers::event::{
    DateForm, Evicted, Execute, ImageSize, Rusage, Submit, Terminated, UsageRow,
};
use holdadvisor_parsers::{Event, EventBody, EventType, Held, JobId, Position, Termination, Value};

/// The seeded generator, re-exported for the tests and benches that build pools with it.
pub use crate::rng::Rng;

/// Constructors of single events (proc 0 of the given cluster unless said otherwise).
pub mod ev {
    use super::*;

    pub fn event(cluster: i64, proc: i64, t: i64, number: EventType, body: EventBody) -> Event {
        Event {
            number: number as u16,
            id: JobId::new(cluster, proc),
            time: DateTime::from_timestamp(t, 0)
                .unwrap_or_default()
                .naive_utc(),
            utc: true,
            timestamp: t,
            date_form: DateForm::Iso,
            body,
            position: Position::default(),
        }
    }

    pub fn submit(c: i64, t: i64) -> Event {
        event(
            c,
            0,
            t,
            EventType::Submit,
            EventBody::Submit(Submit {
                host: "<10.0.0.1:9618>".into(),
                log_notes: None,
                user_notes: None,
                warnings: None,
            }),
        )
    }
    pub fn execute(c: i64, t: i64) -> Event {
        execute_at(c, 0, t, "<10.0.1.1:9618>")
    }
    pub fn execute_at(c: i64, p: i64, t: i64, host: &str) -> Event {
        event(
            c,
            p,
            t,
            EventType::Execute,
            EventBody::Execute(Execute {
                host: host.into(),
                slot_name: None,
                props: Vec::new(),
                node: None,
            }),
        )
    }
    pub fn image_size(c: i64, p: i64, t: i64, memory_mb: i64) -> Event {
        event(
            c,
            p,
            t,
            EventType::ImageSize,
            EventBody::ImageSize(ImageSize {
                size_kb: memory_mb * 1024,
                memory_usage_mb: Some(memory_mb),
                resident_set_size_kb: Some(memory_mb * 1024),
                proportional_set_size_kb: None,
            }),
        )
    }
    fn usage(request_mb: i64) -> Vec<UsageRow> {
        vec![UsageRow {
            resource: "Memory".into(),
            usage: None,
            request: Some(Value::Int(request_mb)),
            allocated: None,
            assigned: None,
        }]
    }
    pub fn evicted(c: i64, t: i64) -> Event {
        event(
            c,
            0,
            t,
            EventType::JobEvicted,
            EventBody::Evicted(Box::new(Evicted {
                checkpointed: false,
                requeued: None,
                terminated_and_requeued: false,
                reason: None,
                code: None,
                subcode: None,
                rusage: Rusage::default(),
                usage: usage(128),
            })),
        )
    }
    pub fn terminated(c: i64, t: i64, return_value: i64) -> Event {
        terminated_proc(c, 0, t, Termination::Normal { return_value }, 128)
    }
    pub fn terminated_signal(c: i64, t: i64, signal: i64) -> Event {
        terminated_proc(
            c,
            0,
            t,
            Termination::Abnormal {
                signal,
                core_file: None,
            },
            128,
        )
    }
    pub fn terminated_proc(
        c: i64,
        p: i64,
        t: i64,
        termination: Termination,
        request_mb: i64,
    ) -> Event {
        event(
            c,
            p,
            t,
            EventType::JobTerminated,
            EventBody::Terminated(Box::new(Terminated {
                termination,
                rusage: Rusage::default(),
                usage: usage(request_mb),
                node: None,
            })),
        )
    }
    pub fn held(c: i64, t: i64, code: i64, subcode: i64) -> Event {
        held_proc(c, 0, t, code, subcode, "Error from slot1@vm: held")
    }
    pub fn held_proc(c: i64, p: i64, t: i64, code: i64, subcode: i64, reason: &str) -> Event {
        event(
            c,
            p,
            t,
            EventType::JobHeld,
            EventBody::Held(Held {
                reason: Some(reason.into()),
                code,
                subcode,
            }),
        )
    }
    pub fn released(c: i64, t: i64) -> Event {
        released_proc(c, 0, t)
    }
    pub fn released_proc(c: i64, p: i64, t: i64) -> Event {
        event(
            c,
            p,
            t,
            EventType::JobReleased,
            EventBody::Released {
                reason: Some("via condor_release (by user tester)".into()),
            },
        )
    }
    pub fn aborted(c: i64, t: i64) -> Event {
        aborted_proc(c, 0, t)
    }
    pub fn aborted_proc(c: i64, p: i64, t: i64) -> Event {
        event(
            c,
            p,
            t,
            EventType::JobAborted,
            EventBody::Aborted {
                reason: Some("via condor_rm (by user tester)".into()),
            },
        )
    }
    pub fn job_ad(c: i64, p: i64, t: i64, attrs: Vec<(String, Value)>) -> Event {
        event(
            c,
            p,
            t,
            EventType::JobAdInformation,
            EventBody::JobAdInformation { attrs },
        )
    }
}

/// `count` random inputs of `steps` x `width`, input k left-padded with `k % steps` zero rows
/// (as encoders pad short histories), values in [-1, 1).
pub fn padded_inputs(
    rng: &mut Rng,
    count: usize,
    steps: usize,
    width: usize,
) -> Vec<crate::encode::EpisodeInput> {
    (0..count)
        .map(|k| {
            let padding = k % steps;
            let values: Vec<f32> = (0..steps * width)
                .map(|v| {
                    if v / width < padding {
                        0.0
                    } else {
                        (rng.unit() * 2.0 - 1.0) as f32
                    }
                })
                .collect();
            crate::encode::EpisodeInput::from_dense(steps, width, &values)
        })
        .collect()
}

/// A small synthetic pool (see the module documentation): events of `jobs` jobs in time
/// order, over three sites with occasional transfer outages. Same seed, same events.
pub fn synth_pool(seed: u64, jobs: usize) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let sites = ["<10.1.0.5:9618>", "<10.2.0.5:9618>", "<10.3.0.5:9618>"];
    // Outage windows per site: (start, end) in seconds from the pool's start.
    let span = (jobs as i64) * 40 + 20_000;
    let mut outages: Vec<(usize, i64, i64)> = Vec::new();
    for s in 0..sites.len() {
        let mut t = rng.below(8_000) as i64;
        while t < span {
            let len = 1_500 + rng.below(3_000) as i64;
            outages.push((s, t, t + len));
            t += len + 6_000 + rng.below(12_000) as i64;
        }
    }
    let in_outage = |s: usize, t: i64| outages.iter().any(|&(os, a, b)| os == s && t >= a && t < b);
    let t0 = 1_790_000_000i64;
    let mut events = Vec::new();
    let owners = ["alice", "bob", "carol", "dave", "erin"];
    for j in 0..jobs {
        let cluster = 100 + j as i64;
        let mut t = (j as i64) * 40 + rng.below(40) as i64;
        let request = [128i64, 256, 512, 1024][rng.below(4) as usize];
        // true memory need: most fit, some exceed a little, some a lot
        let r = rng.unit();
        let need = if r < 0.75 {
            request / 2
        } else if r < 0.88 {
            request + request / 8
        } else {
            request * 3
        };
        let bad_input = rng.chance(0.05); // input file missing: transfer holds that never clear
        events.push(ev::submit(cluster, t0 + t));
        events.push(ev::job_ad(
            cluster,
            0,
            t0 + t,
            vec![
                (
                    "Owner".into(),
                    Value::Str(owners[rng.below(5) as usize].into()),
                ),
                ("RequestMemory".into(), Value::Int(request)),
            ],
        ));
        let mut holds = 0;
        let mut done = false;
        let mut mem_fixed = false;
        while !done {
            t += 30 + rng.below(300) as i64;
            let site = rng.below(sites.len() as u64) as usize;
            events.push(ev::execute_at(cluster, 0, t0 + t, sites[site]));
            // input transfer hold: missing file, or the site is in an outage
            if bad_input || (in_outage(site, t) && rng.chance(0.85)) {
                t += 5;
                let sub = if bad_input { 2 } else { 110 };
                let reason = if bad_input {
                    "Transfer input files failure at access point ap while sending files to execution point slot1@ep. Details: reading from file in.txt: (errno 2) No such file or directory"
                } else {
                    "Transfer input files failure at access point ap while sending files to execution point slot1@ep. Details: Connection timed out"
                };
                events.push(ev::held_proc(cluster, 0, t0 + t, 13, sub, reason));
                holds += 1;
            } else if !mem_fixed && need > request {
                t += 60 + rng.below(600) as i64;
                events.push(ev::image_size(cluster, 0, t0 + t, need));
                t += 10;
                events.push(ev::held_proc(
                    cluster,
                    0,
                    t0 + t,
                    34,
                    102,
                    "Error from slot1@ep: memory usage exceeded request_memory",
                ));
                holds += 1;
                // an admin sometimes raises the limit of the little-over jobs
                if need < request * 2 && rng.chance(0.7) {
                    mem_fixed = true;
                }
            } else if rng.chance(0.04) {
                t += 100;
                events.push(ev::held_proc(
                    cluster,
                    0,
                    t0 + t,
                    3,
                    0,
                    "The job attribute PeriodicHold expression evaluated to TRUE",
                ));
                holds += 1;
                if rng.chance(0.5) {
                    t += 50;
                    events.push(ev::aborted(cluster, t0 + t));
                    done = true;
                    continue;
                }
            } else {
                t += 200 + rng.below(2_000) as i64;
                events.push(ev::image_size(cluster, 0, t0 + t, need.min(request)));
                t += 100;
                let rv = if rng.chance(0.05) { 1 } else { 0 };
                events.push(ev::terminated_proc(
                    cluster,
                    0,
                    t0 + t,
                    Termination::Normal { return_value: rv },
                    request,
                ));
                done = true;
                continue;
            }
            // held: release after a while, or give up
            if holds >= 4 || rng.chance(0.06) {
                t += 600;
                events.push(ev::aborted(cluster, t0 + t));
                done = true;
            } else {
                t += 300 + rng.below(1_200) as i64;
                events.push(ev::released_proc(cluster, 0, t0 + t));
            }
        }
    }
    events.sort_by_key(|e| e.timestamp);
    events
}
