//! One cluster's life: its procs matched, transferring, running, held, released or removed,
//! as a small discrete-event simulation. Clusters share only the pool's exogenous state
//! (outages and black holes), so each one is simulated on its own, in submission order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use chrono::DateTime;
use holdadvisor_parsers::condor_q::JobAd;
use holdadvisor_parsers::event::*;
use holdadvisor_parsers::{EventType, Value};

use super::pool::{OutageKind, Pool};
use super::rng::Rng;
use super::scenario::{Reaction, Scenario};

/// What the cluster's owner asked for and what is wrong with it (hidden from the logs).
pub struct Spec {
    pub cluster: i64,
    pub owner: String,
    /// The owner's habits, the same for all their clusters.
    pub habit: Habit,
    pub submit: i64,
    pub procs: u32,
    pub end: i64,
    pub seed: u64,
    /// `[stress]`: every proc misses its input file (the broken cluster).
    pub broken: bool,
    /// `[stress]`: submitted in the quiet window, with nothing wrong as submitted.
    pub sound: bool,
}

/// How one owner differs from the scenario's average owner (`[users] habit_spread`): how
/// often their jobs are broken as submitted, whether they fix a resource hold's cause before
/// releasing, and how soon they look at held jobs. Real owners have such habits, and a pool's
/// log shows them only through each owner's own earlier holds and releases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Habit {
    /// Multiplies the chances of a job's own faults (missing input or output, bad executable).
    pub faults: f64,
    /// Log-odds added to `qedit_release` against a plain release on resource holds.
    pub fixes: f64,
    /// Multiplies the time until the owner looks at a held job.
    pub delay: f64,
}

impl Habit {
    /// The scenario's average owner: what every owner is when `habit_spread` is 0.
    pub const AVERAGE: Habit = Habit {
        faults: 1.0,
        fixes: 0.0,
        delay: 1.0,
    };

    /// Owner `index`'s habits, from their own random stream, so that drawing them changes no
    /// other draw of the pool (a spread of 0 gives the pools of earlier versions, byte for byte).
    pub fn of_owner(seed: u64, index: u32, spread: f64) -> Habit {
        if spread <= 0.0 {
            return Habit::AVERAGE;
        }
        let mut rng = Rng::derive(seed, 9, u64::from(index));
        Habit {
            faults: (spread * rng.normal()).exp(),
            fixes: 2.0 * spread * rng.normal(),
            delay: (spread * rng.normal()).exp(),
        }
    }

    /// The weights of a plain release and of `qedit_release` for this owner: the same total
    /// (they release as often as anyone), with the log-odds of fixing first moved by `fixes`.
    /// Hold kinds where nobody fixes first (no `qedit_release` weight) are left as they are.
    fn fix_or_not(&self, reaction: Reaction) -> (f64, f64) {
        let (release, fix) = (reaction.release, reaction.qedit_release);
        if self.fixes == 0.0 || release <= 0.0 || fix <= 0.0 {
            return (release, fix);
        }
        let total = release + fix;
        let fixing = 1.0 / (1.0 + (release / fix) * (-self.fixes).exp());
        (total * (1.0 - fixing), total * fixing)
    }
}

/// The hidden cause of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    SiteStorageOutage,
    SiteNetworkOutage,
    BlackHole,
    MissingInput,
    MissingOutput,
    MemoryOverRequest,
    DiskOverRequest,
    BadExecutable,
    RuntimeLimit,
    UserHold,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::SiteStorageOutage => "site_storage_outage",
            Cause::SiteNetworkOutage => "site_network_outage",
            Cause::BlackHole => "black_hole_ep",
            Cause::MissingInput => "missing_input_file",
            Cause::MissingOutput => "missing_output_file",
            Cause::MemoryOverRequest => "memory_above_request",
            Cause::DiskOverRequest => "disk_above_request",
            Cause::BadExecutable => "bad_executable",
            Cause::RuntimeLimit => "periodic_hold_runtime_limit",
            Cause::UserHold => "user_condor_hold",
        }
    }
}

/// One hold episode and its ground truth.
struct Episode {
    proc: u32,
    index: u32,
    time: i64,
    code: i64,
    subcode: i64,
    cause: Cause,
    site: usize,
    ep: usize,
    transient: bool,
    release_would_succeed: bool,
    clears_at: i64,
    memory_raise: (bool, Option<i64>),
    disk_raise: (bool, Option<i64>),
    user_action: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Idle,
    Running,
    Held,
    Done,
}

#[derive(Debug, Clone, Copy)]
enum End {
    Complete,
    Memory,
    Disk,
    BadExe,
    PeriodicHold,
    Evict,
    UserHold,
    ReconnectFailed,
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Match(u32),
    RunEnd(u32, End),
    UserCheck,
    PeriodicRelease(u32, u32),
}

struct HoldNow {
    reason: String,
    code: i64,
    subcode: i64,
    episode: usize,
}

struct Proc {
    st: St,
    req_mem: i64,
    req_disk: i64,
    peak_mem: i64,
    disk_kb: i64,
    runtime: i64,
    missing_input: bool,
    missing_output: bool,
    mem_over: bool,
    disk_over: bool,
    user_hold: bool,
    starts: u32,
    shadow_starts: u32,
    holds: u32,
    by_reason: Vec<(i64, u32)>,
    hold: Option<HoldNow>,
    last_hold: Option<(String, i64, i64)>,
    entered: i64,
    last_status: i64,
    ep: Option<usize>,
    run_start: i64,
    scratch: u32,
    mem_seen: i64,
    rss_seen: i64,
    img_seen: i64,
    disk_seen: i64,
    run_time_total: i64,
}

/// The output of one cluster, ready to write.
pub struct ClusterOut {
    /// Events in time order.
    pub events: Vec<Event>,
    /// `truth.jsonl` lines.
    pub truth: String,
    /// `condor_q -json` ads of the procs still in the queue at the end.
    pub ads: Vec<JobAd>,
    /// The cluster's `UserLog` path (absolute, as on the access point).
    pub user_log: String,
}

struct Sim<'a> {
    sc: &'a Scenario,
    pool: &'a Pool,
    spec: &'a Spec,
    rng: Rng,
    procs: Vec<Proc>,
    events: Vec<(i64, u64, Event)>,
    seq: u64,
    queue: BinaryHeap<Reverse<(i64, u64, ActKey)>>,
    episodes: Vec<Episode>,
    check_pending: bool,
    checks: u32,
    // Cluster properties.
    iwd: String,
    cmd: String,
    input_file: String,
    input_dir: String,
    output_file: String,
    runtime_limit: Option<i64>,
    custom_hold_reason: bool,
    periodic_release: bool,
    memory_startd: bool,
    runtime_median: f64,
    exit_code: i64,
    bad_exe: bool,
    ap_sinful: String,
    schedd_tag: String,
}

/// `Act` with an order, for the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ActKey(u8, u32, u32);

impl ActKey {
    fn of(a: Act) -> ActKey {
        match a {
            Act::Match(p) => ActKey(0, p, 0),
            Act::RunEnd(p, e) => ActKey(1, p, e as u32),
            Act::UserCheck => ActKey(2, 0, 0),
            Act::PeriodicRelease(p, ep) => ActKey(3, p, ep),
        }
    }
    fn act(self) -> Act {
        const ENDS: [End; 8] = [
            End::Complete,
            End::Memory,
            End::Disk,
            End::BadExe,
            End::PeriodicHold,
            End::Evict,
            End::UserHold,
            End::ReconnectFailed,
        ];
        match self.0 {
            0 => Act::Match(self.1),
            1 => Act::RunEnd(self.1, ENDS[self.2 as usize]),
            2 => Act::UserCheck,
            _ => Act::PeriodicRelease(self.1, self.2),
        }
    }
}

fn rusage(usr: i64, sys: i64) -> Option<std::borrow::Cow<'static, str>> {
    let f = |s: i64| {
        format!(
            "{} {:02}:{:02}:{:02}",
            s / 86400,
            s % 86400 / 3600,
            s % 3600 / 60,
            s % 60
        )
    };
    Some(format!("Usr {}, Sys {}", f(usr), f(sys)).into())
}

fn row(
    resource: &str,
    usage: Option<Value>,
    request: Option<i64>,
    allocated: Option<i64>,
) -> UsageRow {
    UsageRow {
        resource: resource.to_string().into(),
        usage,
        request: request.map(Value::Int),
        allocated: allocated.map(Value::Int),
        assigned: None,
    }
}

fn errno_text(errno: i64) -> &'static str {
    match errno {
        2 => "No such file or directory",
        5 => "Input/output error",
        28 => "No space left on device",
        104 => "Connection reset by peer",
        110 => "Connection timed out",
        _ => "Unknown error",
    }
}

const MISSPELT: [&str; 6] = [
    "sampel",
    "inptu",
    "data_v2_final",
    "calib.dat.gz",
    "config.jsno",
    "refernce",
];
const DATASETS: [&str; 6] = ["run2024b", "calib", "mc-v7", "scan", "sweep", "batch"];

pub fn simulate(sc: &Scenario, pool: &Pool, spec: &Spec) -> ClusterOut {
    let mut rng = Rng::derive(spec.seed, 2, spec.cluster as u64);
    let c = &sc.clusters;
    let k = &sc.causes;
    let req_mem = *rng.pick(&c.request_memory_mb);
    let req_disk = *rng.pick(&c.request_disk_kb);
    let runtime_median = rng
        .lognormal(c.runtime_median_s, c.runtime_sigma)
        .clamp(60.0, 7.0 * 86400.0);
    let faults = spec.habit.faults;
    // Every draw is made whatever the stress flags say, so that they change no other draw.
    let sound = spec.sound;
    let missing_input = spec.broken || (rng.chance((k.missing_input * faults).min(1.0)) && !sound);
    let missing_all = rng.chance(k.missing_input_all_procs) || spec.broken;
    let missing_output = rng.chance((k.missing_output * faults).min(1.0)) && !sound;
    let mem_over = rng.chance(k.memory_over) && !sound;
    let mem_share = rng.uniform(0.3, 1.0);
    let disk_over = rng.chance(k.disk_over) && !sound;
    let bad_exe = rng.chance((k.bad_executable * faults).min(1.0)) && !sound;
    let runtime_limit = rng
        .chance(k.periodic_hold)
        .then(|| (runtime_median * rng.uniform(1.0, 1.6)) as i64 + 60);
    let user_hold = rng.chance(k.user_hold);
    let periodic_release = rng.chance(k.periodic_release);
    let project = format!(
        "{}-{}",
        DATASETS[rng.range(0, 6) as usize],
        rng.range(1, 40)
    );
    let on_staging = rng.chance(0.5);
    let iwd = format!("/home/{}/{}", spec.owner, project);
    let input_dir = if on_staging {
        format!("/staging/{}/{}", spec.owner, project)
    } else {
        format!("{iwd}/inputs")
    };
    let input_file = if missing_input {
        format!(
            "{}_{}.dat",
            MISSPELT[rng.range(0, 6) as usize],
            rng.range(1, 99)
        )
    } else {
        "input.dat".into()
    };
    let mut procs = Vec::with_capacity(spec.procs as usize);
    for _ in 0..spec.procs {
        let mo = mem_over && rng.chance(mem_share);
        let peak_mem = if mo {
            (req_mem as f64 * rng.uniform(1.05, 2.6)) as i64
        } else {
            (req_mem as f64 * rng.lognormal(c.memory_fraction_median, 0.4).min(0.95)).max(1.0)
                as i64
        };
        let dover = disk_over && rng.chance(0.7);
        let disk_kb = if dover {
            (req_disk as f64 * rng.uniform(1.1, 3.0)) as i64
        } else {
            (req_disk as f64 * rng.lognormal(c.disk_fraction_median, 0.5).min(0.95)) as i64
        };
        procs.push(Proc {
            st: St::Idle,
            req_mem,
            req_disk,
            peak_mem,
            disk_kb,
            runtime: (runtime_median * rng.lognormal(1.0, c.runtime_proc_sigma)).max(10.0) as i64,
            missing_input: missing_input && (missing_all || rng.chance(0.3)),
            missing_output: missing_output && rng.chance(0.8),
            mem_over: mo,
            disk_over: dover,
            user_hold: user_hold && rng.chance(0.5),
            starts: 0,
            shadow_starts: 0,
            holds: 0,
            by_reason: Vec::new(),
            hold: None,
            last_hold: None,
            entered: spec.submit,
            last_status: 0,
            ep: None,
            run_start: 0,
            scratch: 0,
            mem_seen: 0,
            rss_seen: 0,
            img_seen: 0,
            disk_seen: 0,
            run_time_total: 0,
        });
    }
    let ap = &sc.pool;
    let schedd_tag = format!(
        "schedd_{}_{:04x}",
        2000 + spec.seed % 50000,
        (spec.seed >> 16) & 0xffff
    );
    let mut sim = Sim {
        sc,
        pool,
        spec,
        procs,
        events: Vec::new(),
        seq: 0,
        queue: BinaryHeap::new(),
        episodes: Vec::new(),
        check_pending: false,
        checks: 0,
        cmd: format!("{iwd}/{}", if bad_exe { "run_analysis" } else { "run.sh" }),
        iwd,
        input_file,
        input_dir,
        output_file: if missing_output {
            "results/summary.json".into()
        } else {
            "output.tar.gz".into()
        },
        runtime_limit,
        custom_hold_reason: rng.chance(0.5),
        periodic_release,
        memory_startd: rng.chance(k.memory_policy_startd),
        runtime_median,
        exit_code: if rng.chance(c.nonzero_exit) {
            *rng.pick(&[1, 2, 127, 255])
        } else {
            0
        },
        bad_exe,
        ap_sinful: format!(
            "<{ip}:9618?addrs={ip}-9618&alias={name}&noUDP&sock={schedd_tag}>",
            ip = ap.ap_ip,
            name = ap.ap_name
        ),
        schedd_tag,
        rng,
    };
    sim.run();
    sim.finish()
}

impl Sim<'_> {
    fn emit(&mut self, t: i64, proc: u32, body: EventBody, number: EventType) {
        self.seq += 1;
        let time = DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .naive_utc();
        let ev = Event {
            number: number.number(),
            id: JobId::new(self.spec.cluster, i64::from(proc)),
            time,
            utc: false,
            timestamp: t,
            date_form: DateForm::Iso,
            body,
            position: Position::default(),
        };
        self.events.push((t, self.seq, ev));
    }

    fn at(&mut self, t: i64, a: Act) {
        if t <= self.spec.end {
            self.seq += 1;
            self.queue.push(Reverse((t, self.seq, ActKey::of(a))));
        }
    }

    fn run(&mut self) {
        let submit = self.spec.submit;
        for p in 0..self.spec.procs {
            let t = submit + i64::from(p) / 200;
            self.emit(
                t,
                p,
                EventBody::Submit(Submit {
                    host: self.ap_sinful.clone(),
                    log_notes: None,
                    user_notes: None,
                    warnings: None,
                }),
                EventType::Submit,
            );
            let d = self.rng.exp(self.sc.matchmaking.delay_mean_s) as i64 + 1;
            self.at(t + d, Act::Match(p));
        }
        while let Some(Reverse((t, _, key))) = self.queue.pop() {
            match key.act() {
                Act::Match(p) => self.do_match(t, p),
                Act::RunEnd(p, e) => self.run_end(t, p, e),
                Act::UserCheck => self.user_check(t),
                Act::PeriodicRelease(p, ep) => self.periodic_release(t, p, ep),
            }
        }
    }

    fn slot_name(&self, p: u32) -> String {
        let pr = &self.procs[p as usize];
        let ep = &self.pool.eps[pr.ep.unwrap_or(0)];
        format!("slot1_{}@{}", pr.scratch % ep.slots + 1, ep.name)
    }

    fn do_match(&mut self, t: i64, p: u32) {
        if self.procs[p as usize].st != St::Idle {
            return;
        }
        let e = self.pool.choose_ep(&mut self.rng, t);
        let ep = &self.pool.eps[e];
        let scratch = self.rng.range(1000, 999_999) as u32;
        {
            let pr = &mut self.procs[p as usize];
            pr.ep = Some(e);
            pr.scratch = scratch;
            pr.shadow_starts += 1;
        }
        let slot_sock = format!(
            "slot1_{}_{}_{:04x}_{}",
            scratch % ep.slots + 1,
            ep.startd_pid,
            ep.tag,
            scratch % 97 + 1
        );
        let xfer_host = ep.sinful(&slot_sock);
        let startd = ep.startd_sinful();
        let ep_ip = ep.ip.clone();
        let site = ep.site;
        self.emit(
            t,
            p,
            EventBody::FileTransfer {
                kind: FileTransferKind::InputStarted,
                queueing_delay: None,
                host: Some(xfer_host),
            },
            EventType::FileTransfer,
        );
        let slot = self.slot_name(p);
        let ap = &self.sc.pool;
        let port = self.rng.range(9700, 65000);
        // Input failures: the job's own problem first, then the EP, then the site.
        let pr = &self.procs[p as usize];
        let path = format!("{}/{}", self.input_dir, self.input_file);
        let failure = if pr.missing_input {
            Some((
                Cause::MissingInput,
                2,
                "reading from file",
                path.clone(),
                true,
            ))
        } else if self.pool.black_hole_at(e, t).is_some() {
            let errno = *self.rng.pick(&[28, 28, 2, 5]);
            Some((
                Cause::BlackHole,
                errno,
                "writing to file",
                format!("/var/lib/condor/execute/dir_{scratch}/{}", self.input_file),
                false,
            ))
        } else if let Some(o) = self
            .pool
            .outage_at(site, t)
            .filter(|_| self.rng.chance(self.sc.outages.hit_probability))
        {
            match o.kind {
                OutageKind::Storage => Some((
                    Cause::SiteStorageOutage,
                    *self.rng.pick(&[2, 2, 5]),
                    "reading from file",
                    path.clone(),
                    true,
                )),
                OutageKind::Network => Some((
                    Cause::SiteNetworkOutage,
                    *self.rng.pick(&[110, 104]),
                    "sending file",
                    path.clone(),
                    true,
                )),
            }
        } else {
            None
        };
        let d_in = self
            .rng
            .lognormal(self.sc.matchmaking.input_transfer_median_s, 0.6)
            .max(0.0) as i64;
        if let Some((cause, errno, verb, file, at_ap)) = failure {
            let tf = t + d_in.min(5);
            self.emit(
                tf,
                p,
                EventBody::FileTransfer {
                    kind: FileTransferKind::InputFinished,
                    queueing_delay: None,
                    host: None,
                },
                EventType::FileTransfer,
            );
            let detail = format!("{verb} {file}: (errno {errno}) {}", errno_text(errno));
            let (msg, reason) = if at_ap {
                (
                    format!(
                        "Failed to transfer files: SHADOW at {} failed to send file(s) to <{ep_ip}:{port}>: |Error: {detail}; STARTER failed to receive file(s) from <{}:9618>",
                        ap.ap_ip, ap.ap_ip
                    ),
                    format!(
                        "Transfer input files failure at access point {} while sending files to execution point {slot}. Details: {detail}",
                        ap.ap_name
                    ),
                )
            } else {
                (
                    format!(
                        "Failed to transfer files: STARTER at {ep_ip} failed to receive file(s) from <{}:9618>: |Error: {detail}; SHADOW failed to send file(s) to <{ep_ip}:{port}>",
                        ap.ap_ip
                    ),
                    format!(
                        "Transfer input files failure at execution point {slot} while receiving files from access point {}. Details: {detail}",
                        ap.ap_name
                    ),
                )
            };
            self.remote_error(tf, p, &slot, msg, 13, errno);
            let usage = vec![
                row("Cpus", None, Some(1), Some(1)),
                row(
                    "Disk",
                    Some(Value::Int(self.rng.range(1, 40))),
                    Some(self.procs[p as usize].req_disk),
                    Some(self.procs[p as usize].req_disk + 1024),
                ),
                row("GPUs", None, None, Some(0)),
                row(
                    "Memory",
                    None,
                    Some(self.procs[p as usize].req_mem),
                    Some(self.procs[p as usize].req_mem),
                ),
            ];
            self.evict(tf, p, Some(reason.clone()), 0, usage);
            self.hold(tf, p, reason, 13, errno, cause);
            return;
        }
        let t1 = t + d_in;
        self.emit(
            t1,
            p,
            EventBody::FileTransfer {
                kind: FileTransferKind::InputFinished,
                queueing_delay: None,
                host: None,
            },
            EventType::FileTransfer,
        );
        let t2 = t1 + 1;
        let pr = &self.procs[p as usize];
        let props = vec![
            (
                "CondorScratchDir".into(),
                Value::Str(format!("/var/lib/condor/execute/dir_{scratch}")),
            ),
            ("Cpus".into(), Value::Int(1)),
            ("Disk".into(), Value::Int(pr.req_disk + 1024)),
            ("GPUs".into(), Value::Int(0)),
            ("Memory".into(), Value::Int(pr.req_mem)),
        ];
        self.emit(
            t2,
            p,
            EventBody::Execute(Execute {
                host: startd,
                slot_name: Some(slot),
                props,
                node: None,
            }),
            EventType::Execute,
        );
        let pr = &mut self.procs[p as usize];
        pr.st = St::Running;
        pr.starts += 1;
        pr.last_status = 1;
        pr.entered = t2;
        pr.run_start = t2;
        self.plan_run(t2, p);
    }

    fn plan_run(&mut self, t: i64, p: u32) {
        let (runtime, peak, mem_over, disk_over, req_mem, uh) = {
            let pr = &self.procs[p as usize];
            (
                pr.runtime,
                pr.peak_mem,
                pr.mem_over,
                pr.disk_over,
                pr.req_mem,
                pr.user_hold,
            )
        };
        let r = runtime as f64;
        let mut cands: Vec<(i64, End)> = vec![(t + runtime, End::Complete)];
        if self.bad_exe {
            cands.push((t, End::BadExe));
        }
        if mem_over {
            cands.push((t + (r * self.rng.uniform(0.15, 0.8)) as i64, End::Memory));
        }
        if disk_over {
            cands.push((t + (r * self.rng.uniform(0.3, 0.9)) as i64, End::Disk));
        }
        if let Some(limit) = self.runtime_limit
            && runtime > limit
        {
            cands.push((t + limit + self.rng.range(0, 300), End::PeriodicHold));
        }
        if self.rng.chance(self.sc.churn.evict_per_run) {
            cands.push((t + (r * self.rng.f64()) as i64, End::Evict));
        }
        if uh {
            self.procs[p as usize].user_hold = false;
            cands.push((t + (r * self.rng.uniform(0.05, 0.9)) as i64, End::UserHold));
        }
        let mut disconnect = self
            .rng
            .chance(self.sc.churn.disconnect_per_run)
            .then(|| t + (r * self.rng.f64()) as i64);
        cands.sort_by_key(|c| c.0);
        let (mut end_t, mut end) = cands[0];
        if let Some(td) = disconnect.take().filter(|td| *td < end_t) {
            let ep = &self.pool.eps[self.procs[p as usize].ep.unwrap_or(0)];
            let slot = self.slot_name(p);
            let sinful = ep.startd_sinful();
            self.emit(
                td,
                p,
                EventBody::Disconnected {
                    reason: "Socket between submit and execute hosts closed unexpectedly".into(),
                    startd_name: slot.clone(),
                    startd_addr: sinful.clone(),
                },
                EventType::JobDisconnected,
            );
            if self.rng.chance(self.sc.churn.reconnect_success) {
                let starter = ep.sinful(&format!(
                    "starter_{}_{:04x}_{}",
                    ep.startd_pid + 7,
                    ep.tag,
                    self.rng.range(1, 999)
                ));
                let tr = td + self.rng.range(5, 120);
                self.emit(
                    tr,
                    p,
                    EventBody::Reconnected {
                        startd_name: slot,
                        startd_addr: sinful,
                        starter_addr: starter,
                    },
                    EventType::JobReconnected,
                );
            } else {
                end_t = td + self.rng.range(30, 2400);
                end = End::ReconnectFailed;
            }
        }
        // Image-size updates up to the end of the run.
        let mut times = vec![
            (t + self.rng.range(3, 15), 0.1),
            (t + runtime / 3, 0.7),
            (t + runtime * 2 / 3, 1.0),
        ];
        if matches!(end, End::Memory) {
            times.retain(|(x, _)| *x < end_t - 10);
            times.push((
                end_t - self.rng.range(1, 10),
                f64::max(1.0, (req_mem as f64 * 1.02) / peak as f64),
            ));
        }
        let mut last = 0;
        for (x, f) in times {
            if x >= end_t || x <= last {
                continue;
            }
            last = x;
            let mem = ((peak as f64 * f) as i64).max(1);
            let rss = mem * 1024 - self.rng.range(0, 900);
            let img = rss + self.rng.range(1000, 200_000);
            self.emit(
                x,
                p,
                EventBody::ImageSize(ImageSize {
                    size_kb: img,
                    memory_usage_mb: Some(mem),
                    resident_set_size_kb: Some(rss),
                    proportional_set_size_kb: None,
                }),
                EventType::ImageSize,
            );
            let pr = &mut self.procs[p as usize];
            pr.mem_seen = pr.mem_seen.max(mem);
            pr.rss_seen = rss;
            pr.img_seen = img;
        }
        self.at(end_t, Act::RunEnd(p, end));
    }

    fn remote_error(
        &mut self,
        t: i64,
        p: u32,
        slot: &str,
        message: String,
        code: i64,
        subcode: i64,
    ) {
        self.emit(
            t,
            p,
            EventBody::RemoteError {
                critical: true,
                daemon: "starter".into(),
                host: slot.to_string(),
                message,
                code,
                subcode,
            },
            EventType::RemoteError,
        );
    }

    fn evict(&mut self, t: i64, p: u32, reason: Option<String>, ran: i64, usage: Vec<UsageRow>) {
        let recv = self.rng.range(35, 400) as f64;
        let ev = Evicted {
            checkpointed: false,
            requeued: None,
            terminated_and_requeued: false,
            reason,
            code: None,
            subcode: None,
            rusage: Rusage {
                run_remote: rusage(ran * 9 / 10, ran / 50),
                run_local: rusage(0, 0),
                sent_bytes: Some(0.0),
                received_bytes: Some(recv),
                ..Rusage::default()
            },
            usage,
        };
        self.emit(
            t,
            p,
            EventBody::Evicted(Box::new(ev)),
            EventType::JobEvicted,
        );
    }

    fn run_usage(&mut self, p: u32, ran: i64, final_run: bool) -> Vec<UsageRow> {
        let pr = &self.procs[p as usize];
        let mem = pr.mem_seen;
        let disk = if final_run {
            pr.disk_kb
        } else {
            (pr.disk_kb as f64 * self.rng.uniform(0.2, 1.0)) as i64
        }
        .max(1);
        let cpu = (self.rng.uniform(0.6, 1.0) * 100.0).round() / 100.0;
        vec![
            row("Cpus", Some(Value::Real(cpu)), Some(1), Some(1)),
            row(
                "Disk",
                Some(Value::Int(disk)),
                Some(pr.req_disk),
                Some(pr.req_disk + 1024),
            ),
            row("GPUs", None, None, Some(0)),
            row(
                "Memory",
                Some(Value::Int(mem)),
                Some(pr.req_mem),
                Some(pr.req_mem),
            ),
            row("TimeExecute", Some(Value::Int(ran)), None, None),
            row("TimeSlotBusy", Some(Value::Int(ran + 1)), None, None),
        ]
    }

    fn run_end(&mut self, t: i64, p: u32, end: End) {
        if self.procs[p as usize].st != St::Running {
            return;
        }
        let ran = t - self.procs[p as usize].run_start;
        self.procs[p as usize].run_time_total += ran;
        let slot = self.slot_name(p);
        let e = self.procs[p as usize].ep.unwrap_or(0);
        let ep_ip = self.pool.eps[e].ip.clone();
        let scratch = self.procs[p as usize].scratch;
        let ap = &self.sc.pool;
        match end {
            End::Complete => {
                self.emit(
                    t,
                    p,
                    EventBody::FileTransfer {
                        kind: FileTransferKind::OutputStarted,
                        queueing_delay: None,
                        host: None,
                    },
                    EventType::FileTransfer,
                );
                let site = self.pool.eps[e].site;
                let port = self.rng.range(9700, 65000);
                let d = self
                    .rng
                    .lognormal(self.sc.matchmaking.output_transfer_median_s, 0.6)
                    as i64;
                let outage = self
                    .pool
                    .outage_at(site, t)
                    .map(|o| o.kind)
                    .filter(|_| self.rng.chance(self.sc.outages.hit_probability));
                let fail = if self.procs[p as usize].missing_output {
                    let file =
                        format!("/var/lib/condor/execute/dir_{scratch}/{}", self.output_file);
                    Some((
                        Cause::MissingOutput,
                        2,
                        format!("reading from file {file}"),
                        true,
                    ))
                } else if let Some(kind) = outage {
                    let errno = if kind == OutageKind::Storage {
                        *self.rng.pick(&[2, 2, 5])
                    } else {
                        *self.rng.pick(&[110, 104])
                    };
                    let cause = if kind == OutageKind::Storage {
                        Cause::SiteStorageOutage
                    } else {
                        Cause::SiteNetworkOutage
                    };
                    let file =
                        format!("/var/lib/condor/execute/dir_{scratch}/{}", self.output_file);
                    let verb = if errno == 2 {
                        "reading from file"
                    } else {
                        "sending file"
                    };
                    Some((cause, errno, format!("{verb} {file}"), true))
                } else {
                    None
                };
                if let Some((cause, errno, what, _)) = fail {
                    let tf = t + d.min(20);
                    let detail = format!("{what}: (errno {errno}) {}", errno_text(errno));
                    let msg = format!(
                        "STARTER at {ep_ip} failed to send file(s) to <{}:9618>: |Error: {detail}; SHADOW failed to receive file(s) from <{ep_ip}:{port}>",
                        ap.ap_ip
                    );
                    let reason = format!(
                        "Transfer output files failure at execution point {slot} while sending files to access point {}. Details: {detail}",
                        ap.ap_name
                    );
                    self.remote_error(tf, p, &slot, msg, 13, errno);
                    let usage = self.run_usage(p, ran, true);
                    self.evict(tf, p, Some(reason.clone()), ran, usage);
                    self.hold(tf, p, reason, 12, errno, cause);
                    return;
                }
                let tf = t + d;
                self.emit(
                    tf,
                    p,
                    EventBody::FileTransfer {
                        kind: FileTransferKind::OutputFinished,
                        queueing_delay: None,
                        host: None,
                    },
                    EventType::FileTransfer,
                );
                let usage = self.run_usage(p, ran, true);
                let total = self.procs[p as usize].run_time_total;
                let recv = self.rng.range(10_000, 50_000_000) as f64;
                let sent = self.rng.range(1_000, 200_000_000) as f64;
                let term = Terminated {
                    termination: Termination::Normal {
                        return_value: self.exit_code,
                    },
                    rusage: Rusage {
                        run_remote: rusage(ran * 9 / 10, ran / 50),
                        run_local: rusage(0, 0),
                        total_remote: rusage(total * 9 / 10, total / 50),
                        total_local: rusage(0, 0),
                        sent_bytes: Some(sent),
                        received_bytes: Some(recv),
                        total_sent_bytes: Some(sent),
                        total_received_bytes: Some(recv),
                    },
                    usage,
                    node: None,
                };
                self.emit(
                    tf,
                    p,
                    EventBody::Terminated(Box::new(term)),
                    EventType::JobTerminated,
                );
                let pr = &mut self.procs[p as usize];
                pr.st = St::Done;
            }
            End::Memory | End::Disk | End::BadExe => {
                let pr = &self.procs[p as usize];
                let (msg, code, sub, cause) = match end {
                    End::Memory if self.memory_startd => (
                        "memory usage exceeded request_memory".to_string(),
                        21,
                        102,
                        Cause::MemoryOverRequest,
                    ),
                    End::Memory => (
                        format!(
                            "Job has gone over cgroup memory limit of {} megabytes. Last measured usage: {} megabytes.  Consider resubmitting with a higher request_memory.",
                            pr.req_mem,
                            pr.req_mem + self.rng.range(0, 3)
                        ),
                        34,
                        102,
                        Cause::MemoryOverRequest,
                    ),
                    End::Disk => (
                        format!(
                            "Job has exceeded allocated disk ({:.2} GB). Consider increasing the value of request_disk.",
                            (pr.req_disk + 1024) as f64 / 1_048_576.0
                        ),
                        34,
                        104,
                        Cause::DiskOverRequest,
                    ),
                    _ => (
                        format!(
                            "Failed to execute '/var/lib/condor/execute/dir_{scratch}/{}': (errno=8: 'Exec format error')",
                            self.cmd.rsplit('/').next().unwrap_or("run")
                        ),
                        6,
                        8,
                        Cause::BadExecutable,
                    ),
                };
                if matches!(end, End::Disk) {
                    let pr = &mut self.procs[p as usize];
                    pr.disk_seen = pr.req_disk + 1024;
                }
                self.remote_error(t, p, &slot, msg.clone(), code, sub);
                let reason = format!("Error from {slot}: {msg}");
                let usage = self.run_usage(p, ran, false);
                self.evict(t, p, Some(reason.clone()), ran, usage);
                self.hold(t, p, reason, code, sub, cause);
            }
            End::PeriodicHold => {
                let limit = self.runtime_limit.unwrap_or(0);
                let (reason, sub) = if self.custom_hold_reason {
                    (
                        format!(
                            "Job exceeded its run-time limit of {} seconds (periodic_hold)",
                            limit
                        ),
                        42,
                    )
                } else {
                    (
                        format!(
                            "The job attribute PeriodicHold expression '(JobStatus == 2) && ((time() - JobCurrentStartExecutingDate) > {limit})' evaluated to TRUE"
                        ),
                        0,
                    )
                };
                self.hold(t, p, reason, 3, sub, Cause::RuntimeLimit);
            }
            End::Evict | End::ReconnectFailed => {
                if matches!(end, End::ReconnectFailed) {
                    self.emit(
                        t,
                        p,
                        EventBody::ReconnectFailed {
                            reason:
                                "Job disconnected too long: JobLeaseDuration (2400 seconds) expired"
                                    .into(),
                            startd_name: slot,
                        },
                        EventType::JobReconnectFailed,
                    );
                } else {
                    let usage = self.run_usage(p, ran, false);
                    self.evict(t, p, None, ran, usage);
                }
                let pr = &mut self.procs[p as usize];
                pr.st = St::Idle;
                pr.last_status = 2;
                pr.entered = t;
                let d = self.rng.exp(self.sc.matchmaking.delay_mean_s) as i64 + 1;
                self.at(t + d, Act::Match(p));
            }
            End::UserHold => {
                let usage = self.run_usage(p, ran, false);
                self.evict(t, p, None, ran, usage);
                let reason = format!("via condor_hold (by user {})", self.spec.owner);
                self.hold(t, p, reason, 1, 0, Cause::UserHold);
            }
        }
    }

    /// Puts a proc on hold, records the episode's ground truth and schedules reactions.
    fn hold(&mut self, t: i64, p: u32, reason: String, code: i64, subcode: i64, cause: Cause) {
        self.emit(
            t,
            p,
            EventBody::Held(Held {
                reason: Some(reason.clone()),
                code,
                subcode,
            }),
            EventType::JobHeld,
        );
        let e = self.procs[p as usize].ep.unwrap_or(0);
        let site = self.pool.eps[e].site;
        let pr = &self.procs[p as usize];
        // The ground truth of this hold, decided by its hidden cause.
        let round_up = |x: f64, step: i64| ((x / step as f64).ceil() as i64) * step;
        let (transient, ok, clears_at) = match cause {
            Cause::SiteStorageOutage | Cause::SiteNetworkOutage => (
                true,
                true,
                self.pool.outage_at(site, t).map_or(t, |o| o.end),
            ),
            Cause::BlackHole | Cause::UserHold => (true, true, t),
            Cause::RuntimeLimit => {
                // The next run's length is drawn now, so the counterfactual is exact.
                let next = (self.runtime_median
                    * self.rng.lognormal(1.0, self.sc.clusters.runtime_proc_sigma))
                .max(10.0) as i64;
                let fits = next <= self.runtime_limit.unwrap_or(i64::MAX);
                (fits, fits, t)
            }
            _ => (false, false, t),
        };
        let memory_raise = match cause {
            Cause::MemoryOverRequest => (true, Some(round_up(pr.peak_mem as f64 * 1.1, 512))),
            _ => (ok, None),
        };
        let disk_raise = match cause {
            Cause::DiskOverRequest => (true, Some(round_up(pr.disk_kb as f64 * 1.2, 1_048_576))),
            _ => (ok, None),
        };
        let index = pr.holds + 1;
        self.episodes.push(Episode {
            proc: p,
            index,
            time: t,
            code,
            subcode,
            cause,
            site,
            ep: e,
            transient,
            release_would_succeed: ok,
            clears_at,
            memory_raise,
            disk_raise,
            user_action: "none",
        });
        let episode = self.episodes.len() - 1;
        let pr = &mut self.procs[p as usize];
        if let Cause::RuntimeLimit = cause {
            // Keep the drawn next run length.
            let next = if ok {
                self.runtime_limit.unwrap_or(0) - 1
            } else {
                self.runtime_limit.unwrap_or(0) + 600
            };
            pr.runtime = next.max(10);
        }
        pr.last_status = if pr.st == St::Running { 2 } else { 1 };
        pr.st = St::Held;
        pr.holds += 1;
        match pr.by_reason.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => pr.by_reason.push((code, 1)),
        }
        pr.entered = t;
        pr.hold = Some(HoldNow {
            reason,
            code,
            subcode,
            episode,
        });
        if self.periodic_release && matches!(code, 12 | 13) && pr.holds < 4 {
            let d = 600 + self.rng.range(0, 300);
            self.at(t + d, Act::PeriodicRelease(p, index));
        }
        if !self.check_pending {
            self.check_pending = true;
            let d = self
                .rng
                .lognormal(
                    self.sc.users.response_delay_median_s * self.spec.habit.delay,
                    self.sc.users.response_delay_sigma,
                )
                .max(60.0) as i64;
            self.at(t + d, Act::UserCheck);
        }
    }

    fn release(&mut self, t: i64, p: u32, reason: String, action: &'static str) {
        self.emit(
            t,
            p,
            EventBody::Released {
                reason: Some(reason),
            },
            EventType::JobReleased,
        );
        let pr = &mut self.procs[p as usize];
        if let Some(h) = pr.hold.take() {
            self.episodes[h.episode].user_action = action;
            pr.last_hold = Some((h.reason, h.code, h.subcode));
        }
        pr.st = St::Idle;
        pr.last_status = 5;
        pr.entered = t;
        let d = self.rng.exp(self.sc.matchmaking.delay_mean_s) as i64 + 1;
        self.at(t + d, Act::Match(p));
    }

    fn periodic_release(&mut self, t: i64, p: u32, index: u32) {
        let pr = &self.procs[p as usize];
        if pr.st != St::Held || pr.holds != index {
            return;
        }
        let reason = "The job attribute PeriodicRelease expression '(HoldReasonCode =?= 12 || HoldReasonCode =?= 13) && (NumHolds < 4) && ((time() - EnteredCurrentStatus) > 600)' evaluated to TRUE".to_string();
        self.release(t, p, reason, "periodic_release");
    }

    fn user_check(&mut self, t: i64) {
        self.check_pending = false;
        let held: Vec<u32> = (0..self.spec.procs)
            .filter(|p| self.procs[*p as usize].st == St::Held)
            .collect();
        let Some(&last) = held.iter().max_by_key(|p| self.procs[**p as usize].entered) else {
            return;
        };
        let code = self.procs[last as usize]
            .hold
            .as_ref()
            .map_or(0, |h| h.code);
        let r = &self.sc.responses;
        let reaction: Reaction = match code {
            11..=13 => r.transfer,
            21 | 34 => r.resources,
            6 => r.executable,
            1 => r.user,
            _ => r.policy,
        };
        let (release, qedit_release) = self.spec.habit.fix_or_not(reaction);
        let mut choice =
            self.rng
                .weighted(&[release, qedit_release, reaction.remove, reaction.nothing]);
        // Owners who already released in vain lose patience.
        if choice <= 1
            && self.checks > 0
            && self
                .rng
                .chance((self.sc.users.patience_loss * f64::from(self.checks)).min(0.85))
        {
            choice = 2;
        }
        self.checks += 1;
        let owner = self.spec.owner.clone();
        for p in held {
            match choice {
                0 => self.release(
                    t,
                    p,
                    format!("via condor_release (by user {owner})"),
                    "release",
                ),
                1 => {
                    let pr = &mut self.procs[p as usize];
                    let code = pr.hold.as_ref().map_or(0, |h| h.code);
                    if matches!(code, 21 | 34) {
                        // What owners type: a round figure well above what they saw.
                        let seen = pr.mem_seen.max(pr.req_mem);
                        if pr.hold.as_ref().is_some_and(|h| h.subcode == 104) {
                            pr.req_disk *= 2;
                        } else {
                            pr.req_mem = ((seen as f64 * 1.5 / 1024.0).ceil() as i64) * 1024;
                        }
                        pr.mem_over = pr.peak_mem > pr.req_mem;
                        pr.disk_over = pr.disk_kb > pr.req_disk;
                    }
                    self.release(
                        t,
                        p,
                        format!("via condor_release (by user {owner})"),
                        "qedit_release",
                    );
                }
                2 => {
                    self.emit(
                        t,
                        p,
                        EventBody::Aborted {
                            reason: Some(format!("via condor_rm (by user {owner})")),
                        },
                        EventType::JobAborted,
                    );
                    let pr = &mut self.procs[p as usize];
                    if let Some(h) = pr.hold.as_ref() {
                        self.episodes[h.episode].user_action = "remove";
                    }
                    pr.st = St::Done;
                }
                _ => {}
            }
        }
    }

    fn finish(mut self) -> ClusterOut {
        let end = self.spec.end;
        self.events.retain(|(t, _, _)| *t <= end);
        self.events.sort_by_key(|(t, s, _)| (*t, *s));
        let events = self.events.drain(..).map(|(_, _, e)| e).collect();
        let mut truth = String::new();
        for ep in &self.episodes {
            let pr = &self.procs[ep.proc as usize];
            let _ = writeln!(
                truth,
                "{}",
                serde_json::json!({
                    "cluster": self.spec.cluster,
                    "proc": ep.proc,
                    "episode": ep.index,
                    "owner": self.spec.owner,
                    "hold_time": ep.time,
                    "code": ep.code,
                    "subcode": ep.subcode,
                    "cause": ep.cause.name(),
                    "site": self.pool.site_names[ep.site],
                    "ep": self.pool.eps[ep.ep].name,
                    "transient": ep.transient,
                    "release_would_succeed": ep.release_would_succeed,
                    "clears_at": ep.clears_at,
                    "release_after_memory_raise_succeeds": ep.memory_raise.0,
                    "memory_mb": ep.memory_raise.1,
                    "release_after_disk_raise_succeeds": ep.disk_raise.0,
                    "disk_kb": ep.disk_raise.1,
                    "user_action": ep.user_action,
                    "request_memory_mb": pr.req_mem,
                })
            );
        }
        let ads = (0..self.spec.procs)
            .filter(|p| self.procs[*p as usize].st != St::Done)
            .map(|p| self.ad(p))
            .collect();
        ClusterOut {
            events,
            truth,
            ads,
            user_log: format!("{}/{}.log", self.iwd, self.spec.cluster),
        }
    }

    fn ad(&self, p: u32) -> JobAd {
        use Value::*;
        let pr = &self.procs[p as usize];
        let ap = &self.sc.pool;
        let status = match pr.st {
            St::Idle => 1,
            St::Running => 2,
            St::Held => 5,
            St::Done => 4,
        };
        let mut a: Vec<(String, Value)> = Vec::with_capacity(64);
        let mut put = |k: &str, v: Value| a.push((k.to_string(), v));
        put("Arguments", Str(format!("--index {p}")));
        put("ClusterId", Int(self.spec.cluster));
        put("Cmd", Str(self.cmd.clone()));
        put("CommittedTime", Int(0));
        put("CumulativeSlotTime", Real(pr.run_time_total as f64));
        put("CurrentHosts", Int(i64::from(pr.st == St::Running)));
        put(
            "DiskUsage",
            Int(pr.disk_seen.max(if pr.starts > 0 {
                pr.disk_kb.min(pr.req_disk) / 2
            } else {
                45
            })),
        );
        put("EnteredCurrentStatus", Int(pr.entered));
        put("Environment", Str(String::new()));
        put("Err", Str(format!("logs/job.{p}.err")));
        put("ExitBySignal", Bool(false));
        put("ExitStatus", Int(0));
        put(
            "GlobalJobId",
            Str(format!(
                "{}#{}.{}#{}",
                ap.ap_name, self.spec.cluster, p, self.spec.submit
            )),
        );
        if let Some(h) = &pr.hold {
            put("HoldReason", Str(h.reason.clone()));
            put("HoldReasonCode", Int(h.code));
            put("HoldReasonSubCode", Int(h.subcode));
        }
        put("ImageSize", Int(pr.img_seen.max(45)));
        put("In", Str("/dev/null".into()));
        put("Iwd", Str(self.iwd.clone()));
        if pr.starts > 0 {
            put("JobCurrentStartDate", Int(pr.run_start));
            put("JobStartDate", Int(pr.run_start));
        }
        put("JobLeaseDuration", Int(2400));
        put("JobPrio", Int(0));
        put("JobRunCount", Int(i64::from(pr.shadow_starts)));
        put("JobStatus", Int(status));
        put("JobSubmitFile", Str("job.sub".into()));
        put("JobUniverse", Int(5));
        if let Some((r, c, s)) = &pr.last_hold {
            put("LastHoldReason", Str(r.clone()));
            put("LastHoldReasonCode", Int(*c));
            put("LastHoldReasonSubCode", Int(*s));
        }
        if pr.last_status != 0 {
            put("LastJobStatus", Int(pr.last_status));
        }
        if let Some(e) = pr.ep {
            put("LastRemoteHost", Str(self.slot_name(p)));
            if pr.st == St::Running {
                put("RemoteHost", Str(self.slot_name(p)));
                put("StartdIpAddr", Str(self.pool.eps[e].startd_sinful()));
            }
        }
        put("LeaveJobInQueue", Bool(false));
        put("MaxHosts", Int(1));
        if pr.starts > 0 {
            put(
                "MemoryUsage",
                Expr("((ResidentSetSize + 1023) / 1024)".into()),
            );
        }
        put("MinHosts", Int(1));
        put("MyType", Str("Job".into()));
        if pr.holds > 0 {
            put("NumHolds", Int(i64::from(pr.holds)));
            let by = pr
                .by_reason
                .iter()
                .map(|(c, n)| {
                    (
                        holdadvisor_parsers::hold_code_name(*c as i32),
                        Int(i64::from(*n)),
                    )
                })
                .collect::<Vec<_>>();
            put("NumHoldsByReason", Ad(by));
        }
        put("NumJobStarts", Int(i64::from(pr.starts)));
        put("NumRestarts", Int(0));
        put("NumShadowStarts", Int(i64::from(pr.shadow_starts)));
        put("NumSystemHolds", Int(0));
        put("Out", Str(format!("logs/job.{p}.out")));
        put("Owner", Str(self.spec.owner.clone()));
        if let Some(limit) = self.runtime_limit {
            put(
                "PeriodicHold",
                Expr(format!(
                    "(JobStatus == 2) && ((time() - JobCurrentStartExecutingDate) > {limit})"
                )),
            );
        }
        if self.periodic_release {
            put("PeriodicRelease", Expr("(HoldReasonCode =?= 12 || HoldReasonCode =?= 13) && (NumHolds < 4) && ((time() - EnteredCurrentStatus) > 600)".into()));
        }
        put("ProcId", Int(i64::from(p)));
        put("QDate", Int(self.spec.submit));
        put("Rank", Real(0.0));
        put("RemoteWallClockTime", Real(pr.run_time_total as f64));
        put("RequestCpus", Int(1));
        put("RequestDisk", Int(pr.req_disk));
        put("RequestMemory", Int(pr.req_mem));
        put(
            "Requirements",
            Expr("(TARGET.Arch == \"X86_64\") && (TARGET.OpSys == \"LINUX\") && (TARGET.Disk >= RequestDisk) && (TARGET.Memory >= RequestMemory) && (TARGET.HasFileTransfer)".into()),
        );
        if pr.starts > 0 {
            put("ResidentSetSize", Int(((pr.rss_seen + 999) / 1000) * 1000));
            put("ResidentSetSize_RAW", Int(pr.rss_seen));
        }
        put("ServerTime", Int(self.spec.end));
        put("ShouldTransferFiles", Str("YES".into()));
        put("TargetType", Str("Machine".into()));
        put("TotalSubmitProcs", Int(i64::from(self.spec.procs)));
        put(
            "TransferInput",
            Str(format!("{}/{}", self.input_dir, self.input_file)),
        );
        put("TransferOutput", Str(self.output_file.clone()));
        put("User", Str(format!("{}@{}", self.spec.owner, ap.ap_name)));
        put(
            "UserLog",
            Str(format!("{}/{}.log", self.iwd, self.spec.cluster)),
        );
        put("WhenToTransferOutput", Str("ON_EXIT".into()));
        let _ = &self.schedd_tag;
        JobAd { attrs: a }
    }
}

#[cfg(test)]
mod tests {
    use super::{Habit, Reaction};

    #[test]
    fn habits_are_per_owner_and_spread_as_asked() {
        assert_eq!(Habit::of_owner(5, 3, 0.0), Habit::AVERAGE);
        assert_eq!(Habit::of_owner(5, 3, 0.5), Habit::of_owner(5, 3, 0.5));
        assert_ne!(Habit::of_owner(5, 3, 0.5), Habit::of_owner(5, 4, 0.5));
        assert_ne!(Habit::of_owner(5, 3, 0.5), Habit::of_owner(6, 3, 0.5));
        // Over many owners each habit's log spreads with the asked deviation (2s for fixes).
        let spread = 0.5;
        let owners: Vec<Habit> = (0..4000).map(|i| Habit::of_owner(9, i, spread)).collect();
        let sd = |xs: Vec<f64>| {
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt()
        };
        let faults = sd(owners.iter().map(|h| h.faults.ln()).collect());
        let fixes = sd(owners.iter().map(|h| h.fixes).collect());
        let delay = sd(owners.iter().map(|h| h.delay.ln()).collect());
        assert!((faults - spread).abs() < 0.03, "faults {faults}");
        assert!((fixes - 2.0 * spread).abs() < 0.06, "fixes {fixes}");
        assert!((delay - spread).abs() < 0.03, "delay {delay}");
    }

    #[test]
    fn fixing_habits_move_only_the_choice_between_fixing_and_not() {
        let reaction = |release, qedit_release| Reaction {
            release,
            qedit_release,
            remove: 0.2,
            nothing: 0.1,
        };
        let owner = |fixes| Habit {
            fixes,
            ..Habit::AVERAGE
        };
        // log-odds of fixing: ln(0.5 / 0.25) + 1.
        let (r, q) = owner(1.0).fix_or_not(reaction(0.25, 0.5));
        assert!((r + q - 0.75).abs() < 1e-12, "{r} + {q}");
        assert!(((q / r).ln() - (2f64.ln() + 1.0)).abs() < 1e-12, "{r} {q}");
        let (r, q) = owner(-1.0).fix_or_not(reaction(0.25, 0.5));
        assert!(((q / r).ln() - (2f64.ln() - 1.0)).abs() < 1e-12, "{r} {q}");
        // Nobody fixes a transfer hold first: its weights stay, whatever the habit.
        assert_eq!(owner(2.0).fix_or_not(reaction(0.55, 0.0)), (0.55, 0.0));
        assert_eq!(Habit::AVERAGE.fix_or_not(reaction(0.25, 0.5)), (0.25, 0.5));
    }
}
