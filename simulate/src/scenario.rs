//! The scenario: every rate of the pool model, read from TOML over the embedded default.

use serde::Deserialize;

/// The default scenario, documented line by line.
pub const DEFAULT_SCENARIO: &str = include_str!("default_scenario.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub pool: Pool,
    pub sites: Vec<Site>,
    pub users: Users,
    pub clusters: Clusters,
    pub matchmaking: Matchmaking,
    pub churn: Churn,
    pub outages: Outages,
    pub black_holes: BlackHoles,
    pub causes: Causes,
    pub responses: Responses,
    /// Stress: events that a pool's history rarely shows and advice must survive.
    #[serde(default)]
    pub stress: Stress,
}

/// Stress events laid over the pool (`[stress]` in a scenario; all off by default). Times are
/// hours after `[pool] start`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stress {
    /// One owner's broken cluster: submitted at this hour (negative: none), all of its
    /// `broken_cluster_procs` procs miss their input file and are held within the hour.
    pub broken_cluster_at_hours: f64,
    pub broken_cluster_procs: u32,
    /// Outage waves: windows in which every site's storage fails at once.
    pub waves_per_day: f64,
    pub wave_duration_median_s: f64,
    /// A window in which most releases fail: every site's transfers fail from `failing_from`
    /// to `failing_to` hours (an access point's storage, or a pool-wide network problem).
    pub failing_from_hours: f64,
    pub failing_to_hours: f64,
    /// A quiet window: no outages or black holes, and clusters submitted in it are sound.
    pub quiet_from_hours: f64,
    pub quiet_to_hours: f64,
}

impl Default for Stress {
    fn default() -> Stress {
        Stress {
            broken_cluster_at_hours: -1.0,
            broken_cluster_procs: 1000,
            waves_per_day: 0.0,
            wave_duration_median_s: 7200.0,
            failing_from_hours: 0.0,
            failing_to_hours: 0.0,
            quiet_from_hours: 0.0,
            quiet_to_hours: 0.0,
        }
    }
}

impl Stress {
    /// The window `[from, to)` in Unix seconds, if it is not empty.
    pub fn window(start: i64, from_hours: f64, to_hours: f64) -> Option<(i64, i64)> {
        (to_hours > from_hours && from_hours.is_finite() && to_hours.is_finite()).then(|| {
            (
                start + (from_hours * 3600.0) as i64,
                start + (to_hours * 3600.0) as i64,
            )
        })
    }

    pub fn failing(&self, start: i64) -> Option<(i64, i64)> {
        Stress::window(start, self.failing_from_hours, self.failing_to_hours)
    }

    pub fn quiet(&self, start: i64) -> Option<(i64, i64)> {
        Stress::window(start, self.quiet_from_hours, self.quiet_to_hours)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub start: i64,
    pub ap_name: String,
    pub ap_ip: String,
    pub first_cluster: i64,
    pub jobs_per_hour: f64,
    pub tail_hours: f64,
    pub event_log_max_bytes: u64,
    pub event_log_max_rotations: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    pub eps: u32,
    pub slots_per_ep: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    pub count: u32,
    pub response_delay_median_s: f64,
    pub response_delay_sigma: f64,
    /// Spread of the owners' habits (`cluster::Habit`); 0: every owner alike.
    pub habit_spread: f64,
    /// How much likelier an owner is to remove, rather than release, with each earlier look
    /// at the cluster's holds.
    pub patience_loss: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clusters {
    pub procs_median: f64,
    pub procs_sigma: f64,
    pub procs_max: u32,
    pub runtime_median_s: f64,
    pub runtime_sigma: f64,
    pub runtime_proc_sigma: f64,
    pub request_memory_mb: Vec<i64>,
    pub request_disk_kb: Vec<i64>,
    pub memory_fraction_median: f64,
    pub disk_fraction_median: f64,
    pub nonzero_exit: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matchmaking {
    pub delay_mean_s: f64,
    pub input_transfer_median_s: f64,
    pub output_transfer_median_s: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    pub evict_per_run: f64,
    pub disconnect_per_run: f64,
    pub reconnect_success: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outages {
    pub per_site_per_day: f64,
    pub duration_median_s: f64,
    pub duration_sigma: f64,
    pub hit_probability: f64,
    pub storage_share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackHoles {
    pub per_day: f64,
    pub duration_median_s: f64,
    pub attraction: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Causes {
    pub missing_input: f64,
    pub missing_input_all_procs: f64,
    pub missing_output: f64,
    pub memory_over: f64,
    pub memory_policy_startd: f64,
    pub disk_over: f64,
    pub bad_executable: f64,
    pub periodic_hold: f64,
    pub user_hold: f64,
    pub periodic_release: f64,
}

/// Probabilities of each reaction; they need not sum to 1 (they are weights).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    pub release: f64,
    pub qedit_release: f64,
    pub remove: f64,
    pub nothing: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Responses {
    pub transfer: Reaction,
    pub resources: Reaction,
    pub executable: Reaction,
    pub policy: Reaction,
    pub user: Reaction,
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

impl Scenario {
    /// The default scenario with the keys of `text` (a TOML scenario) laid over it.
    pub fn from_toml(text: Option<&str>) -> anyhow::Result<Scenario> {
        let mut base: toml::Value = toml::from_str(DEFAULT_SCENARIO)?;
        if let Some(text) = text {
            let over: toml::Value = toml::from_str(text)?;
            merge(&mut base, over);
        }
        let s: Scenario = base.try_into()?;
        anyhow::ensure!(!s.sites.is_empty(), "the scenario has no sites");
        anyhow::ensure!(s.users.count > 0, "the scenario has no users");
        anyhow::ensure!(s.pool.jobs_per_hour > 0.0, "jobs_per_hour must be positive");
        anyhow::ensure!(
            !s.clusters.request_memory_mb.is_empty() && !s.clusters.request_disk_kb.is_empty(),
            "empty request lists"
        );
        let st = &s.stress;
        anyhow::ensure!(
            st.waves_per_day.is_finite()
                && st.waves_per_day >= 0.0
                && st.wave_duration_median_s.is_finite()
                && st.wave_duration_median_s > 0.0
                && st.broken_cluster_at_hours.is_finite(),
            "[stress]: rates and durations must be finite, rates >= 0 and durations > 0"
        );
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parses_and_overrides_merge() {
        let s = Scenario::from_toml(None).unwrap();
        assert_eq!(s.sites.len(), 5);
        let s = Scenario::from_toml(Some("[pool]\njobs_per_hour = 10.0\n")).unwrap();
        assert_eq!(s.pool.jobs_per_hour, 10.0);
        assert_eq!(s.pool.ap_name, "ap1.example.org");
        assert!(Scenario::from_toml(Some("[pool]\nbogus = 1\n")).is_err());
    }
}
