//! The baseline to beat: a debit done the way typical ledgers do it, one PostgreSQL transaction
//! per request ([`NaiveLedger`]), driven by the same load loop as the service's scenarios.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::bail;
use rust_decimal::Decimal;

use super::load::{drive, Picker, Rng, Timing};
use super::report::Tally;
use super::scenarios::START_BALANCE;
use crate::store::naive::NaiveLedger;

pub async fn setup(url: &str, accounts: usize, connections: u32) -> anyhow::Result<NaiveLedger> {
    NaiveLedger::setup(url, accounts, START_BALANCE, connections).await
}

pub async fn run(
    ledger: NaiveLedger,
    picker: Arc<Picker>,
    acked: Arc<Vec<AtomicU64>>,
    amount: Decimal,
    concurrency: usize,
    timing: Timing,
) -> Tally {
    drive(concurrency, timing, move |worker, seq| {
        let (ledger, acked) = (ledger.clone(), acked.clone());
        let index = picker.pick(&mut Rng::new(((worker as u64) << 40) ^ seq));
        async move {
            let key = format!("n-{worker}-{seq}");
            ledger.debit(index as i64, amount, key).await?;
            acked[index].fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    })
    .await
}

/// Every balance must equal the start minus the acknowledged debits. The naive path commits
/// before it answers, so nothing is unknown here unless a commit's answer was lost, which this
/// loopback run does not see.
pub async fn check_books(
    ledger: &NaiveLedger,
    acked: &[AtomicU64],
    amount: Decimal,
) -> anyhow::Result<String> {
    let start: Decimal = START_BALANCE.parse()?;
    let mut total = 0;
    for (id, balance) in ledger.balances().await? {
        let n = acked[id as usize].load(Ordering::Relaxed);
        total += n;
        let expected = start - amount * Decimal::from(n);
        if balance != expected {
            bail!("BOOKS DO NOT BALANCE: naive account {id} has {balance}, expected {expected}");
        }
    }
    Ok(format!("ok ({} accounts, {total} charges)", acked.len()))
}
