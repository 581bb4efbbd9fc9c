//! The load loop: `concurrency` workers, each sending one request at a time until the deadline,
//! timing the ones that start after the warm-up. Also the account pickers (one hot account,
//! uniform, or zipfian) with a small deterministic PRNG per worker.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::report::Tally;

/// How long to warm up, then how long to measure.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
}

/// Runs `op(worker, seq)` on `concurrency` workers and returns the merged tally of the measured
/// window. `op` answers `Ok` or the error code's name.
pub async fn drive<F, Fut>(concurrency: usize, timing: Timing, op: F) -> Tally
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + timing.warmup;
    let end = measure_from + timing.duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut tally = Tally::new();
                let mut seq = 0u64;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let result = op(worker, seq).await;
                    seq += 1;
                    if began >= measure_from {
                        tally.record(began.elapsed(), result);
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::new();
    for worker in workers {
        total.merge(&worker.await.expect("bench worker"));
    }
    total
}

/// xorshift64*: fast, deterministic per worker, good enough to spread load.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks which account an operation goes to.
pub enum Picker {
    Uniform(usize),
    /// Cumulative weights 1/(k+1)^0.99, as in YCSB's zipfian workload.
    Zipfian(Vec<f64>),
}

impl Picker {
    pub fn new(accounts: usize, zipfian: bool) -> Picker {
        if !zipfian {
            return Picker::Uniform(accounts);
        }
        let mut cdf = Vec::with_capacity(accounts);
        let mut sum = 0.0;
        for k in 0..accounts {
            sum += 1.0 / ((k + 1) as f64).powf(0.99);
            cdf.push(sum);
        }
        cdf.iter_mut().for_each(|c| *c /= sum);
        Picker::Zipfian(cdf)
    }

    pub fn pick(&self, rng: &mut Rng) -> usize {
        match self {
            Picker::Uniform(n) => ((rng.next_f64() * *n as f64) as usize).min(n - 1),
            Picker::Zipfian(cdf) => {
                let u = rng.next_f64();
                cdf.partition_point(|c| *c < u).min(cdf.len() - 1)
            }
        }
    }
}
