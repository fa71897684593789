//! Our encoder's per-step features.

use super::*;

/// Event kinds, one-hot.
pub const KINDS: usize = 16;
/// HoldReasonCode 0..=49, and one slot for any other code; zero on non-hold steps.
pub const CODES: usize = 51;
/// HoldReasonSubCode, hashed.
pub const SUBCODES: usize = 16;
/// (code, subcode) pair, hashed.
pub const PAIRS: usize = 32;
pub const TIME: usize = 2;
pub const COUNTS: usize = 7;
pub const MEMORY: usize = 3;
pub const POOL: usize = 9;
pub const SIBLINGS: usize = 4;
/// Hold-reason text patterns, see [`REASON_PATTERNS`].
pub const REASONS: usize = 10;
/// How earlier releases of the owner's and the cluster's holds turned out (hold steps).
pub const HISTORY: usize = 11;
pub const WIDTH: usize = KINDS
    + CODES
    + SUBCODES
    + PAIRS
    + TIME
    + COUNTS
    + MEMORY
    + POOL
    + SIBLINGS
    + REASONS
    + HISTORY
    + 1;

const O_CODE: usize = KINDS;
const O_SUB: usize = O_CODE + CODES;
const O_PAIR: usize = O_SUB + SUBCODES;
const O_TIME: usize = O_PAIR + PAIRS;
const O_COUNT: usize = O_TIME + TIME;
const O_MEM: usize = O_COUNT + COUNTS;
const O_POOL: usize = O_MEM + MEMORY;
const O_SIB: usize = O_POOL + POOL;
const O_REASON: usize = O_SIB + SIBLINGS;
/// The first of the [`HISTORY`] columns.
pub const O_HISTORY: usize = O_REASON + REASONS;
const O_PRESENT: usize = O_HISTORY + HISTORY;

/// A success rate that is 1/2 with no evidence and moves towards the observed rate.
fn smoothed_rate(o: Outcomes) -> f32 {
    (o.ok as f32 + 1.0) / (o.ok as f32 + o.failed as f32 + 2.0)
}

/// Lower-case substrings of the hold reason, one feature per row (any match sets it).
pub const REASON_PATTERNS: [&[&str]; REASONS] = [
    &["memory"],
    &["disk"],
    &["transfer", "failed to send file", "failed to receive file"],
    &["no such file", "errno 2)", "errno=2", "not found"],
    &[
        "timed out",
        "timeout",
        "connection",
        "refused",
        "network",
        "unreachable",
    ],
    &["permission denied", "errno 13", "errno=13"],
    &["docker", "singularity", "apptainer", "container", "image"],
    &["periodichold", "periodic_hold", "policy", "expression"],
    &["condor_hold", "by user"],
    &["exec format", "failed to execute", "not executable"],
];

pub fn kind_index(event: &Event) -> usize {
    use EventType::*;
    match event.event_type() {
        Some(Submit) => 0,
        Some(Execute) => 1,
        Some(ExecutableError) => 2,
        Some(JobEvicted) => 3,
        Some(JobTerminated) => 4,
        Some(ImageSize) => 5,
        Some(ShadowException) => 6,
        Some(JobAborted) => 7,
        Some(JobHeld) => 8,
        Some(JobReleased) => 9,
        Some(JobDisconnected) => 10,
        Some(JobReconnected) => 11,
        Some(JobReconnectFailed) => 12,
        Some(FileTransfer) => 13,
        Some(JobAdInformation) | Some(AttributeUpdate) | Some(Generic) => 14,
        _ => 15,
    }
}

fn fnv(values: &[i64]) -> u64 {
    let mut h = crate::hash::Fnv64::default();
    for v in values {
        h.write(&v.to_le_bytes());
    }
    h.finish()
}

pub(super) fn step(
    event: &Event,
    job: &JobState,
    cluster: &ClusterState,
    pool: &PoolState,
    hold: Option<(i64, i64, Option<&str>)>,
    history: Option<ReleaseHistory>,
    owner: u32,
) -> SparseStep {
    let mut v = StepCells::default();
    v.set(kind_index(event), 1.0);
    let now = event.timestamp;
    if let Some((code, subcode, reason)) = hold {
        v.set(
            O_CODE
                + if (0..50).contains(&code) {
                    code as usize
                } else {
                    50
                },
            1.0,
        );
        v.set(
            O_SUB
                + if subcode == 0 {
                    0
                } else {
                    1 + (fnv(&[subcode]) % (SUBCODES as u64 - 1)) as usize
                },
            1.0,
        );
        v.set(
            O_PAIR + (fnv(&[code, subcode]) % PAIRS as u64) as usize,
            1.0,
        );
        if let Some(r) = reason {
            let r = r.to_ascii_lowercase();
            for (i, pats) in REASON_PATTERNS.iter().enumerate() {
                if pats.iter().any(|p| r.contains(p)) {
                    v.set(O_REASON + i, 1.0);
                }
            }
        }
        // Pool context for this code, excluding this job's own holds (window).
        let own_same = job
            .own_recent_holds
            .iter()
            .filter(|&&(_, c)| c == code)
            .count() as f64;
        let same = *pool.by_code.get(&code).unwrap_or(&0) as f64 - own_same;
        let owners = *pool.owners_by_code.get(&code).unwrap_or(&0) as f64
            - f64::from(pool.by_code_owner.contains_key(&(code, owner)));
        let same_site = job.site.map_or(0.0, |s| {
            *pool.by_code_site.get(&(code, s)).unwrap_or(&0) as f64 - own_same
        });
        let code_history = pool
            .history
            .get(&(code, subcode))
            .copied()
            .unwrap_or_default();
        let fail_site = job.site.map_or(0.0, |s| {
            *pool.recent_fail_code_site.get(&(code, s)).unwrap_or(&0) as f64
        });
        v.set(O_POOL, ln1p(same));
        v.set(O_POOL + 1, ln1p(owners));
        v.set(O_POOL + 2, ln1p(same_site));
        v.set(O_POOL + 4, ln1p(code_history.ok as f64));
        v.set(O_POOL + 5, ln1p(code_history.failed as f64));
        v.set(O_POOL + 6, smoothed_rate(code_history));
        v.set(O_POOL + 7, ln1p(fail_site));
    }
    if let Some(h) = history {
        if let Some((all, same_code)) = h.owner {
            v.set(O_HISTORY, 1.0);
            v.set(O_HISTORY + 1, ln1p(all.ok as f64));
            v.set(O_HISTORY + 2, ln1p(all.failed as f64));
            v.set(O_HISTORY + 3, smoothed_rate(all));
            v.set(O_HISTORY + 4, ln1p(same_code.ok as f64));
            v.set(O_HISTORY + 5, ln1p(same_code.failed as f64));
            v.set(O_HISTORY + 6, smoothed_rate(same_code));
        }
        v.set(O_HISTORY + 7, ln1p(h.cluster.ok as f64));
        v.set(O_HISTORY + 8, ln1p(h.cluster.failed as f64));
        v.set(O_HISTORY + 9, ln1p(h.cluster_same_code.ok as f64));
        v.set(O_HISTORY + 10, ln1p(h.cluster_same_code.failed as f64));
    }
    v.set(O_POOL + 3, ln1p(pool.holds.len() as f64));
    v.set(O_POOL + 8, ln1p(f64::from(pool.failures)));
    let dt = job.last_time.map_or(0, |t| now - t);
    v.set(O_TIME, ln1p(dt as f64) / 10.0);
    v.set(
        O_TIME + 1,
        job.submit_time
            .map_or(0.0, |t| ln1p((now - t) as f64) / 12.0),
    );
    for (i, n) in [
        job.starts,
        job.holds,
        job.evictions,
        job.transfer_failures,
        job.releases,
        job.shadow_exceptions,
        job.disconnects,
    ]
    .into_iter()
    .enumerate()
    {
        v.set(O_COUNT + i, ln1p(n as f64));
    }
    if let (Some(u), Some(r)) = (job.memory_usage_mb, job.request_memory_mb)
        && r > 0.0
        && u > 0.0
    {
        v.set(O_MEM, 1.0);
        v.set(O_MEM + 1, ((u / r).log2().clamp(-4.0, 4.0) / 4.0) as f32);
    }
    v.set(
        O_MEM + 2,
        job.memory_usage_mb
            .map_or(0.0, |u| (u.max(1.0).log2() / 16.0) as f32),
    );
    v.set(O_SIB, ln1p(cluster.procs.saturating_sub(1) as f64));
    v.set(O_SIB + 1, ln1p(cluster.ok as f64));
    v.set(
        O_SIB + 2,
        ln1p(
            cluster
                .held_now
                .saturating_sub(u32::from(job.held || hold.is_some())) as f64,
        ),
    );
    v.set(O_SIB + 3, ln1p(cluster.failed as f64));
    v.set(O_PRESENT, 1.0);
    v.finish()
}

/// One step's non-zero features as (column, value): about 20 of the 162. Every job not
/// yet finished keeps its last `seq_len` steps, and an access point may have 100,000s
/// of such jobs (held ones stay): dense rows cost 9.7 KB per job, most of it zeros.
pub type SparseStep = Box<[(u8, f32)]>;

/// A step's cells as [`step`] sets them (each column at most once, in no particular
/// order), without a dense row to clear and scan for every event.
struct StepCells {
    cells: [(u8, f32); MAX_SET],
    len: usize,
}

/// The most columns one step sets: one each of kind, code, subcode and pair, every reason
/// pattern, and every numeric feature.
const MAX_SET: usize = 4 + REASONS + POOL + TIME + COUNTS + MEMORY + SIBLINGS + HISTORY + 1;

impl Default for StepCells {
    fn default() -> StepCells {
        StepCells {
            cells: [(0, 0.0); MAX_SET],
            len: 0,
        }
    }
}

impl StepCells {
    fn set(&mut self, column: usize, value: f32) {
        if value != 0.0 {
            self.cells[self.len] = (column as u8, value);
            self.len += 1;
        }
    }

    fn finish(mut self) -> SparseStep {
        let cells = &mut self.cells[..self.len];
        cells.sort_unstable_by_key(|&(column, _)| column);
        debug_assert!(
            cells.windows(2).all(|w| w[0].0 < w[1].0),
            "a column set twice"
        );
        Box::from(&*cells)
    }
}
const _: () = assert!(WIDTH <= 256, "column indices are stored as u8");

/// The last `seq_len` steps, left-padded with zero rows.
pub(super) fn sequence(steps: &VecDeque<SparseStep>, seq_len: usize) -> EpisodeInput {
    let take = steps.len().min(seq_len);
    let kept = steps.iter().skip(steps.len() - take);
    let mut cells = Vec::with_capacity(kept.clone().map(|s| s.len()).sum());
    for (k, s) in kept.enumerate() {
        let row = ((seq_len - take + k) * WIDTH) as u32;
        cells.extend(s.iter().map(|&(column, x)| (row + u32::from(column), x)));
    }
    EpisodeInput::from_sorted_cells(seq_len, WIDTH, cells)
}
