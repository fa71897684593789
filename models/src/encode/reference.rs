//! The reference project's encoding, reproduced: a `(m, j*e)` tensor of one-hot event types
//! in `m` frames of `ref_frame_seconds` ending at the hold (the last frame includes the hold
//! time), for the held job (slot 0) and the `j-1` other jobs whose latest event in that
//! window is most recent (ties: lower job id first). A cell is 1 when that job had an event of
//! that number in that frame. No hold code, no times within frames, no counts.

use super::*;

/// The window's events per job, and the jobs ordered by their latest event, so that an
/// encoding reads only the `j` jobs it uses.
pub(super) struct RefState {
    m: usize,
    j: usize,
    e: usize,
    frame: i64,
    per_job: HashMap<JobId, VecDeque<(i64, u16)>>,
    by_latest: std::collections::BTreeSet<(i64, JobId)>,
}

impl RefState {
    pub(super) fn new(cfg: &EncoderConfig) -> RefState {
        RefState {
            m: cfg.ref_frames,
            j: cfg.ref_jobs,
            e: cfg.ref_event_types.max(1),
            frame: cfg.ref_frame_seconds.max(1),
            per_job: HashMap::default(),
            by_latest: Default::default(),
        }
    }

    pub(super) fn observe(&mut self, event: &Event) {
        let span = self.frame * self.m as i64;
        let now = event.timestamp;
        // forget jobs with nothing in the window
        while let Some(&(t, id)) = self.by_latest.first() {
            if t > now - span {
                break;
            }
            self.by_latest.pop_first();
            self.per_job.remove(&id);
        }
        let q = self.per_job.entry(event.id).or_default();
        if let Some(&(last, _)) = q.back() {
            self.by_latest.remove(&(last, event.id));
        }
        while q.front().is_some_and(|&(t, _)| t <= now - span) {
            q.pop_front();
        }
        q.push_back((now, event.number));
        let latest = q.back().map_or(now, |&(t, _)| t).max(now);
        self.by_latest.insert((latest, event.id));
    }

    pub(super) fn encode(&self, job: JobId, at: i64) -> EpisodeInput {
        let (m, j, e) = (self.m, self.j, self.e);
        let start = at - self.frame * m as i64; // exclusive
        // the held job, then the j-1 others with the most recent latest event in the window
        // (ties: lower job id first)
        let mut jobs = vec![job];
        let mut iter = self
            .by_latest
            .iter()
            .rev()
            .filter(|&&(t, id)| t > start && t <= at && id != job)
            .peekable();
        while jobs.len() < j {
            let Some(&&(t, first)) = iter.next().as_ref() else {
                break;
            };
            let mut tied = vec![first];
            while let Some(&&(t2, id2)) = iter.peek() {
                if t2 != t {
                    break;
                }
                tied.push(id2);
                iter.next();
            }
            tied.sort();
            for id in tied {
                if jobs.len() < j {
                    jobs.push(id);
                }
            }
        }
        let width = j * e;
        let mut set: Vec<u32> = Vec::new();
        for (s, id) in jobs.iter().enumerate() {
            let Some(q) = self.per_job.get(id) else {
                continue;
            };
            for &(t, number) in q {
                if t <= start || t > at {
                    continue;
                }
                // frame k covers (at - (m-k)*F, at - (m-k-1)*F]
                let back = ((at - t) / self.frame) as usize; // 0 = last frame
                if back >= m {
                    continue;
                }
                let k = m - 1 - back;
                let ev = (number as usize).min(e - 1);
                set.push((k * width + s * e + ev) as u32);
            }
        }
        set.sort_unstable();
        set.dedup();
        let cells = set.into_iter().map(|i| (i, 1.0)).collect();
        EpisodeInput::from_sorted_cells(m, width, cells)
    }
}
