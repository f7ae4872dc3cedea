//! `make soak`: the deployed ledger pipeline (bus -> rule -> queue -> `p2p-consumer`) under
//! a steady load, with 1% poison and 10% duplicates, then reconciled: every good entry
//! posted exactly once, every poison entry in the DLQ, nothing lost, nothing doubled.
//!
//! Settings (environment): `SOAK_EVENTS` (distinct events, default 50,000), `SOAK_RATE`
//! (published per second, duplicates included, default 8: what LocalStack's pipeline applies
//! steadily on 2 cores; above it a soak measures a growing backlog), `SOAK_ACCOUNTS`
//! (default 50).
//! Latency is sampled: one good event in 100 goes to a probe account of its own, and the
//! time from its `PutEvents` to its balance appearing is that event's end-to-end latency.
//! Then what it cost, from the consumer's `REPORT` lines since the run began: invocations,
//! the instances that served them (log streams), Lambda's `Duration` per good event applied
//! and per record delivered, the largest memory used; the last line, `soak-cost {json}`, is
//! what `make load-run` tabulates across rates.
//! Exits non-zero when the reconciliation fails.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eventkit::Envelope;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{percentile, setting, unique, wait_for};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = setting("SOAK_EVENTS", 50_000)?;
    let rate = setting("SOAK_RATE", 8)?.max(1);
    let accounts = setting("SOAK_ACCOUNTS", 50)?.max(1);
    let stack = Stack::load().await?;
    let run = unique("soak");

    // The plan: which account each event posts to, and what each account must end with.
    let names: Vec<String> = (0..accounts).map(|a| format!("{run}-{a}")).collect();
    let mut planned = Vec::with_capacity(events);
    let mut expected: HashMap<String, (i64, i64)> = HashMap::new();
    let (mut poison, mut probes) = (HashSet::new(), HashMap::new());
    for i in 0..events {
        let amount = 1 + (i % 7) as i64;
        let account = if i % 100 == 99 {
            format!("{run}-closed-{i}") // never opened: fails, reaches the DLQ
        } else if i % 100 == 49 {
            format!("{run}-probe-{i}")
        } else {
            names[i % accounts].clone()
        };
        let entry = Stack::entry(&account, amount);
        if i % 100 == 99 {
            poison.insert(entry.id.clone());
        } else {
            let e = expected.entry(account.clone()).or_insert((0, 0));
            *e = (e.0 + amount, e.1 + 1);
            if i % 100 == 49 {
                probes.insert(account.clone(), None::<Instant>);
            }
        }
        planned.push((account, entry));
    }
    // 10% delivered twice, the copy a few batches after the original.
    let mut deliveries: Vec<&(String, Envelope)> = Vec::with_capacity(events * 11 / 10);
    for (i, p) in planned.iter().enumerate() {
        deliveries.push(p);
        if i % 10 == 5 && i >= 40 {
            deliveries.push(&planned[i - 40]);
        }
    }
    let duplicates = deliveries.len() - events;

    println!(
        "soak {run}: {events} events ({} poison) + {duplicates} duplicates at {rate}/s over {accounts} accounts and {} probes",
        poison.len(),
        probes.len()
    );
    let opened: Vec<&String> = expected.keys().collect();
    for chunk in opened.chunks(20) {
        futures::future::try_join_all(chunk.iter().map(|a| stack.open_account(a))).await?;
    }

    let probes = Mutex::new(probes);
    let sent_at = Mutex::new(HashMap::<String, Instant>::new());
    let began = chrono::Utc::now();
    let started = Instant::now();
    let publish = async {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(10.0 / rate as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for batch in deliveries.chunks(10) {
            tick.tick().await;
            let envelopes: Vec<Envelope> = batch.iter().map(|(_, e)| e.clone()).collect();
            stack.publisher.publish(&envelopes).await?;
            let now = Instant::now();
            let mut sent_at = sent_at.lock().unwrap();
            for (account, _) in batch {
                if account.contains("-probe-") {
                    sent_at.entry(account.clone()).or_insert(now);
                }
            }
        }
        anyhow::Ok(started.elapsed())
    };
    let published = std::sync::atomic::AtomicBool::new(false);
    let watch_probes = async {
        loop {
            let outstanding: Vec<(String, Instant)> = {
                let sent_at = sent_at.lock().unwrap();
                let probes = probes.lock().unwrap();
                probes
                    .iter()
                    .filter(|(_, seen)| seen.is_none())
                    .filter_map(|(a, _)| sent_at.get(a).map(|t| (a.clone(), *t)))
                    .collect()
            };
            let all_seen = probes.lock().unwrap().values().all(Option::is_some);
            if all_seen && published.load(std::sync::atomic::Ordering::SeqCst) {
                return anyhow::Ok(());
            }
            for (account, _) in outstanding {
                if stack.account(&account).await?.is_some_and(|(_, n)| n == 1) {
                    probes.lock().unwrap().insert(account, Some(Instant::now()));
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let publishing = async {
        let took = publish.await;
        published.store(true, std::sync::atomic::Ordering::SeqCst);
        took
    };
    // A probe that never posts is counted lost below; the watch gives up in time.
    let budget = Duration::from_secs_f64(2.0 * deliveries.len() as f64 / rate as f64 + 600.0);
    let (publish_took, _) = tokio::join!(publishing, tokio::time::timeout(budget, watch_probes));
    let publish_took = publish_took?;

    // Reconcile: every account at its expected (balance, entries), every poison in the DLQ.
    let deadline = Duration::from_secs(600);
    let _ = wait_for(
        "every account at its expected balance",
        deadline,
        || async {
            for (account, want) in &expected {
                if stack.account(account).await? != Some(*want) {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
    .await;
    let applied_at = started.elapsed();
    let (mut lost, mut doubled) = (0, 0);
    for (account, want) in &expected {
        match stack.account(account).await? {
            Some((_, n)) if n > want.1 => doubled += n - want.1,
            Some((_, n)) => lost += want.1 - n,
            None => lost += want.1,
        }
    }
    let dead = Mutex::new(HashSet::new());
    let in_dlq = wait_for("every poison entry in the DLQ", deadline, || async {
        let ids = stack.dlq_envelope_ids().await?;
        let mut dead = dead.lock().unwrap();
        dead.extend(ids.into_iter().filter(|id| poison.contains(id)));
        Ok((dead.len() == poison.len()).then_some(dead.len()))
    })
    .await
    .unwrap_or_else(|_| dead.lock().unwrap().len());

    let sent_at = sent_at.into_inner().unwrap();
    let mut latencies: Vec<Duration> = probes
        .into_inner()
        .unwrap()
        .iter()
        .filter_map(|(a, seen)| Some(seen.as_ref()?.duration_since(*sent_at.get(a)?)))
        .collect();
    latencies.sort();
    let good = events - poison.len();
    println!(
        "published {} deliveries in {:.1?} ({:.0}/s); all applied after {:.1?}: {:.0} events/s end to end",
        deliveries.len(),
        publish_took,
        deliveries.len() as f64 / publish_took.as_secs_f64(),
        applied_at,
        good as f64 / applied_at.as_secs_f64()
    );
    println!(
        "latency PutEvents -> posted, {} probes: p50 {:.0?}, p99 {:.0?}, max {:.0?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    let ok = lost == 0 && doubled == 0 && in_dlq == poison.len();
    println!(
        "reconciliation: {events} sent ({duplicates} duplicates besides), {} applied, {in_dlq} of {} poison in the DLQ, {lost} lost, {doubled} doubled: {}",
        good as i64 - lost,
        poison.len(),
        if ok { "OK" } else { "FAILED" }
    );
    anyhow::ensure!(ok, "the soak did not reconcile");

    // What it cost. A poison record is delivered until its third receive, a duplicate twice.
    let delivered = deliveries.len() + 2 * poison.len();
    let reports = wait_for(
        "the consumer's REPORT lines",
        Duration::from_secs(60),
        || async {
            let reports = stack
                .reports_since("P2PConsumerFunctionName", began)
                .await?;
            // Ten records at most to an invocation: fewer lines than that means some are
            // still on their way to the log.
            Ok((reports.len() * 10 >= delivered).then_some(reports))
        },
    )
    .await?;
    let duration: f64 = reports.iter().map(|r| r.duration_ms).sum();
    let billed: f64 = reports.iter().map(|r| r.billed_ms).sum();
    let instances = reports
        .iter()
        .map(|r| r.stream.as_str())
        .collect::<HashSet<_>>()
        .len();
    let memory = reports
        .iter()
        .filter_map(|r| r.max_memory_mb)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let cost = serde_json::json!({
        "rate": rate,
        "events": events,
        "delivered": delivered,
        "invocations": reports.len(),
        "instances": instances,
        "records_per_invocation": delivered as f64 / reports.len() as f64,
        "duration_ms_per_event": duration / good as f64,
        "duration_ms_per_record": duration / delivered as f64,
        "billed_ms_per_event": billed / good as f64,
        "max_memory_mb": memory,
        "events_per_s": good as f64 / applied_at.as_secs_f64(),
        "p50_ms": percentile(&latencies, 0.5).as_millis(),
    });
    println!(
        "cost: {} invocations on {instances} instances ({:.1} records each); Lambda Duration {:.2} ms per event applied, {:.2} ms per record delivered; billed {:.2} ms per event; max memory used {}",
        reports.len(),
        cost["records_per_invocation"].as_f64().unwrap_or_default(),
        duration / good as f64,
        duration / delivered as f64,
        billed / good as f64,
        memory.map_or("not reported".to_owned(), |m| format!("{m:.0} MB")),
    );
    println!("soak-cost {cost}");
    Ok(())
}
