//! Reading logs into episodes, splitting them, and turning them into batches.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::{Device, Tensor, TensorData};
use holdadvisor_parsers::{Event, EventReader, ReadOptions, Zone};
use serde::{Deserialize, Serialize};

use crate::encode::{EncoderConfig, Episode, EpisodeInput, EpisodeStream, StreamStats};
use crate::hash::Fnv64;
use crate::labels::{CensoredPolicy, Label};
use crate::model::TimeMajor;
use crate::rng::Rng;

/// How episodes are split into train, validation and test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitKind {
    /// By hold time: the earliest holds train, the latest test (the default and the honest one).
    Time,
    /// Shuffled with the training seed (only on request: it lets the future leak into training
    /// through the pool context).
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    Train,
    Validation,
    Test,
    /// Held before a boundary of the time split, but its outcome was decided after it: in no
    /// split, since training or validating on it would use what was not yet known when the
    /// next split's holds were advised.
    Embargoed,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
            Split::Embargoed => "embargoed",
        }
    }
}

/// Assigns every episode a split, or shuffles them with `seed` for [`SplitKind::Random`].
///
/// The time split cuts at two moments: the hold times of the episodes at the `train` and
/// `train + validation` fractions of all episodes ordered by hold time. Each episode goes by
/// its own hold time, so holds of the same second (one cluster's, which share their fate)
/// never straddle a boundary. A train or validation episode whose outcome was decided at or
/// after the next boundary is [`Split::Embargoed`]: when the test's first hold was advised,
/// nobody knew how it ended.
pub fn assign_splits(
    episodes: &[Episode],
    kind: SplitKind,
    train: f64,
    validation: f64,
    seed: u64,
) -> Vec<Split> {
    let n = episodes.len();
    let mut order: Vec<usize> = (0..n).collect();
    let n_train = ((n as f64) * train).round() as usize;
    let n_valid = ((n as f64) * validation).round() as usize;
    if kind == SplitKind::Time {
        order.sort_by_key(|&i| episodes[i].hold_time);
        let moment = |rank: usize| order.get(rank).map(|&i| episodes[i].hold_time);
        let (valid_from, test_from) = (moment(n_train), moment(n_train + n_valid));
        let after = |t: i64, from: Option<i64>| from.is_some_and(|b| t >= b);
        return episodes
            .iter()
            .map(|e| {
                let (split, next) = if after(e.hold_time, test_from) {
                    (Split::Test, None)
                } else if after(e.hold_time, valid_from) {
                    (Split::Validation, test_from)
                } else {
                    (Split::Train, valid_from)
                };
                match e.decided_time {
                    Some(d) if after(d, next) => Split::Embargoed,
                    _ => split,
                }
            })
            .collect();
    }
    Rng::new(seed).shuffle(&mut order);
    let mut splits = vec![Split::Test; n];
    for (rank, &i) in order.iter().enumerate() {
        splits[i] = if rank < n_train {
            Split::Train
        } else if rank < n_train + n_valid {
            Split::Validation
        } else {
            Split::Test
        };
    }
    splits
}

/// Event log files of a `--data DIR` (the simulator's output): `DIR/EventLog` when present
/// (it holds every job's events), else every `*.log` file under DIR.
pub fn data_dir_logs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let global = dir.join("EventLog");
    if global.is_file() {
        return Ok(vec![global]);
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "log") {
                out.push(p);
            }
        }
    }
    out.sort();
    anyhow::ensure!(
        !out.is_empty(),
        "{}: no EventLog and no *.log files",
        dir.display()
    );
    Ok(out)
}

/// Reads event logs (any format), drops the same event seen in two files (a user log and the
/// global log), and orders everything by time (stable). Malformed events are counted and
/// skipped. Times without `Z` are read as UTC, so results do not depend on the machine's zone.
pub fn read_events(paths: &[PathBuf]) -> anyhow::Result<(Vec<Event>, u64)> {
    let mut events = Vec::new();
    let mut seen: HashSet<(i64, i64, u16, i64)> = HashSet::new();
    let mut malformed = 0;
    for p in paths {
        let opts = ReadOptions {
            zone: Zone::Utc,
            ..Default::default()
        };
        let reader = EventReader::open(p, opts)?;
        for item in reader {
            match item {
                Ok(e) => {
                    if seen.insert((
                        e.id.cluster,
                        e.id.proc,
                        e.number,
                        (e.time.and_utc().timestamp_millis()),
                    )) {
                        events.push(e);
                    }
                }
                Err(_) => malformed += 1,
            }
        }
    }
    if !events.is_sorted_by_key(|e| e.timestamp) {
        events.sort_by_key(|e| e.timestamp);
    }
    Ok((events, malformed))
}

/// Episodes of some logs with one input per encoder, and what the stream counted.
pub fn episodes_of(
    paths: &[PathBuf],
    encoders: Vec<EncoderConfig>,
) -> anyhow::Result<(Vec<Episode>, StreamStats, u64)> {
    let (events, malformed) = read_events(paths)?;
    let mut stream = EpisodeStream::new(encoders);
    for e in &events {
        stream.push(e);
    }
    let stats = stream.stats().clone();
    Ok((stream.finish(), stats, malformed))
}

/// Episodes of several pools, each read as its own stream (their job ids may collide, and
/// their pool context must not mix), concatenated in the order given. The time split then
/// orders all episodes by hold time.
pub fn episodes_of_pools(
    pools: &[Vec<PathBuf>],
    encoders: Vec<EncoderConfig>,
) -> anyhow::Result<(Vec<Episode>, StreamStats, u64)> {
    let mut all = Vec::new();
    let mut stats = StreamStats::default();
    let mut malformed = 0;
    for paths in pools {
        let (eps, s, m) = episodes_of(paths, encoders.clone())?;
        all.extend(eps);
        stats.events += s.events;
        stats.out_of_order += s.out_of_order;
        stats.episodes += s.episodes;
        malformed += m;
    }
    Ok((all, stats, malformed))
}

/// A hash of what training saw: every episode's identity, label and input values.
pub fn data_hash(episodes: &[Episode], encoder: usize) -> String {
    let mut h = Fnv64::default();
    let mut mix = |bytes: &[u8]| h.write(bytes);
    for e in episodes {
        mix(&e.job.cluster.to_le_bytes());
        mix(&e.job.proc.to_le_bytes());
        mix(&e.hold_time.to_le_bytes());
        mix(&[e.label as u8]);
        // Over the dense matrix, zeros included: the hash models were trained with.
        for v in e.inputs[encoder].to_dense() {
            mix(&v.to_bits().to_le_bytes());
        }
    }
    format!("{:016x}", h.finish())
}

/// One training or scoring sample: an episode index, its target and weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub episode: usize,
    pub target: f32,
    pub weight: f32,
}

/// The samples of one split under a censored policy (open episodes never appear).
pub fn samples(
    episodes: &[Episode],
    splits: &[Split],
    split: Split,
    censored: CensoredPolicy,
) -> Vec<Sample> {
    episodes
        .iter()
        .enumerate()
        .filter(|(i, _)| splits[*i] == split)
        .filter_map(|(i, e)| {
            censored
                .training_target(e.label)
                .map(|(target, weight)| Sample {
                    episode: i,
                    target,
                    weight,
                })
        })
        .collect()
}

/// Caps the total weight of each ClusterId's samples at `cap` (none or 0: no cap), scaling its
/// samples alike. The procs of a cluster are held together and answered with one owner
/// decision, so a cluster of a thousand holds is one observation of that decision, not a
/// thousand; uncapped, a few large clusters decide what the model and its calibration learn.
pub fn cap_cluster_weight(samples: &mut [Sample], episodes: &[Episode], cap: Option<f32>) {
    // A configuration file may say 0 for none, as the command line does.
    let Some(cap) = cap.filter(|c| *c > 0.0) else {
        return;
    };
    let mut total: HashMap<i64, f32> = HashMap::new();
    for s in samples.iter() {
        *total.entry(episodes[s.episode].job.cluster).or_default() += s.weight;
    }
    for s in samples.iter_mut() {
        let t = total[&episodes[s.episode].job.cluster];
        if t > cap {
            s.weight *= cap / t;
        }
    }
}

/// Scored samples: labelled (positive or negative) episodes only, weight 1.
pub fn scored_samples(episodes: &[Episode], splits: &[Split], split: Split) -> Vec<Sample> {
    samples(episodes, splits, split, CensoredPolicy::Exclude)
}

/// Counts of labels per split, for manifests and reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LabelCounts {
    pub positive: usize,
    pub negative: usize,
    pub censored: usize,
    pub open: usize,
}

pub fn label_counts(episodes: &[Episode], splits: &[Split], split: Split) -> LabelCounts {
    let mut c = LabelCounts::default();
    for (e, s) in episodes.iter().zip(splits) {
        if *s != split {
            continue;
        }
        match e.label {
            Label::Positive => c.positive += 1,
            Label::Negative => c.negative += 1,
            Label::Censored => c.censored += 1,
            Label::Open => c.open += 1,
        }
    }
    c
}

/// A batch on a device.
pub struct Batch {
    /// Time-major (`[T·B, F]`), what [`HoldModel::forward_time_major`] reads.
    ///
    /// [`HoldModel::forward_time_major`]: crate::model::HoldModel::forward_time_major
    pub inputs: TimeMajor,
    pub targets: Tensor<1>,
    pub weights: Tensor<1>,
}

/// Builds batches from episodes' inputs (the burn example's "batcher").
pub struct Batcher<'a> {
    pub episodes: &'a [Episode],
    /// Which of each episode's inputs (encoder index).
    pub encoder: usize,
    /// Multiplies the weight of positive samples (class weighting); 1 for none.
    pub positive_weight: f32,
}

impl Batcher<'_> {
    pub fn batch(&self, samples: &[Sample], device: &Device) -> Batch {
        let inputs: Vec<&EpisodeInput> = samples
            .iter()
            .map(|s| &self.episodes[s.episode].inputs[self.encoder])
            .collect();
        let targets: Vec<f32> = samples.iter().map(|s| s.target).collect();
        let weights: Vec<f32> = samples
            .iter()
            .map(|s| {
                if s.target > 0.5 {
                    s.weight * self.positive_weight
                } else {
                    s.weight
                }
            })
            .collect();
        let n = targets.len();
        Batch {
            inputs: inputs_time_major(&inputs, device),
            targets: Tensor::from_data(TensorData::new(targets, [n]), device),
            weights: Tensor::from_data(TensorData::new(weights, [n]), device),
        }
    }
}

/// Stacks inputs of one shape time-major, `[T·B, F]` (step s of every input, then step s+1).
pub fn inputs_time_major(inputs: &[&EpisodeInput], device: &Device) -> TimeMajor {
    let (t, f) = inputs.first().map_or((1, 1), |x| x.shape());
    let mut values = vec![0f32; inputs.len() * t * f];
    for (slot, x) in inputs.iter().enumerate() {
        assert_eq!(x.shape(), (t, f), "inputs of different shapes in one batch");
        x.write_time_major(0, slot, inputs.len(), &mut values);
    }
    TimeMajor {
        x: Tensor::from_data(TensorData::new(values, [t * inputs.len(), f]), device),
        batch: inputs.len(),
    }
}

/// Stacks inputs of one shape into `[B, T, F]`.
pub fn inputs_tensor(inputs: &[&EpisodeInput], device: &Device) -> Tensor<3> {
    let (t, f) = inputs.first().map_or((1, 1), |x| x.shape());
    let mut values = vec![0f32; inputs.len() * t * f];
    for (x, out) in inputs.iter().zip(values.chunks_mut(t * f)) {
        assert_eq!(x.shape(), (t, f), "inputs of different shapes in one batch");
        x.write_dense(out);
    }
    Tensor::from_data(TensorData::new(values, [inputs.len(), t, f]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::extract;
    use crate::testkit::synth_pool;

    #[test]
    fn time_split_puts_later_holds_in_test() {
        let events = synth_pool(3, 120);
        let eps = extract(&events, vec![EncoderConfig::ours()]);
        let splits = assign_splits(&eps, SplitKind::Time, 0.6, 0.2, 1);
        let max_train = eps
            .iter()
            .zip(&splits)
            .filter(|(_, s)| **s == Split::Train)
            .map(|(e, _)| e.hold_time)
            .max()
            .unwrap();
        let min_test = eps
            .iter()
            .zip(&splits)
            .filter(|(_, s)| **s == Split::Test)
            .map(|(e, _)| e.hold_time)
            .min()
            .unwrap();
        assert!(max_train < min_test);
        let n_train = splits.iter().filter(|s| **s == Split::Train).count();
        let embargoed = splits.iter().filter(|s| **s == Split::Embargoed).count();
        assert!(n_train + embargoed >= (eps.len() as f64 * 0.6).round() as usize);
    }

    #[test]
    fn time_split_embargoes_outcomes_decided_after_a_boundary_and_keeps_seconds_together() {
        let events = synth_pool(3, 120);
        let mut eps = extract(&events, vec![EncoderConfig::ours()]);
        // Six holds of one second across the train/validation boundary (a cluster held at
        // once).
        let mut order: Vec<usize> = (0..eps.len()).collect();
        order.sort_by_key(|&i| eps[i].hold_time);
        let boundary = eps.len() / 2;
        let shared = eps[order[boundary]].hold_time;
        for &i in &order[boundary - 3..boundary + 3] {
            eps[i].hold_time = shared;
        }
        let splits = assign_splits(&eps, SplitKind::Time, 0.5, 0.2, 1);
        let in_split = |s: Split| {
            eps.iter()
                .zip(&splits)
                .filter(move |(_, x)| **x == s)
                .map(|(e, _)| e)
        };
        let valid_from = in_split(Split::Validation)
            .map(|e| e.hold_time)
            .min()
            .unwrap();
        let test_from = in_split(Split::Test).map(|e| e.hold_time).min().unwrap();
        // No outcome known to training was decided after validation began, nor any known to
        // validation after the test began.
        assert!(in_split(Split::Train).all(|e| e.decided_time.is_none_or(|d| d < valid_from)));
        assert!(in_split(Split::Validation).all(|e| e.decided_time.is_none_or(|d| d < test_from)));
        // ...and those that were are set apart, not silently moved.
        let embargoed: Vec<_> = in_split(Split::Embargoed).collect();
        assert!(
            !embargoed.is_empty(),
            "the synthetic pool has holds decided late"
        );
        assert!(embargoed.iter().all(|e| e.hold_time < test_from));
        // The same second is in one split.
        let of_second: HashSet<Split> = eps
            .iter()
            .zip(&splits)
            .filter(|(e, s)| e.hold_time == shared && **s != Split::Embargoed)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(of_second.len(), 1, "{of_second:?}");
    }

    #[test]
    fn cluster_weight_is_capped_alike_within_each_cluster() {
        let events = synth_pool(3, 120);
        let eps = extract(&events, vec![EncoderConfig::ours()]);
        let splits = vec![Split::Train; eps.len()];
        let all = samples(&eps, &splits, Split::Train, CensoredPolicy::Exclude);
        let per_cluster = |set: &[Sample]| {
            let mut m: HashMap<i64, (f32, usize)> = HashMap::new();
            for s in set {
                let e = m.entry(eps[s.episode].job.cluster).or_default();
                e.0 += s.weight;
                e.1 += 1;
            }
            m
        };
        let before = per_cluster(&all);
        // The synthetic pool has one job per cluster: a cap of 1 is one hold's weight.
        let cap = 1.0;
        assert!(
            before.values().any(|&(w, _)| w > cap),
            "the pool needs a cluster of many holds"
        );
        assert!(
            before.values().any(|&(w, _)| w <= cap),
            "and one of a single hold"
        );
        let mut capped = all.clone();
        cap_cluster_weight(&mut capped, &eps, Some(cap));
        for (cluster, (w, n)) in per_cluster(&capped) {
            let (w0, n0) = before[&cluster];
            assert_eq!(n, n0);
            assert!(
                (w - w0.min(cap)).abs() < 1e-4,
                "cluster {cluster}: {w} vs {w0}"
            );
        }
        // Within a cluster every sample is scaled by the same factor.
        for (a, b) in all.iter().zip(&capped) {
            let (w0, _) = before[&eps[a.episode].job.cluster];
            let expect = a.weight * (cap / w0).min(1.0);
            assert!((b.weight - expect).abs() < 1e-6);
        }
        let mut unchanged = all.clone();
        cap_cluster_weight(&mut unchanged, &eps, None);
        assert_eq!(unchanged, all);
    }
}
