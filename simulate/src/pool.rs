//! The execution side of the pool: sites of execution points with slots, and the things that
//! happen to them over time regardless of any job (storage/network outages, black holes).

use super::rng::Rng;
use super::scenario::Scenario;

#[derive(Debug, Clone)]
pub struct Ep {
    pub site: usize,
    /// `ep012.site-b.example.org`
    pub name: String,
    pub ip: String,
    pub slots: u32,
    /// The startd's `sock=` tag (`startd_<pid>_<hex>`), stable for the run.
    pub startd_pid: u32,
    pub tag: u16,
}

impl Ep {
    pub fn sinful(&self, sock: &str) -> String {
        format!(
            "<{ip}:9618?addrs={ip}-9618&alias={name}&noUDP&sock={sock}>",
            ip = self.ip,
            name = self.name
        )
    }
    pub fn startd_sinful(&self) -> String {
        self.sinful(&format!("startd_{}_{:04x}", self.startd_pid, self.tag))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// The site's storage is gone: errno 2 or 5.
    Storage,
    /// The site's network drops transfers: errno 110 or 104.
    Network,
}

#[derive(Debug, Clone)]
pub struct Outage {
    pub start: i64,
    pub end: i64,
    pub kind: OutageKind,
}

#[derive(Debug, Clone)]
pub struct BlackHole {
    pub ep: usize,
    pub start: i64,
    pub end: i64,
}

pub struct Pool {
    pub eps: Vec<Ep>,
    pub site_names: Vec<String>,
    /// Cumulative slot counts over `eps`, for matching by slots.
    cumulative: Vec<f64>,
    /// Outages per site, in start order.
    pub outages: Vec<Vec<Outage>>,
    pub black_holes: Vec<BlackHole>,
    attraction: f64,
}

impl Pool {
    /// Outages and black holes start while jobs are being submitted (`start..busy_until`).
    pub fn new(sc: &Scenario, seed: u64, busy_until: i64) -> Pool {
        let end = busy_until.max(sc.pool.start + 3600);
        let mut rng = Rng::derive(seed, 1, 0);
        let mut eps = Vec::new();
        for (s, site) in sc.sites.iter().enumerate() {
            for i in 0..site.eps {
                eps.push(Ep {
                    site: s,
                    name: format!("ep{:03}.{}.example.org", i + 1, site.name),
                    ip: format!("10.{}.{}.{}", 10 + s, i / 250, i % 250 + 1),
                    slots: site.slots_per_ep.max(1),
                    startd_pid: rng.range(1000, 60000) as u32,
                    tag: rng.range(0, 0x10000) as u16,
                });
            }
        }
        let mut acc = 0.0;
        let cumulative = eps
            .iter()
            .map(|e| {
                acc += f64::from(e.slots);
                acc
            })
            .collect();
        let start = sc.pool.start;
        let days = ((end - start) as f64 / 86400.0).max(0.0);
        let mut outages = Vec::new();
        for _ in &sc.sites {
            let mut list = Vec::new();
            let n = poisson(&mut rng, sc.outages.per_site_per_day * days);
            for _ in 0..n {
                let s = start + rng.range(0, (end - start).max(1));
                let d = rng
                    .lognormal(sc.outages.duration_median_s, sc.outages.duration_sigma)
                    .clamp(600.0, 3.0 * 86400.0) as i64;
                let kind = if rng.chance(sc.outages.storage_share) {
                    OutageKind::Storage
                } else {
                    OutageKind::Network
                };
                list.push(Outage {
                    start: s,
                    end: s + d,
                    kind,
                });
            }
            list.sort_by_key(|o| o.start);
            outages.push(list);
        }
        let mut black_holes = Vec::new();
        if !eps.is_empty() {
            for _ in 0..poisson(&mut rng, sc.black_holes.per_day * days) {
                let s = start + rng.range(0, (end - start).max(1));
                let d = rng
                    .lognormal(sc.black_holes.duration_median_s, 0.7)
                    .clamp(1800.0, 4.0 * 86400.0) as i64;
                black_holes.push(BlackHole {
                    ep: rng.range(0, eps.len() as i64) as usize,
                    start: s,
                    end: s + d,
                });
            }
        }
        black_holes.sort_by_key(|b| b.start);
        add_stress(sc, seed, start, end, &mut outages, &mut black_holes);
        Pool {
            eps,
            site_names: sc.sites.iter().map(|s| s.name.clone()).collect(),
            cumulative,
            outages,
            black_holes,
            attraction: sc.black_holes.attraction.max(1.0),
        }
    }

    pub fn outage_at(&self, site: usize, t: i64) -> Option<&Outage> {
        self.outages[site]
            .iter()
            .take_while(|o| o.start <= t)
            .find(|o| t < o.end)
    }

    pub fn black_hole_at(&self, ep: usize, t: i64) -> Option<&BlackHole> {
        self.black_holes
            .iter()
            .take_while(|b| b.start <= t)
            .find(|b| b.ep == ep && t < b.end)
    }

    /// Matches a job to an EP: by slots, with active black holes drawing more than their share.
    pub fn choose_ep(&self, rng: &mut Rng, t: i64) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let active: Vec<&BlackHole> = self
            .black_holes
            .iter()
            .take_while(|b| b.start <= t)
            .filter(|b| t < b.end)
            .collect();
        let extra: Vec<f64> = active
            .iter()
            .map(|b| f64::from(self.eps[b.ep].slots) * (self.attraction - 1.0))
            .collect();
        let x = rng.f64() * (total + extra.iter().sum::<f64>());
        if x < total {
            return self
                .cumulative
                .partition_point(|c| *c <= x)
                .min(self.eps.len() - 1);
        }
        active[rng.weighted(&extra)].ep
    }
}

/// The scenario's `[stress]` events: outage waves and a failing window on every site, and a
/// quiet window without outages or black holes. Drawn from their own random stream, so that
/// a scenario without them gives the same pool as before.
fn add_stress(
    sc: &Scenario,
    seed: u64,
    start: i64,
    end: i64,
    outages: &mut [Vec<Outage>],
    black_holes: &mut Vec<BlackHole>,
) {
    let st = &sc.stress;
    let mut windows = Vec::new();
    if st.waves_per_day > 0.0 {
        let mut rng = Rng::derive(seed, 10, 0);
        let days = ((end - start) as f64 / 86400.0).max(0.0);
        for _ in 0..poisson(&mut rng, st.waves_per_day * days) {
            let s = start + rng.range(0, (end - start).max(1));
            let d = rng
                .lognormal(st.wave_duration_median_s, 0.6)
                .clamp(600.0, 3.0 * 86400.0) as i64;
            windows.push((s, s + d));
        }
    }
    windows.extend(st.failing(start));
    for list in outages.iter_mut() {
        for &(s, e) in &windows {
            list.push(Outage {
                start: s,
                end: e,
                kind: OutageKind::Storage,
            });
        }
    }
    if let Some((from, to)) = st.quiet(start) {
        for list in outages.iter_mut() {
            list.retain(|o| o.end <= from || o.start >= to);
        }
        black_holes.retain(|b| b.end <= from || b.start >= to);
    }
    for list in outages.iter_mut() {
        list.sort_by_key(|o| o.start);
    }
}

fn poisson(rng: &mut Rng, mean: f64) -> u64 {
    if mean > 50.0 {
        return (mean + mean.sqrt() * rng.normal()).round().max(0.0) as u64;
    }
    let l = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.f64();
        if p <= l {
            return k;
        }
        k += 1;
    }
}
