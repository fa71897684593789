//! From events to sequence tensors: hold-episode extraction and the two encoders.
//!
//! [`EpisodeStream`] reads events **in time order**, once, keeping per-job and pool state
//! bounded by the jobs still active and a time window. Every `012` that starts a hold
//! episode is encoded *at that moment*, from the state built by the events before it (and the
//! hold event itself); later events only decide the episode's [`Label`]. Nothing an encoder
//! writes can depend on an event after the hold: the tests alter such events and compare.
//!
//! Two encoders ([`EncoderKind`]):
//! - [`EncoderKind::Ours`]: one step per event of the held job (the last `seq_len` events up to
//!   and including the hold, left-padded with zeros), [`OURS_WIDTH`] features per step; the
//!   layout is in [`ours`].
//! - [`EncoderKind::Reference`]: the reference project's `(m, j*e)` one-hot frames, see
//!   [`reference`](mod@reference).

use std::collections::VecDeque;

/// Maps keyed by job ids, codes and interned names, looked up several times per event: a
/// fast non-cryptographic hash (the keys come from the pool's own logs).
type HashMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;

use burn::config::Config;
use holdadvisor_parsers::hold_code::hold_code;
use holdadvisor_parsers::{Event, EventBody, EventType, JobId, Termination};
use serde::{Deserialize, Serialize};

use crate::labels::{Label, Labeller};

/// Bumped whenever a feature's meaning or position changes: models record it, and a model
/// whose schema differs from the code's refuses to load.
pub const FEATURE_SCHEMA: u32 = 2;

/// Which encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    Ours,
    Reference,
}

/// Which hold the reference encoder's frames end at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceAnchor {
    /// The job's first hold, as the reference project did: every episode of a job gets the
    /// tensor of its first hold.
    FirstHold,
    /// The hold that starts this episode.
    ThisHold,
}

/// Encoder settings; saved with every model (`encoder.json`).
#[derive(Config, Debug, PartialEq)]
pub struct EncoderConfig {
    pub kind: EncoderKind,
    /// Ours: steps per sequence (the held job's last events).
    #[config(default = 16)]
    pub seq_len: usize,
    /// Ours: the pool-context window, seconds.
    #[config(default = 3600)]
    pub window_seconds: i64,
    /// Reference: m, frames before the hold.
    #[config(default = 10)]
    pub ref_frames: usize,
    /// Reference: j, the held job plus j-1 other jobs.
    #[config(default = 10)]
    pub ref_jobs: usize,
    /// Reference: e, event types (event numbers 0..e-1; larger numbers go to e-1).
    #[config(default = 46)]
    pub ref_event_types: usize,
    /// Reference: seconds per frame.
    #[config(default = 300)]
    pub ref_frame_seconds: i64,
    #[config(default = "ReferenceAnchor::FirstHold")]
    pub ref_anchor: ReferenceAnchor,
    #[config(default = 1)]
    pub schema: u32,
}

impl EncoderConfig {
    pub fn ours() -> EncoderConfig {
        EncoderConfig::new(EncoderKind::Ours).with_schema(FEATURE_SCHEMA)
    }
    pub fn reference() -> EncoderConfig {
        EncoderConfig::new(EncoderKind::Reference).with_schema(FEATURE_SCHEMA)
    }
    /// (steps, features per step) of the tensors this encoder writes.
    pub fn shape(&self) -> (usize, usize) {
        match self.kind {
            EncoderKind::Ours => (self.seq_len, ours::WIDTH),
            EncoderKind::Reference => (self.ref_frames, self.ref_jobs * self.ref_event_types),
        }
    }
}

/// The width of one step of our encoder.
pub const OURS_WIDTH: usize = ours::WIDTH;

/// A hold episode with what is known about it.
#[derive(Debug, Clone)]
pub struct Episode {
    pub job: JobId,
    /// 0 for the job's first hold episode, 1 for the second, ...
    pub index: u32,
    /// Unix seconds of the `012`.
    pub hold_time: i64,
    pub code: i64,
    pub subcode: i64,
    /// The job's NumHolds counting this hold (what `periodic_release` would see).
    pub num_holds: u32,
    pub label: Label,
    /// Unix seconds of the event that decided the label (`None` while open): from then on
    /// the outcome is known, to a model refitted to the pool as much as to its owner.
    pub decided_time: Option<i64>,
    /// Released at least once since the hold (false for episodes still held).
    pub released: bool,
    /// Unix seconds of the first release after the hold: how long the job stayed held
    /// before its owner (or a policy) released it.
    pub release_time: Option<i64>,
    /// The cluster's owner as the log named it by the hold (`Owner` in a job ad information
    /// event, or `(by user NAME)` in a reason), if it did.
    pub owner: Option<String>,
    /// The site of the job's newest execution before the hold (`GLIDEIN_Site`, else the
    /// host), if it ran.
    pub site: Option<String>,
    /// One input per encoder of the stream, in the order given to [`EpisodeStream::new`].
    pub inputs: Vec<EpisodeInput>,
}

impl Episode {
    /// Whether the code is one of HTCondor's file-transfer codes.
    pub fn transfer(&self) -> bool {
        i32::try_from(self.code)
            .ok()
            .and_then(hold_code)
            .is_some_and(|c| c.transfer)
    }
}

/// Counters a stream keeps about what it read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStats {
    pub events: u64,
    pub out_of_order: u64,
    pub episodes: u64,
}

/// Streams events into labelled, encoded hold episodes. See the module documentation.
pub struct EpisodeStream {
    encoders: Vec<EncoderConfig>,
    episodes: Vec<Episode>,
    jobs: HashMap<JobId, JobState>,
    clusters: HashMap<i64, ClusterState>,
    pool: PoolState,
    refs: Vec<Option<reference::RefState>>,
    last_time: i64,
    stats: StreamStats,
}

#[derive(Default)]
struct JobState {
    steps: VecDeque<ours::SparseStep>,
    submit_time: Option<i64>,
    last_time: Option<i64>,
    starts: u32,
    holds: u32,
    evictions: u32,
    transfer_failures: u32,
    releases: u32,
    shadow_exceptions: u32,
    disconnects: u32,
    memory_usage_mb: Option<f64>,
    request_memory_mb: Option<f64>,
    owner: Option<u32>,
    site: Option<u32>,
    held: bool,
    /// Index of the episode whose label is still open.
    open_episode: Option<usize>,
    labeller: Labeller,
    finished: bool,
    own_recent_holds: VecDeque<(i64, i64)>,
    episode_count: u32,
    /// Reference encoder (anchor first hold): the tensor of the first hold, per encoder.
    first_hold_ref: Vec<Option<EpisodeInput>>,
}

#[derive(Default)]
struct ClusterState {
    procs: u32,
    ok: u32,
    failed: u32,
    held_now: u32,
    /// Who the cluster belongs to, once a log line names them: `Owner` in a job ad
    /// information event, or `(by user NAME)` in a hold, release or removal reason.
    owner: Option<u32>,
    /// Outcomes of this cluster's resolved releases, by HoldReasonCode (a few codes at most).
    released: Vec<(i64, Outcomes)>,
}

impl ClusterState {
    fn released_total(&self) -> Outcomes {
        self.released
            .iter()
            .fold(Outcomes::default(), |a, (_, o)| a.plus(*o))
    }

    fn released_with(&self, code: i64) -> Outcomes {
        self.released
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(Outcomes::default(), |(_, o)| *o)
    }
}

/// How resolved releases turned out: a job whose release worked, or did not.
#[derive(Default, Clone, Copy)]
struct Outcomes {
    ok: u32,
    failed: u32,
}

impl Outcomes {
    fn add(&mut self, ok: bool) {
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
    }

    fn plus(self, o: Outcomes) -> Outcomes {
        Outcomes {
            ok: self.ok + o.ok,
            failed: self.failed + o.failed,
        }
    }
}

/// What the held job's cluster and owner saw of earlier releases, as of the hold: owners
/// differ in whether they fix a cause before releasing, and a cluster's procs mostly share
/// their cause.
#[derive(Clone, Copy)]
struct ReleaseHistory {
    /// The owner's outcomes over all their clusters (all codes, and this hold's code), when
    /// the log has named the owner.
    owner: Option<(Outcomes, Outcomes)>,
    cluster: Outcomes,
    cluster_same_code: Outcomes,
}

/// Names (owners, sites) as small ids, and the ids back as names.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.ids.insert(name.to_string(), i);
        self.names.push(name.to_string());
        i
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// Pool-wide state within the window, and the history of release outcomes.
#[derive(Default)]
struct PoolState {
    window: i64,
    holds: VecDeque<(i64, i64, u32, Option<u32>)>, // time, code, owner, site
    by_code: HashMap<i64, u32>,
    by_code_site: HashMap<(i64, u32), u32>,
    by_code_owner: HashMap<(i64, u32), u32>,
    owners_by_code: HashMap<i64, u32>,
    outcomes: VecDeque<(i64, i64, Option<u32>, bool)>, // time, code, site, success
    /// How many of `outcomes` are failures (kept as a count: every step reads it).
    failures: u32,
    recent_fail_code_site: HashMap<(i64, u32), u32>,
    /// Release outcomes by (code, subcode), over the whole log so far.
    history: HashMap<(i64, i64), Outcomes>,
    owners: Interner,
    sites: Interner,
    /// Release outcomes by owner named in the log, all codes and by code.
    owner_released: HashMap<u32, Outcomes>,
    owner_released_code: HashMap<(u32, i64), Outcomes>,
}

impl PoolState {
    fn expire(&mut self, now: i64) {
        while let Some(&(t, code, owner, site)) = self.holds.front() {
            if t > now - self.window {
                break;
            }
            self.holds.pop_front();
            dec(&mut self.by_code, code);
            if let Some(s) = site {
                dec(&mut self.by_code_site, (code, s));
            }
            if dec(&mut self.by_code_owner, (code, owner)) == 0 {
                dec(&mut self.owners_by_code, code);
            }
        }
        while let Some(&(t, code, site, ok)) = self.outcomes.front() {
            if t > now - self.window {
                break;
            }
            self.outcomes.pop_front();
            if !ok {
                self.failures -= 1;
            }
            if let (false, Some(s)) = (ok, site) {
                dec(&mut self.recent_fail_code_site, (code, s));
            }
        }
    }

    fn add_hold(&mut self, t: i64, code: i64, owner: u32, site: Option<u32>) {
        self.holds.push_back((t, code, owner, site));
        *self.by_code.entry(code).or_default() += 1;
        if let Some(s) = site {
            *self.by_code_site.entry((code, s)).or_default() += 1;
        }
        let n = self.by_code_owner.entry((code, owner)).or_default();
        *n += 1;
        if *n == 1 {
            *self.owners_by_code.entry(code).or_default() += 1;
        }
    }

    fn add_outcome(&mut self, t: i64, code: i64, subcode: i64, site: Option<u32>, ok: bool) {
        self.outcomes.push_back((t, code, site, ok));
        if !ok {
            self.failures += 1;
        }
        if let (false, Some(s)) = (ok, site) {
            *self.recent_fail_code_site.entry((code, s)).or_default() += 1;
        }
        self.history.entry((code, subcode)).or_default().add(ok);
    }

    /// The log named the cluster's owner. The first name sticks; the cluster's releases so
    /// far join that owner's record.
    fn name_owner(&mut self, cluster: &mut ClusterState, name: &str) {
        if cluster.owner.is_some() {
            return;
        }
        let owner = self.owners.intern(name);
        cluster.owner = Some(owner);
        let all = self.owner_released.entry(owner).or_default();
        *all = all.plus(cluster.released_total());
        for &(code, o) in &cluster.released {
            let by_code = self.owner_released_code.entry((owner, code)).or_default();
            *by_code = by_code.plus(o);
        }
    }

    /// A release of one of `cluster`'s jobs, held with `code`, turned out `ok` or not.
    fn add_release_outcome(&mut self, cluster: &mut ClusterState, code: i64, ok: bool) {
        match cluster.released.iter_mut().find(|(c, _)| *c == code) {
            Some((_, o)) => o.add(ok),
            None => {
                let mut o = Outcomes::default();
                o.add(ok);
                cluster.released.push((code, o));
            }
        }
        if let Some(owner) = cluster.owner {
            self.owner_released.entry(owner).or_default().add(ok);
            self.owner_released_code
                .entry((owner, code))
                .or_default()
                .add(ok);
        }
    }

    fn release_history(&self, cluster: &ClusterState, code: i64) -> ReleaseHistory {
        ReleaseHistory {
            owner: cluster.owner.map(|o| {
                (
                    self.owner_released.get(&o).copied().unwrap_or_default(),
                    self.owner_released_code
                        .get(&(o, code))
                        .copied()
                        .unwrap_or_default(),
                )
            }),
            cluster: cluster.released_total(),
            cluster_same_code: cluster.released_with(code),
        }
    }
}

/// The user a reason line names, as HTCondor's tools write it: `via condor_release (by user
/// alice)`, `via condor_rm (by user alice)`, `via condor_hold (by user alice)`.
pub fn named_user(reason: &str) -> Option<&str> {
    let at = reason.find("(by user ")? + "(by user ".len();
    let rest = &reason[at..];
    let end = rest.find([')', ' ', '\t'])?;
    (end > 0).then(|| &rest[..end])
}

fn dec<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) -> u32 {
    match map.get_mut(&key) {
        Some(n) if *n > 1 => {
            *n -= 1;
            *n
        }
        Some(_) => {
            map.remove(&key);
            0
        }
        None => 0,
    }
}

/// ln(1 + max(x, 0)). Most arguments are small counts, answered from a table of the same
/// values (a step computes about fifteen of these).
fn ln1p(x: f64) -> f32 {
    let x = x.max(0.0);
    if x < LN1P_TABLE_LEN as f64 && x == x.trunc() {
        return LN1P_TABLE[x as usize];
    }
    x.ln_1p() as f32
}

const LN1P_TABLE_LEN: usize = 1024;
static LN1P_TABLE: std::sync::LazyLock<[f32; LN1P_TABLE_LEN]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|n| (n as f64).ln_1p() as f32));

impl EpisodeStream {
    /// A stream that encodes every episode with each of `encoders` (at least one).
    pub fn new(encoders: Vec<EncoderConfig>) -> EpisodeStream {
        let window = encoders
            .iter()
            .find(|e| e.kind == EncoderKind::Ours)
            .map_or(3600, |e| e.window_seconds.max(1));
        let refs = encoders
            .iter()
            .map(|e| (e.kind == EncoderKind::Reference).then(|| reference::RefState::new(e)))
            .collect();
        EpisodeStream {
            encoders,
            episodes: Vec::new(),
            jobs: HashMap::default(),
            clusters: HashMap::default(),
            pool: PoolState {
                window,
                ..Default::default()
            },
            refs,
            last_time: i64::MIN,
            stats: StreamStats::default(),
        }
    }

    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// The episodes so far (labels of recent ones may still be [`Label::Open`]).
    pub fn episodes(&self) -> &[Episode] {
        &self.episodes
    }

    /// The episodes so far, to change: a caller that needs the inputs of only some episodes
    /// can drop the others' (`inputs.clear()`) as they come, and keep memory small.
    pub fn episodes_mut(&mut self) -> &mut [Episode] {
        &mut self.episodes
    }

    /// Ends the stream and returns every episode.
    pub fn finish(self) -> Vec<Episode> {
        self.episodes
    }

    /// Feeds one event. Events must come in time order (ties in the order read); an event
    /// older than the last one is still used but counted in [`StreamStats::out_of_order`].
    /// Returns the index of the episode this event started, if it started one.
    pub fn push(&mut self, event: &Event) -> Option<usize> {
        self.stats.events += 1;
        let now = event.timestamp;
        if now < self.last_time {
            self.stats.out_of_order += 1;
        } else {
            self.last_time = now;
        }
        if event.id.proc < 0 {
            return None; // cluster-level events (035, 036)
        }
        self.pool.expire(now);
        for r in self.refs.iter_mut().flatten() {
            r.observe(event);
        }
        let n_enc = self.encoders.len();
        let id = event.id;
        let cluster = self.clusters.entry(id.cluster).or_default();
        let job = self.jobs.entry(id).or_insert_with(|| {
            cluster.procs += 1;
            JobState {
                first_hold_ref: vec![None; n_enc],
                ..Default::default()
            }
        });

        // 1. Decide the open episode's label with this event (it is after that hold).
        if let Some(ep) = job.open_episode {
            if job.labeller.observe(event) {
                let label = job.labeller.label();
                let e = &mut self.episodes[ep];
                e.label = label;
                e.decided_time = Some(now);
                if matches!(label, Label::Positive | Label::Negative) {
                    let ok = label == Label::Positive;
                    self.pool.add_outcome(now, e.code, e.subcode, job.site, ok);
                    self.pool.add_release_outcome(cluster, e.code, ok);
                }
                job.open_episode = None;
            }
            if job.labeller.label() == Label::Open && event.is(EventType::JobReleased) {
                let e = &mut self.episodes[ep];
                e.released = true;
                e.release_time.get_or_insert(now);
            }
        }

        // 2. Update the job's own state with this event.
        let mut hold: Option<(i64, i64, Option<&str>)> = None;
        match &event.body {
            EventBody::Submit(_) => job.submit_time = job.submit_time.or(Some(now)),
            EventBody::Execute(x) => {
                job.starts += 1;
                let site = site_of(&x.host, &x.props);
                job.site = Some(self.pool.sites.intern(&site));
            }
            EventBody::Evicted(e) => {
                job.evictions += 1;
                if let Some(r) = e
                    .usage
                    .iter()
                    .find(|r| r.resource == "Memory")
                    .and_then(|r| r.request.as_ref())
                    .and_then(|v| v.as_f64())
                {
                    job.request_memory_mb = Some(r);
                }
            }
            EventBody::ImageSize(s) => {
                if let Some(m) = s.memory_usage_mb {
                    job.memory_usage_mb = Some(m as f64);
                }
            }
            EventBody::ShadowException { .. } => job.shadow_exceptions += 1,
            EventBody::JobAdInformation { attrs } => {
                for (k, v) in attrs {
                    let owner = k.eq_ignore_ascii_case("Owner");
                    if owner && let Some(o) = v.as_str() {
                        job.owner = Some(self.pool.owners.intern(o));
                        self.pool.name_owner(cluster, o);
                    } else if k.eq_ignore_ascii_case("RequestMemory")
                        && let Some(r) = v.as_f64()
                    {
                        job.request_memory_mb = Some(r);
                    } else if k.eq_ignore_ascii_case("MemoryUsage")
                        && let Some(m) = v.as_f64()
                    {
                        job.memory_usage_mb = Some(m);
                    }
                }
            }
            EventBody::Held(h) => hold = Some((h.code, h.subcode, h.reason.as_deref())),
            EventBody::Released { .. } => job.releases += 1,
            EventBody::Disconnected { .. } => job.disconnects += 1,
            EventBody::Terminated(t) => {
                if let Some(r) = t
                    .usage
                    .iter()
                    .find(|r| r.resource == "Memory")
                    .and_then(|r| r.request.as_ref())
                    .and_then(|v| v.as_f64())
                {
                    job.request_memory_mb = Some(r);
                }
            }
            _ => {}
        }
        let reason = match &event.body {
            EventBody::Held(h) => h.reason.as_deref(),
            EventBody::Released { reason } | EventBody::Aborted { reason } => reason.as_deref(),
            _ => None,
        };
        if cluster.owner.is_none()
            && let Some(name) = reason.and_then(named_user)
        {
            self.pool.name_owner(cluster, name);
        }
        let owner = *job
            .owner
            .get_or_insert_with(|| self.pool.owners.intern(&format!("cluster {}", id.cluster)));

        // Cluster siblings' fate.
        let mut starts_episode = false;
        match (&event.body, hold) {
            (_, Some((code, _, _))) => {
                job.holds += 1;
                if hold_code(code as i32).is_some_and(|c| c.transfer) {
                    job.transfer_failures += 1;
                }
                if !job.held {
                    cluster.held_now += 1;
                }
                // A 012 while already held and not released belongs to the same episode.
                starts_episode = !(job.held && job.open_episode.is_some());
                job.held = true;
            }
            (EventBody::Released { .. }, _) => {
                if job.held {
                    cluster.held_now = cluster.held_now.saturating_sub(1);
                }
                job.held = false;
            }
            (EventBody::Terminated(t), _) => {
                match t.termination {
                    Termination::Normal { return_value: 0 } => cluster.ok += 1,
                    _ => cluster.failed += 1,
                }
                job.finished = true;
            }
            (EventBody::Aborted { .. }, _) => {
                if job.held {
                    cluster.held_now = cluster.held_now.saturating_sub(1);
                }
                cluster.failed += 1;
                job.finished = true;
            }
            _ => {}
        }
        let history = hold.map(|(code, _, _)| self.pool.release_history(cluster, code));

        // 3. The step vector of this event, with pool context as of now.
        while job
            .own_recent_holds
            .front()
            .is_some_and(|&(t, _)| t <= now - self.pool.window)
        {
            job.own_recent_holds.pop_front();
        }
        let step = ours::step(event, job, cluster, &self.pool, hold, history, owner);
        let seq_len = self
            .encoders
            .iter()
            .filter(|e| e.kind == EncoderKind::Ours)
            .map(|e| e.seq_len)
            .max()
            .unwrap_or(1);
        job.steps.push_back(step);
        while job.steps.len() > seq_len {
            job.steps.pop_front();
        }
        job.last_time = Some(now);

        // 4. A new episode: encode now, before anything later is seen.
        let mut started = None;
        if let (true, Some((code, subcode, _))) = (starts_episode, hold) {
            let index = job.episode_count;
            job.episode_count += 1;
            let mut inputs = Vec::with_capacity(n_enc);
            for (k, enc) in self.encoders.iter().enumerate() {
                inputs.push(match enc.kind {
                    EncoderKind::Ours => ours::sequence(&job.steps, enc.seq_len),
                    EncoderKind::Reference => {
                        let r = self.refs[k].as_ref().expect("reference state");
                        match (enc.ref_anchor, &job.first_hold_ref[k]) {
                            (ReferenceAnchor::FirstHold, Some(first)) => first.clone(),
                            _ => {
                                let x = r.encode(id, now);
                                job.first_hold_ref[k] = Some(x.clone());
                                x
                            }
                        }
                    }
                });
            }
            self.episodes.push(Episode {
                job: id,
                index,
                hold_time: now,
                code,
                subcode,
                num_holds: job.holds,
                label: Label::Open,
                decided_time: None,
                released: false,
                release_time: None,
                owner: cluster.owner.map(|o| self.pool.owners.name(o).to_string()),
                site: job.site.map(|s| self.pool.sites.name(s).to_string()),
                inputs,
            });
            self.stats.episodes += 1;
            job.open_episode = Some(self.episodes.len() - 1);
            job.labeller = Labeller::new();
            started = Some(self.episodes.len() - 1);
        }
        if let Some((code, _, _)) = hold {
            self.pool.add_hold(now, code, owner, job.site);
            job.own_recent_holds.push_back((now, code));
        }
        // Forget finished jobs whose episodes are decided (bounded memory).
        if job.finished && job.open_episode.is_none() {
            self.jobs.remove(&id);
        }
        started
    }
}

/// The site of an execution point: `GLIDEIN_Site` (or a `*Site*` attribute) of the execute
/// event when present, else the host address without port.
pub fn site_of(
    host: &str,
    props: &[(std::borrow::Cow<'static, str>, holdadvisor_parsers::Value)],
) -> String {
    for (k, v) in props {
        if k.contains("Site")
            && let Some(s) = v.as_str()
        {
            return s.to_string();
        }
    }
    let h = host.trim_start_matches('<');
    let end = h.find([':', '?', '>']).unwrap_or(h.len());
    h[..end].to_string()
}

mod input;
pub mod ours;
pub mod reference;

pub use input::EpisodeInput;

/// Runs a stream over events already in time order and returns every episode.
pub fn extract<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    encoders: Vec<EncoderConfig>,
) -> Vec<Episode> {
    let mut stream = EpisodeStream::new(encoders);
    for e in events {
        stream.push(e);
    }
    stream.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ev, synth_pool};

    #[test]
    fn sparse_input_keeps_every_cell_of_the_dense_matrix() {
        let (steps, width) = (4, 3);
        // Two padding rows, then a row with a negative value and a row ending in a set cell.
        let dense = [0., 0., 0., 0., 0., 0., 0., -2.5, 0., 1., 0., 7.];
        let x = EpisodeInput::from_dense(steps, width, &dense);
        assert_eq!(x.cells(), &[(7, -2.5), (9, 1.0), (11, 7.0)]);
        assert_eq!(x.to_dense(), dense);
        assert_eq!(x.padding_rows(), 2);
        // An all-zero input still has one real step.
        assert_eq!(
            EpisodeInput::from_dense(steps, width, &[0.0; 12]).padding_rows(),
            3
        );
        // Time-major rows from step 1, as slot 1 of a batch of 2: rows 1, 2, 3 land at
        // out rows 1, 3, 5.
        let mut out = vec![0f32; 3 * 2 * width];
        x.write_time_major(1, 1, 2, &mut out);
        let mut expect = vec![0f32; 3 * 2 * width];
        for s in 1..steps {
            let row = ((s - 1) * 2 + 1) * width;
            expect[row..row + width].copy_from_slice(&dense[s * width..(s + 1) * width]);
        }
        assert_eq!(out, expect);
    }

    fn both() -> Vec<EncoderConfig> {
        vec![
            EncoderConfig::ours(),
            EncoderConfig::reference().with_ref_anchor(ReferenceAnchor::ThisHold),
        ]
    }

    #[test]
    fn shapes_and_labels_of_a_simple_job() {
        let events = vec![
            ev::submit(1, 0),
            ev::execute(1, 10),
            ev::held(1, 20, 13, 2),
            ev::released(1, 30),
            ev::execute(1, 40),
            ev::terminated(1, 50, 0),
        ];
        let eps = extract(&events, both());
        assert_eq!(eps.len(), 1);
        let e = &eps[0];
        assert_eq!(
            (e.code, e.subcode, e.num_holds, e.index, e.label),
            (13, 2, 1, 0, Label::Positive)
        );
        assert!(e.released && e.transfer());
        assert_eq!(e.inputs[0].shape(), (16, OURS_WIDTH));
        let dense = e.inputs[0].to_dense();
        assert_eq!(dense.len(), 16 * OURS_WIDTH);
        assert_eq!(e.inputs[0].padding_rows(), 13);
        // three events known at the hold: the first 13 rows are padding
        let rows: Vec<bool> = dense
            .chunks(OURS_WIDTH)
            .map(|r| r.iter().any(|&x| x != 0.0))
            .collect();
        assert_eq!(rows.iter().filter(|&&r| r).count(), 3);
        assert!(rows[13..].iter().all(|&r| r));
        // the last row is the hold, with code 13 set
        let last = &dense[15 * OURS_WIDTH..];
        assert_eq!(last[ours::kind_index(&events[2])], 1.0);
        assert_eq!(last[ours::KINDS + 13], 1.0);
        // reference: (10, 460); held job in slot 0: submit (0), execute (1), held (12) in the last frame
        let r = &e.inputs[1];
        assert_eq!(r.shape(), (10, 460));
        let dense = r.to_dense();
        let last = &dense[9 * 460..];
        assert_eq!((last[0], last[1], last[12], last[13]), (1.0, 1.0, 1.0, 0.0));
        assert_eq!(dense.iter().filter(|&&x| x != 0.0).count(), 3);
        assert_eq!(r.cells().len(), 3);
    }

    #[test]
    fn a_second_hold_is_a_second_episode() {
        let events = vec![
            ev::submit(1, 0),
            ev::execute(1, 10),
            ev::held(1, 20, 13, 2),
            ev::released(1, 30),
            ev::held(1, 40, 13, 2),
            ev::aborted(1, 50),
        ];
        let eps = extract(&events, both());
        assert_eq!(eps.len(), 2);
        assert_eq!(
            (eps[0].label, eps[1].label),
            (Label::Negative, Label::Censored)
        );
        assert_eq!((eps[1].index, eps[1].num_holds), (1, 2));
    }

    /// Encodings of every episode must not change when anything after its hold changes.
    #[test]
    fn no_leakage_from_events_after_the_hold() {
        let events = synth_pool(7, 150);
        let base = extract(&events, both());
        assert!(base.len() > 20, "{} episodes", base.len());
        let mut checked = 0;
        for probe in base.iter().step_by(base.len() / 8) {
            let t = probe.hold_time;
            // keep everything up to and including the hold; alter everything after it
            let cut = events
                .iter()
                .position(|e| e.timestamp > t)
                .unwrap_or(events.len());
            let mut altered: Vec<Event> = events[..cut].to_vec();
            for e in &events[cut..] {
                let mut e = e.clone();
                match &mut e.body {
                    EventBody::Held(h) => {
                        h.code = 34;
                        h.subcode = 102;
                        h.reason = Some("memory".into());
                    }
                    EventBody::Terminated(_) => e.body = ev::aborted(0, 0).body,
                    _ => {}
                }
                if e.is(EventType::JobAborted) {
                    e.number = EventType::JobTerminated as u16;
                    e.body = ev::terminated(0, 0, 3).body;
                }
                altered.push(e.clone());
                altered.push(ev::held(e.id.cluster, e.timestamp + 1, 12, 5));
            }
            let again = extract(&altered, both());
            let a = again
                .iter()
                .find(|x| x.job == probe.job && x.hold_time == t && x.index == probe.index)
                .expect("episode still there");
            assert_eq!(
                a.inputs, probe.inputs,
                "episode of {} at {t} changed",
                probe.job
            );
            assert_eq!(a.num_holds, probe.num_holds);
            checked += 1;
        }
        assert!(checked >= 8);
    }

    #[test]
    fn pool_context_counts_other_jobs_same_code_same_site() {
        let site = "<10.9.9.9:9618>";
        let mut events = Vec::new();
        for c in 1..=4 {
            events.push(ev::submit(c, 0));
            events.push(ev::execute_at(c, 0, 10 + c, site));
        }
        for c in 1..=3 {
            events.push(ev::held_proc(
                c,
                0,
                100 + c,
                13,
                110,
                "Connection timed out",
            ));
        }
        events.push(ev::held_proc(4, 0, 200, 13, 110, "Connection timed out"));
        let eps = extract(&events, vec![EncoderConfig::ours()]);
        let last = eps[3].inputs[0].to_dense()[15 * OURS_WIDTH..].to_vec();
        let o = ours::KINDS
            + ours::CODES
            + ours::SUBCODES
            + ours::PAIRS
            + ours::TIME
            + ours::COUNTS
            + ours::MEMORY;
        assert!(
            (last[o] - (3f32).ln_1p()).abs() < 1e-6,
            "same code {}",
            last[o]
        );
        assert!(
            (last[o + 1] - (3f32).ln_1p()).abs() < 1e-6,
            "owners (one per cluster) {}",
            last[o + 1]
        );
        assert!(
            (last[o + 2] - (3f32).ln_1p()).abs() < 1e-6,
            "same site {}",
            last[o + 2]
        );
        // the first hold saw no others
        let first = eps[0].inputs[0].to_dense()[15 * OURS_WIDTH..].to_vec();
        assert_eq!(first[o], 0.0);
    }

    #[test]
    fn named_user_reads_htcondor_tools_reasons() {
        assert_eq!(
            named_user("via condor_release (by user alice)"),
            Some("alice")
        );
        assert_eq!(
            named_user("via condor_rm (by user bob@ap1)"),
            Some("bob@ap1")
        );
        assert_eq!(named_user("via condor_hold (by user )"), None);
        assert_eq!(named_user("via condor_hold (by user carol"), None);
        assert_eq!(
            named_user("The job attribute PeriodicRelease expression"),
            None
        );
    }

    /// The hold step carries how the cluster's and the named owner's earlier releases turned
    /// out, counting only releases resolved before the hold.
    #[test]
    fn release_history_of_cluster_and_owner() {
        let periodic_release = |c, p, t| {
            let mut e = ev::released_proc(c, p, t);
            e.body = EventBody::Released {
                reason: Some(
                    "The job attribute PeriodicRelease expression 'true' evaluated to TRUE".into(),
                ),
            };
            e
        };
        let alice = |c, p, t| {
            let mut e = ev::released_proc(c, p, t);
            e.body = EventBody::Released {
                reason: Some("via condor_release (by user alice)".into()),
            };
            e
        };
        let events = vec![
            // Cluster 1 (alice, named by her release): proc 0's release works, proc 1's does
            // not (held again), then proc 2 is held for the same cause.
            ev::submit(1, 0),
            ev::held_proc(1, 0, 10, 13, 2, "missing input"),
            ev::held_proc(1, 1, 11, 13, 2, "missing input"),
            alice(1, 0, 20),
            alice(1, 1, 21),
            ev::terminated_proc(1, 0, 30, Termination::Normal { return_value: 0 }, 1024),
            ev::held_proc(1, 1, 31, 13, 2, "missing input"),
            ev::held_proc(1, 2, 40, 13, 2, "missing input"),
            // Cluster 2: a release resolved before anyone named its owner, then alice holds a
            // job of it herself.
            ev::held_proc(2, 0, 50, 26, 0, "policy"),
            periodic_release(2, 0, 51),
            ev::terminated_proc(2, 0, 60, Termination::Normal { return_value: 0 }, 1024),
            ev::held_proc(2, 1, 70, 1, 0, "via condor_hold (by user alice)"),
        ];
        let eps = extract(&events, vec![EncoderConfig::ours()]);
        let hold_row = |job: JobId, t: i64| {
            let e = eps
                .iter()
                .find(|e| e.job == job && e.hold_time == t)
                .expect("episode");
            e.inputs[0].to_dense()[15 * OURS_WIDTH..][ours::O_HISTORY..][..ours::HISTORY].to_vec()
        };
        let ln = |n: u32| (n as f32).ln_1p();
        // Cluster 1's first holds: nothing known, owner not yet named.
        assert_eq!(hold_row(JobId::new(1, 0), 10), vec![0.0; ours::HISTORY]);
        // Proc 2: alice named; one release worked and one failed, both code 13.
        let h = hold_row(JobId::new(1, 2), 40);
        assert_eq!(
            h,
            vec![
                1.0,
                ln(1),
                ln(1),
                0.5,
                ln(1),
                ln(1),
                0.5,
                ln(1),
                ln(1),
                ln(1),
                ln(1)
            ]
        );
        // Cluster 2, proc 1: alice, named only now, takes cluster 2's earlier release (code
        // 26, worked) into her record: 2 worked, 1 failed; none of code 1.
        let h = hold_row(JobId::new(2, 1), 70);
        assert_eq!(
            h,
            vec![1.0, ln(2), ln(1), 0.6, 0.0, 0.0, 0.5, ln(1), 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn reference_first_hold_anchor_repeats_the_first_tensor() {
        let events = vec![
            ev::submit(1, 0),
            ev::held(1, 20, 13, 2),
            ev::released(1, 30),
            ev::execute(1, 40),
            ev::held(1, 4000, 13, 2),
        ];
        let eps = extract(&events, vec![EncoderConfig::reference()]);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].inputs[0], eps[1].inputs[0]);
        let eps = extract(
            &events,
            vec![EncoderConfig::reference().with_ref_anchor(ReferenceAnchor::ThisHold)],
        );
        assert_ne!(eps[0].inputs[0], eps[1].inputs[0]);
    }
}
