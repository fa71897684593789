//! What sets a hold apart, for the WHY: other holds nearby, the cluster's other procs,
//! the pool's record for the code, the job's memory use, whether a missing input is there now.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use holdadvisor_models::encode::Episode;
use holdadvisor_models::labels::Label;
use holdadvisor_parsers::EventBody;
use holdadvisor_parsers::JobId;

use crate::cache::{Cache, CodeHistory};

/// Holds with the same code within an hour of a hold, as a log shows them: per code, the
/// hold times sorted, so each question is two binary searches (a scan asks it for every held
/// job, and one outage can hold tens of thousands with one code).
pub struct HoldsNearby {
    by_code: HashMap<i64, Vec<i64>>,
    by_job: HashMap<(JobId, i64), Vec<i64>>,
}

const NEARBY_SECONDS: i64 = 3600;

impl HoldsNearby {
    pub fn new(episodes: &[Episode]) -> HoldsNearby {
        let mut by_code: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut by_job: HashMap<(JobId, i64), Vec<i64>> = HashMap::new();
        for e in episodes {
            by_code.entry(e.code).or_default().push(e.hold_time);
            by_job.entry((e.job, e.code)).or_default().push(e.hold_time);
        }
        for times in by_code.values_mut() {
            times.sort_unstable();
        }
        HoldsNearby { by_code, by_job }
    }

    /// How many holds of other jobs had `ep`'s code within the hour around it.
    pub fn others(&self, ep: &Episode) -> i64 {
        let within = |t: &i64| (t - ep.hold_time).abs() <= NEARBY_SECONDS;
        let all = self.by_code.get(&ep.code).map_or(0, |times| {
            let from = times.partition_point(|&t| t < ep.hold_time - NEARBY_SECONDS);
            let to = times.partition_point(|&t| t <= ep.hold_time + NEARBY_SECONDS);
            to - from
        });
        let own = self
            .by_job
            .get(&(ep.job, ep.code))
            .map_or(0, |times| times.iter().filter(|t| within(t)).count());
        (all - own) as i64
    }
}

/// The released holds of each cluster's procs, by code, as a log shows them: what the
/// cluster's other procs, held the same way, did after a release is the best live evidence
/// for this one (a cluster's procs share their inputs, their code and often their fate).
pub struct ClusterMates {
    /// (ClusterId, HoldReasonCode) → (ProcId, recovered) of each labelled hold.
    by_cluster_code: HashMap<(i64, i64), Vec<(i64, bool)>>,
}

impl ClusterMates {
    pub fn new(episodes: &[Episode]) -> ClusterMates {
        let mut by_cluster_code: HashMap<(i64, i64), Vec<(i64, bool)>> = HashMap::new();
        for e in episodes {
            let recovered = match e.label {
                Label::Positive => true,
                Label::Negative => false,
                Label::Censored | Label::Open => continue,
            };
            by_cluster_code
                .entry((e.job.cluster, e.code))
                .or_default()
                .push((e.job.proc, recovered));
        }
        ClusterMates { by_cluster_code }
    }

    /// How many holds of `ep`'s cluster's other procs with its code were released and
    /// recovered, and how many did not.
    pub fn of(&self, ep: &Episode) -> Option<(i64, i64)> {
        let holds = self.by_cluster_code.get(&(ep.job.cluster, ep.code))?;
        let (mut recovered, mut failed) = (0, 0);
        for &(_, ok) in holds.iter().filter(|(proc, _)| *proc != ep.job.proc) {
            if ok {
                recovered += 1;
            } else {
                failed += 1;
            }
        }
        Some((recovered, failed))
    }
}

/// Each (code, subcode)'s outcomes in this pool, read from the cache once per batch.
pub struct Histories<'c> {
    cache: &'c Cache,
    seen: BTreeMap<(i64, i64), CodeHistory>,
}

impl<'c> Histories<'c> {
    pub fn new(cache: &'c Cache) -> Histories<'c> {
        Histories {
            cache,
            seen: BTreeMap::new(),
        }
    }

    pub fn get(&mut self, code: i64, subcode: i64) -> anyhow::Result<CodeHistory> {
        if let Some(h) = self.seen.get(&(code, subcode)) {
            return Ok(*h);
        }
        let h = self.cache.code_history(code, subcode)?;
        self.seen.insert((code, subcode), h);
        Ok(h)
    }
}

/// Whether the input file an access point failed to read exists now; `None` unless this
/// machine can see the directory it belongs in (that is, it is that access point).
pub fn missing_input_now(code: i64, reason: Option<&str>) -> Option<(String, bool)> {
    let path = crate::advice::missing_input_file(code, reason)?;
    let p = Path::new(&path);
    p.parent().filter(|d| d.is_dir())?;
    Some((path.clone(), p.exists()))
}

/// Keeps the largest MemoryUsage (MB) each job's image-size events showed.
pub fn note_memory(memory: &mut BTreeMap<(i64, i64), i64>, e: &holdadvisor_parsers::Event) {
    if let EventBody::ImageSize(i) = &e.body
        && let Some(m) = i.memory_usage_mb
    {
        let slot = memory.entry((e.id.cluster, e.id.proc)).or_default();
        *slot = (*slot).max(m);
    }
}
