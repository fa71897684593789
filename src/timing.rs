//! Stage timings on stderr when `HOLDADVISOR_TIMINGS` is set: how `bench/q.sh` shows where a
//! scan spends its time, without a profiler. Each stage prints its wall time and the CPU time
//! of the whole process (all threads), which stays meaningful on a busy machine.

use std::time::Instant;

/// Prints the time since the previous mark (or since it was made) at each [`mark`](Self::mark).
pub struct Stopwatch {
    enabled: bool,
    last: Instant,
    last_cpu: f64,
}

/// CPU seconds used by this process so far, all threads.
fn process_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0;
    if ok {
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    } else {
        0.0
    }
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            enabled: std::env::var_os("HOLDADVISOR_TIMINGS").is_some(),
            last: Instant::now(),
            last_cpu: process_cpu_seconds(),
        }
    }

    pub fn mark(&mut self, stage: &str) {
        self.mark_with(|| stage.to_string());
    }

    /// As [`mark`](Self::mark), with a label that is only built when timings are shown.
    pub fn mark_with(&mut self, stage: impl FnOnce() -> String) {
        if self.enabled {
            let stage = stage();
            let (now, cpu) = (Instant::now(), process_cpu_seconds());
            eprintln!(
                "[timing] {stage}: {:.0} ms wall, {:.0} ms CPU",
                (now - self.last).as_secs_f64() * 1e3,
                (cpu - self.last_cpu) * 1e3
            );
            (self.last, self.last_cpu) = (now, cpu);
        }
    }
}
