//! Timings of this process's service operations and store calls: per name the count, the errors
//! by code, and latency percentiles over the last minute and since start. Latencies go into
//! log-scale buckets (each 25% wider than the one before, from 10 µs to about 20 minutes), so a
//! percentile is exact to within a bucket, and into the few fixed buckets exported to Prometheus
//! as a histogram. Recording takes the lock of one shard of the figures, the one the recording
//! thread was given, so threads never wait on each other; reading merges the shards.

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bucket `i` holds latencies up to `FIRST_US * RATIO^i` microseconds; the last holds the rest.
const FIRST_US: f64 = 10.0;
const RATIO: f64 = 1.25;
const BUCKETS: usize = 84;

/// The bucket bounds exported to Prometheus, in seconds (`le`; `+Inf` follows): few and fixed,
/// the same in every process, so the histograms of many hosts add up.
pub const EXPORT_LE: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The last minute is six windows of ten seconds.
const WINDOW: Duration = Duration::from_secs(10);
const WINDOWS: usize = 6;

fn bucket_of(d: Duration) -> usize {
    let us = d.as_secs_f64() * 1e6;
    if us <= FIRST_US {
        return 0;
    }
    (((us / FIRST_US).ln() / RATIO.ln()).ceil() as usize).min(BUCKETS - 1)
}

/// The upper bound of bucket `i`, in milliseconds.
fn bound_ms(i: usize) -> f64 {
    FIRST_US * RATIO.powi(i as i32) / 1000.0
}

#[derive(Clone)]
struct Hist {
    n: u64,
    sum: Duration,
    buckets: [u32; BUCKETS],
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            n: 0,
            sum: Duration::ZERO,
            buckets: [0; BUCKETS],
        }
    }
}

impl Hist {
    fn add(&mut self, d: Duration) {
        self.n += 1;
        self.sum += d;
        self.buckets[bucket_of(d)] += 1;
    }

    fn merge(&mut self, o: &Hist) {
        self.n += o.n;
        self.sum += o.sum;
        for (a, b) in self.buckets.iter_mut().zip(o.buckets.iter()) {
            *a += b;
        }
    }

    /// The `q` quantile (0..=1) in milliseconds: the upper bound of the bucket it falls in.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.buckets.iter().enumerate() {
            seen += *c as u64;
            if seen >= rank {
                return Some(bound_ms(i));
            }
        }
        Some(bound_ms(BUCKETS - 1))
    }
}

#[derive(Default)]
struct OpStats {
    errors: BTreeMap<String, u64>,
    total: Hist,
    /// Ring of ten-second windows; `epochs[i]` is the window number `windows[i]` counts.
    windows: [Hist; WINDOWS],
    epochs: [u64; WINDOWS],
    /// Calls since start per `EXPORT_LE` bound (the first bound at or above the latency; the
    /// last slot: above every bound).
    exported: [u64; EXPORT_LE.len() + 1],
}

/// Shards of the figures: a thread records into its own (threads take them in turn), so
/// concurrent calls on a runtime's worker threads never share a lock.
const SHARDS: usize = 8;

/// One shard's figures by name, padded to a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<HashMap<Box<str>, OpStats>>);

thread_local! {
    static SHARD: usize = {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SHARDS
    };
}

impl OpStats {
    /// Adds another shard's figures of the same name (`now`: the current window's number).
    fn merge(&mut self, o: &OpStats, now: u64) {
        for (code, n) in &o.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        self.total.merge(&o.total);
        for (a, b) in self.exported.iter_mut().zip(o.exported.iter()) {
            *a += b;
        }
        for slot in 0..WINDOWS {
            // Only windows of the last minute count; a shard's older ones are left out.
            if o.windows[slot].n == 0 || now.saturating_sub(o.epochs[slot]) >= WINDOWS as u64 {
                continue;
            }
            if self.epochs[slot] != o.epochs[slot] {
                self.epochs[slot] = o.epochs[slot];
                self.windows[slot] = o.windows[slot].clone();
            } else {
                self.windows[slot].merge(&o.windows[slot]);
            }
        }
    }
}

/// Timings shared by a service and its store.
pub struct Metrics {
    started: Instant,
    shards: [Shard; SHARDS],
}

pub type SharedMetrics = Arc<Metrics>;

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            shards: Default::default(),
        }
    }
}

/// One operation's figures.
#[derive(Debug, Clone, Serialize, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpFigures {
    pub name: String,
    pub count: u64,
    pub errors: BTreeMap<String, u64>,
    /// Calls in the last minute, and their p50 / p99 in milliseconds.
    pub minute_count: u64,
    pub minute_p50_ms: Option<f64>,
    pub minute_p99_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub sum_ms: f64,
    /// Cumulative counts of calls at or under each `EXPORT_LE` bound (the Prometheus
    /// histogram's buckets; `count` is `+Inf`).
    #[serde(skip)]
    pub le_counts: Vec<u64>,
}

impl Metrics {
    pub fn new() -> SharedMetrics {
        Arc::new(Metrics::default())
    }

    fn epoch(&self, at: Instant) -> u64 {
        (at.duration_since(self.started).as_millis() / WINDOW.as_millis()) as u64
    }

    /// Records one call of `name` that took `took`; `error` is its error code, if it failed.
    pub fn record(&self, name: &str, took: Duration, error: Option<&str>) {
        self.record_at(name, took, error, Instant::now());
    }

    /// `record`, for a call that ended at `now`.
    pub fn record_at(&self, name: &str, took: Duration, error: Option<&str>, now: Instant) {
        let epoch = self.epoch(now);
        let shard = &self.shards[SHARD.with(|s| *s)];
        let mut ops = shard.0.lock().unwrap_or_else(|p| p.into_inner());
        let op = match ops.get_mut(name) {
            Some(op) => op,
            None => ops.entry(name.into()).or_default(),
        };
        op.total.add(took);
        let secs = took.as_secs_f64();
        op.exported[EXPORT_LE.partition_point(|le| *le < secs)] += 1;
        let slot = (epoch as usize) % WINDOWS;
        if op.epochs[slot] != epoch {
            op.epochs[slot] = epoch;
            op.windows[slot] = Hist::default();
        }
        op.windows[slot].add(took);
        if let Some(code) = error {
            *op.errors.entry(code.to_string()).or_default() += 1;
        }
    }

    /// Times `f` as `name`; `code` names the error of a failed result.
    pub async fn time<T, E>(
        &self,
        name: &str,
        f: impl std::future::Future<Output = Result<T, E>>,
        code: impl FnOnce(&E) -> &'static str,
    ) -> Result<T, E> {
        let t0 = Instant::now();
        let r = f.await;
        let now = Instant::now();
        self.record_at(name, now - t0, r.as_ref().err().map(code), now);
        r
    }

    /// Every operation's figures, by name.
    pub fn figures(&self) -> Vec<OpFigures> {
        let now = self.epoch(Instant::now());
        let mut ops: BTreeMap<Box<str>, OpStats> = BTreeMap::new();
        for shard in &self.shards {
            let part = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            for (name, stats) in part.iter() {
                ops.entry(name.clone()).or_default().merge(stats, now);
            }
        }
        ops.iter()
            .map(|(name, op)| {
                let mut minute = Hist::default();
                for (h, e) in op.windows.iter().zip(op.epochs.iter()) {
                    if h.n > 0 && now.saturating_sub(*e) < WINDOWS as u64 {
                        minute.merge(h);
                    }
                }
                OpFigures {
                    name: name.to_string(),
                    count: op.total.n,
                    errors: op.errors.clone(),
                    minute_count: minute.n,
                    minute_p50_ms: minute.quantile(0.5),
                    minute_p99_ms: minute.quantile(0.99),
                    p50_ms: op.total.quantile(0.5),
                    p99_ms: op.total.quantile(0.99),
                    sum_ms: op.total.sum.as_secs_f64() * 1000.0,
                    le_counts: op.exported[..EXPORT_LE.len()]
                        .iter()
                        .scan(0, |acc, n| {
                            *acc += n;
                            Some(*acc)
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// A Prometheus text-format label value: backslash, quote and newline escaped.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_fall_in_the_right_bucket() {
        let m = Metrics::default();
        for i in 1..=100u64 {
            m.record("op", Duration::from_millis(i), None);
        }
        m.record("op", Duration::from_millis(3), Some("NOT_FOUND"));
        let f = &m.figures()[0];
        assert_eq!(f.count, 101);
        assert_eq!(f.minute_count, 101);
        assert_eq!(f.errors.get("NOT_FOUND"), Some(&1));
        // Each figure is the upper bound of its bucket: at most 25% above the true value.
        let p50 = f.p50_ms.unwrap();
        assert!((50.0..=62.5).contains(&p50), "{p50}");
        let p99 = f.p99_ms.unwrap();
        assert!((99.0..=124.0).contains(&p99), "{p99}");
        assert_eq!(f.minute_p99_ms, f.p99_ms);
    }

    #[test]
    fn exported_buckets_are_cumulative_and_exact_at_their_bounds() {
        let m = Metrics::default();
        for us in [50, 100, 101, 900, 1000, 30_000_000] {
            m.record("op", Duration::from_micros(us), None);
        }
        let f = &m.figures()[0];
        assert_eq!(f.le_counts.len(), EXPORT_LE.len());
        // le=0.0001 holds 50 µs and exactly 100 µs; le=0.00025 adds 101 µs; le=0.001 adds 900
        // µs and 1 ms; 30 s is above every bound (only in +Inf, the count).
        assert_eq!(f.le_counts[0], 2);
        assert_eq!(f.le_counts[1], 3);
        assert_eq!(f.le_counts[3], 5);
        assert_eq!(*f.le_counts.last().unwrap(), 5);
        assert_eq!(f.count, 6);
        assert!(f.le_counts.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn calls_recorded_on_many_threads_add_up() {
        let m = Metrics::default();
        std::thread::scope(|s| {
            for t in 0..SHARDS + 3 {
                let m = &m;
                s.spawn(move || {
                    for i in 0..100u64 {
                        let err = (i == 0).then_some("CONFLICT");
                        m.record("op", Duration::from_micros(10 * (t as u64 + 1)), err);
                    }
                    m.record("only-here", Duration::from_millis(2), None);
                });
            }
        });
        let f = m.figures();
        let op = f.iter().find(|o| o.name == "op").unwrap();
        assert_eq!(op.count, 100 * (SHARDS as u64 + 3));
        assert_eq!(op.minute_count, op.count);
        assert_eq!(op.errors.get("CONFLICT"), Some(&(SHARDS as u64 + 3)));
        assert_eq!(*op.le_counts.last().unwrap(), op.count);
        let here = f.iter().find(|o| o.name == "only-here").unwrap();
        assert_eq!(here.count, SHARDS as u64 + 3);
        assert_eq!(f.len(), 2, "one entry per name, whatever the shards");
    }

    #[test]
    fn buckets_cover_microseconds_to_minutes() {
        assert_eq!(bucket_of(Duration::from_micros(1)), 0);
        assert!(bound_ms(bucket_of(Duration::from_secs(60))) >= 60_000.0);
        assert_eq!(bucket_of(Duration::from_secs(100_000)), BUCKETS - 1);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
