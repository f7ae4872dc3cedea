//! `make bench` (second half): an idempotent SQS batch against LocalStack's DynamoDB, side
//! by side with Powertools for AWS Lambda (Python) doing the same on the same table
//! (`tests/compat/powertools_batch_bench.py`). Wall time per batch of 10: new records
//! (2 DynamoDB calls each), then the same records again (1 call each, no local cache); then
//! 100 records in 10 batches, 30 of them repeating a record of an earlier batch.
//! `make bench` runs it through `tools/bench/with-latency.sh` at 0, 5 and 10 ms, where
//! DynamoDB's round trips, not LocalStack's CPU, set the time; the proxy's request log then
//! gives DynamoDB calls per record and the sequential round trips per batch.

use std::collections::{BTreeMap, HashSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use eventkit::aws::dynamodb::DynamoIdempotencyStore;
use eventkit::batch::{process_envelopes, BatchOptions};
use eventkit::idempotency::{Idempotency, IdempotencyConfig};
use eventkit::Envelope;
use eventkit_testkit::{create_table, median, require_localstack, run_python_peer};
use serde_json::json;

/// Batches per cell, new and duplicate: 15 keeps `make bench` within 15 minutes (with 20 it
/// took 30 s more) while each median stays the middle of 15 batches.
const ROUNDS: usize = 15;
const BATCH: usize = 10;
const STREAM_BATCHES: usize = 10;
const STREAM_DUPLICATES: usize = 30;

fn batch(ids: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut r = SqsMessage::default();
            r.message_id = Some(format!("m-{i}"));
            r.body = Some(
                Envelope::new("bench", "bench.event", json!({"i": i}))
                    .with_id(id)
                    .to_json(),
            );
            r.event_source_arn = Some("arn:aws:sqs:us-east-1:000000000000:bench".into());
            r
        })
        .collect();
    event
}

fn fresh_ids() -> Vec<String> {
    (0..BATCH)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect()
}

/// 10 batches of 10 record numbers; 30 of the 100 repeat a number of an earlier batch
/// (never twice in one batch, which a concurrent consumer would see as in progress), spread
/// over batches 2 to 10. The same list goes to the peer, so both see the same stream.
fn stream() -> Vec<Vec<usize>> {
    let (mut seen, mut next, mut out) = (Vec::new(), 0, Vec::new());
    for b in 0..STREAM_BATCHES {
        let share =
            |b: usize| (STREAM_DUPLICATES * b + (STREAM_BATCHES - 1) / 2) / (STREAM_BATCHES - 1);
        let dups = if b == 0 { 0 } else { share(b) - share(b - 1) };
        let (mut ids, mut used) = (Vec::new(), HashSet::new());
        for j in 0..BATCH {
            if j * dups / BATCH != (j + 1) * dups / BATCH {
                let mut k = (next * 7919 + j) % seen.len();
                while !used.insert(seen[k]) {
                    k = (k + 1) % seen.len();
                }
                ids.push(seen[k]);
            } else {
                ids.push(next);
                next += 1;
            }
        }
        seen.extend(
            ids.iter()
                .copied()
                .filter(|i| !seen.contains(i))
                .collect::<Vec<_>>(),
        );
        out.push(ids);
    }
    out
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Requests seen by the latency proxy (`BENCH_PROXY_LOG`), as [start, end] in epoch seconds:
/// a request ends with the last chunk of answer before the next request on its connection.
struct ProxyLog(Vec<(f64, f64)>);

impl ProxyLog {
    fn read() -> anyhow::Result<Option<Self>> {
        let Ok(path) = std::env::var("BENCH_PROXY_LOG") else {
            return Ok(None);
        };
        let mut by_conn: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
        for line in std::fs::read_to_string(path)?.lines() {
            let mut parts = line.split(' ');
            let (Some(kind), Some(conn), Some(t)) = (parts.next(), parts.next(), parts.next())
            else {
                anyhow::bail!("proxy log line `{line}` is not `q|r CONN SECONDS`");
            };
            let (conn, t): (u64, f64) = (conn.parse()?, t.parse()?);
            let requests = by_conn.entry(conn).or_default();
            match (kind, requests.last_mut()) {
                ("q", _) => requests.push((t, t)),
                ("r", Some(last)) => last.1 = t,
                _ => anyhow::bail!("proxy log line `{line}`: an answer before any request"),
            }
        }
        Ok(Some(Self(by_conn.into_values().flatten().collect())))
    }

    /// The requests begun in `window`: how many, and the longest chain of them each begun
    /// after the previous one ended (the round trips a batch waited for one after another).
    fn within(&self, (from, to): (f64, f64)) -> (usize, usize) {
        let mut inside: Vec<_> = self
            .0
            .iter()
            .filter(|(s, _)| *s >= from && *s <= to)
            .collect();
        inside.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (mut chain, mut free_at) = (0, f64::MIN);
        for (start, end) in inside.iter().copied() {
            if *start >= free_at {
                chain += 1;
                free_at = *end;
            }
        }
        (inside.len(), chain)
    }
}

/// One series of batches: wall time of each and its window.
#[derive(Default)]
struct Series {
    millis: Vec<f64>,
    windows: Vec<(f64, f64)>,
    records: usize,
}

impl Series {
    fn from_peer(peer: &serde_json::Value, name: &str, records: usize) -> Self {
        let floats = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
                .unwrap_or_default()
        };
        let windows = peer[format!("{name}_windows")]
            .as_array()
            .map(|a| a.iter().map(floats).map(|w| (w[0], w[1])).collect())
            .unwrap_or_default();
        Self {
            millis: floats(&peer[format!("{name}_ms")]),
            windows,
            records,
        }
    }

    /// Median ms per batch, and with the proxy's log calls per record and the median
    /// sequential round trips per batch.
    fn summary(&self, log: Option<&ProxyLog>) -> serde_json::Value {
        let mut out = json!({"ms": median(&self.millis)});
        if let Some(log) = log {
            let counts: Vec<_> = self.windows.iter().map(|w| log.within(*w)).collect();
            let calls: usize = counts.iter().map(|c| c.0).sum();
            out["calls_per_record"] = json!(calls as f64 / self.records as f64);
            out["sequential"] = json!(median(
                &counts.iter().map(|c| c.1 as f64).collect::<Vec<_>>()
            ));
        }
        out
    }

    /// "median ms (calls per record, median sequential round trips per batch)".
    fn describe(&self, log: Option<&ProxyLog>) -> String {
        let ms = median(&self.millis);
        match log {
            None => format!("{ms:7.1} ms"),
            Some(log) => {
                let counts: Vec<_> = self.windows.iter().map(|w| log.within(*w)).collect();
                let calls: usize = counts.iter().map(|c| c.0).sum();
                let chain = median(&counts.iter().map(|c| c.1 as f64).collect::<Vec<_>>());
                format!(
                    "{ms:7.1} ms ({:.1} calls/rec, {chain:.0} seq)",
                    calls as f64 / self.records as f64
                )
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&dynamodb, "id").await?;
    let idem = Idempotency::new(
        DynamoIdempotencyStore::new(dynamodb, &table),
        IdempotencyConfig::for_handler("bench").local_cache(0),
    );
    let stream = stream();
    let stream_file =
        std::env::temp_dir().join(format!("bench-stream-{}.json", std::process::id()));
    std::fs::write(&stream_file, serde_json::to_vec(&stream)?)?;

    let mut rows = Vec::new();
    for (label, concurrency) in [
        ("eventkit, concurrent records", BATCH),
        ("eventkit, one record at a time", 1),
    ] {
        let (mut fresh, mut duplicate, mut streamed) =
            (Series::default(), Series::default(), Series::default());
        let run = |event: SqsEvent, sink: &mut Series| {
            let idem = &idem;
            sink.records += event.records.len();
            async move {
                let (begun, start) = (epoch(), Instant::now());
                let response = process_envelopes(
                    event,
                    BatchOptions {
                        concurrency,
                        ..Default::default()
                    },
                    None,
                    |e| async move {
                        idem.run_envelope(&e, None, || async {
                            Ok::<_, String>(json!({"ok": true}))
                        })
                        .await
                        .map(|_| ())
                    },
                )
                .await;
                let elapsed = start.elapsed().as_secs_f64() * 1000.0;
                anyhow::ensure!(
                    response.batch_item_failures.is_empty(),
                    "batch failed: {response:?}"
                );
                Ok((elapsed, (begun, epoch())))
            }
        };
        for _ in 0..ROUNDS {
            let event = batch(&fresh_ids());
            for sink in [&mut fresh, &mut duplicate] {
                let (ms, window) = run(event.clone(), sink).await?;
                sink.millis.push(ms);
                sink.windows.push(window);
            }
        }
        let prefix = uuid::Uuid::new_v4();
        for ids in &stream {
            let ids: Vec<_> = ids.iter().map(|i| format!("{prefix}-{i}")).collect();
            let (ms, window) = run(batch(&ids), &mut streamed).await?;
            streamed.millis.push(ms);
            streamed.windows.push(window);
        }
        rows.push((label.to_owned(), [fresh, duplicate, streamed]));
    }

    let peer = run_python_peer(
        "powertools_batch_bench.py",
        &[
            &table,
            &ROUNDS.to_string(),
            &BATCH.to_string(),
            &stream_file.display().to_string(),
        ],
    )?;
    std::fs::remove_file(&stream_file)?;
    rows.push((
        "Powertools (Python) BatchProcessor".to_owned(),
        [
            Series::from_peer(&peer, "fresh", ROUNDS * BATCH),
            Series::from_peer(&peer, "duplicate", ROUNDS * BATCH),
            Series::from_peer(&peer, "stream", STREAM_BATCHES * BATCH),
        ],
    ));

    let log = ProxyLog::read()?;
    // `tools/bench/with-latency.sh` sets it when a latency proxy sits in front of LocalStack
    let added = std::env::var("BENCH_ADDED_LATENCY_MS")
        .map(|ms| format!(", {ms} ms added to each request (+ up to a fifth of it as jitter)"))
        .unwrap_or_default();
    println!(
        "Idempotent SQS batch of {BATCH} on LocalStack DynamoDB{added}; median per batch of \
         {ROUNDS} (new, duplicates) and of {STREAM_BATCHES} (100 records, {STREAM_DUPLICATES}% repeats)"
    );
    let width = if log.is_some() { 38 } else { 10 };
    println!(
        "{:<36} {:>width$} {:>width$} {:>width$}",
        "", "new records", "duplicates", "100 records, 30% repeats"
    );
    for (label, series) in &rows {
        let cells: Vec<_> = series.iter().map(|s| s.describe(log.as_ref())).collect();
        println!(
            "{label:<36} {:>width$} {:>width$} {:>width$}",
            cells[0], cells[1], cells[2]
        );
    }
    eventkit_testkit::record_bench(&json!({
        "bench": "idempotency",
        "added_ms": std::env::var("BENCH_ADDED_LATENCY_MS").ok().and_then(|ms| ms.parse::<f64>().ok()),
        "rows": rows.iter().map(|(label, series)| json!({
            "label": label,
            "new": series[0].summary(log.as_ref()),
            "duplicates": series[1].summary(log.as_ref()),
            "stream": series[2].summary(log.as_ref()),
        })).collect::<Vec<_>>(),
    }))?;
    let peer = &rows[2].1;
    for (label, series) in &rows[..2] {
        let ratios: Vec<_> = series
            .iter()
            .zip(peer)
            .map(|(kit, peer)| format!("{:.2}", median(&kit.millis) / median(&peer.millis)))
            .collect();
        println!("{label:<36} / Powertools: {}", ratios.join(" / "));
    }
    Ok(())
}
