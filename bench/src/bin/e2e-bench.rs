//! `make bench`: end to end. Events per second and the latency from `PutEvents` to the
//! applied effect through bus -> rule -> queue -> consumer, for the kit's ledger consumer
//! (`p2p-consumer`, its release bootstrap) and the same consumer written with Powertools for
//! Python (`tests/compat/powertools_ledger_consumer.py`, a `python3.11` Lambda the process
//! executor runs with `awslambdaric`). Both run on the same LocalStack, one after the other,
//! on a topology created here: a bus, a ledger and an idempotency table; per consumer a rule,
//! a queue with its DLQ, and a mapping as the template maps the ledger queue (batches of 10,
//! a 1 s window, partial batch responses).
//!
//! Per consumer: 10 events to warm it; a steady phase of `E2E_EVENTS` (default 150; 200 cost
//! `make bench` 25 s more) events at `E2E_RATE` per second (default 8), each posting to an
//! account of its own, whose latency is the time from its `PutEvents` call to the account
//! showing the entry (polled every 100 ms); a burst of `E2E_EVENTS` events published at
//! once, whose throughput is events over the time until all are applied. Then every account
//! must hold exactly its entry and the DLQ must be empty, or the run fails: the numbers are
//! of work done.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_lambda::types::Runtime;
use eventkit::aws::eventbridge::EventBridgePublisher;
use eventkit::Envelope;
use eventkit_contracts::ledger::ENTRY_POSTED;
use eventkit_testkit::lambda::{create_function, map_queue, MappedQueue};
use eventkit_testkit::{
    create_table, median, percentile, queue_depth, record_bench, require_localstack, run_python,
    setting, unique, wait_for, TempFile,
};
use futures::StreamExt;
use serde_json::json;

/// A consumer under test and what it was deployed with.
struct Consumer {
    label: &'static str,
    /// The envelope source its rule routes.
    source: String,
    function: String,
    mapping: String,
    rule: String,
    queue_url: String,
    dlq_url: String,
}

/// What one consumer measured.
struct Measured {
    latencies: Vec<Duration>,
    burst: usize,
    burst_took: Duration,
    /// Events the consumer applied, warm-up included.
    applied: usize,
    /// Each invocation's `Duration` from its `REPORT` line, in milliseconds.
    invocations: Vec<f64>,
}

struct Bench {
    lambda: aws_sdk_lambda::Client,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    publisher: EventBridgePublisher,
    bus: String,
    ledger: String,
    idempotency: String,
    run: String,
}

/// A zip holding `file` as `name` (mode kept, so a bootstrap stays executable), made with
/// Python's `zipfile`.
fn zip_one(python: &Path, file: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    let out = TempFile::with("e2e-code.zip", "")?;
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    \
             z.write(sys.argv[2], sys.argv[3])",
        ])
        .arg(out.arg())
        .arg(file)
        .arg(name)
        .status()
        .with_context(|| format!("{} (zipping {})", python.display(), file.display()))?;
    anyhow::ensure!(status.success(), "zipping {} failed", file.display());
    Ok(std::fs::read(out.arg())?)
}

impl Bench {
    /// Creates a function from `zip`, its queue, DLQ and mapping, and a rule on the bus
    /// routing `ledger.entry.posted` from its own source to that queue.
    async fn deploy(
        &self,
        label: &'static str,
        runtime: Runtime,
        handler: &str,
        zip: Vec<u8>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Consumer> {
        let function = unique(&format!("e2e-{label}"));
        let mut variables = HashMap::from([
            ("LEDGER_TABLE".to_owned(), self.ledger.clone()),
            ("IDEMPOTENCY_TABLE".to_owned(), self.idempotency.clone()),
        ]);
        variables.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let create = self
            .lambda
            .create_function()
            .function_name(&function)
            .role("arn:aws:iam::000000000000:role/e2e-bench")
            .runtime(runtime)
            .handler(handler)
            .memory_size(256)
            .timeout(30);
        create_function(&self.lambda, create, variables, zip).await?;
        let MappedQueue {
            queue_url,
            queue_arn,
            dlq_url,
            mapping,
        } = map_queue(&self.lambda, &self.sqs, &function, 60, 3).await?;
        let source = format!("eventkit.bench.{label}");
        let rule = unique(&format!("e2e-{label}"));
        self.events
            .put_rule()
            .name(&rule)
            .event_bus_name(&self.bus)
            .event_pattern(json!({"source": [source], "detail-type": [ENTRY_POSTED]}).to_string())
            .send()
            .await?;
        self.events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&self.bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()?,
            )
            .send()
            .await?;
        Ok(Consumer {
            label,
            source,
            function,
            mapping,
            rule,
            queue_url,
            dlq_url,
        })
    }

    /// Opens `accounts` as the ledger's `open` does: open, balance 0, no entries.
    async fn open(&self, accounts: &[String]) -> anyhow::Result<()> {
        for chunk in accounts.chunks(25) {
            let mut writes = Vec::new();
            for a in chunk {
                let put = PutRequest::builder()
                    .item("pk", AttributeValue::S(format!("account#{a}")))
                    .item("open", AttributeValue::Bool(true))
                    .item("balance", AttributeValue::N("0".into()))
                    .item("entries", AttributeValue::N("0".into()))
                    .build()?;
                writes.push(WriteRequest::builder().put_request(put).build());
            }
            let out = self
                .dynamodb
                .batch_write_item()
                .request_items(&self.ledger, writes)
                .send()
                .await?;
            anyhow::ensure!(
                out.unprocessed_items().is_none_or(HashMap::is_empty),
                "opening accounts: some writes were not processed"
            );
        }
        Ok(())
    }

    /// `entries` of each of `accounts` that exists (consistent reads, 100 a call).
    async fn entries(&self, accounts: &[&String]) -> anyhow::Result<HashMap<String, i64>> {
        let mut found = HashMap::new();
        for chunk in accounts.chunks(100) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            for a in chunk {
                keys = keys.keys(HashMap::from([(
                    "pk".to_owned(),
                    AttributeValue::S(format!("account#{a}")),
                )]));
            }
            let mut request = HashMap::from([(self.ledger.clone(), keys.build()?)]);
            while !request.is_empty() {
                let out = self
                    .dynamodb
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.ledger))
                    .into_iter()
                    .flatten()
                {
                    let pk = item.get("pk").and_then(|v| v.as_s().ok()).context("pk")?;
                    let n = item
                        .get("entries")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_default();
                    found.insert(pk.trim_start_matches("account#").to_owned(), n);
                }
                request = out.unprocessed_keys().cloned().unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// Waits until each account in `sent` shows its entry, noting when each was seen.
    async fn watch(
        &self,
        sent: &tokio::sync::Mutex<HashMap<String, Instant>>,
        seen: &mut HashMap<String, Instant>,
        total: usize,
        every: Duration,
        deadline: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        while seen.len() < total {
            anyhow::ensure!(
                started.elapsed() < deadline,
                "{} of {total} entries applied after {deadline:?}",
                seen.len()
            );
            tokio::time::sleep(every).await;
            let outstanding: Vec<String> = sent
                .lock()
                .await
                .keys()
                .filter(|a| !seen.contains_key(*a))
                .cloned()
                .collect();
            let now = Instant::now();
            for (account, n) in self
                .entries(&outstanding.iter().collect::<Vec<_>>())
                .await?
            {
                if n >= 1 {
                    seen.insert(account, now);
                }
            }
        }
        Ok(())
    }

    async fn measure(&self, c: &Consumer, events: usize, rate: usize) -> anyhow::Result<Measured> {
        let entry = |account: &str| {
            Envelope::new(
                c.source.clone(),
                ENTRY_POSTED,
                json!({"account": account, "amount": 1}),
            )
            .with_subject(account)
        };
        let name = |phase: &str, i: usize| format!("{}-{}-{phase}-{i}", self.run, c.label);
        let warm: Vec<String> = (0..10).map(|i| name("warm", i)).collect();
        let steady: Vec<String> = (0..events).map(|i| name("steady", i)).collect();
        let burst: Vec<String> = (0..events).map(|i| name("burst", i)).collect();
        self.open(&[warm.clone(), steady.clone(), burst.clone()].concat())
            .await?;
        let deadline = Duration::from_secs(600);

        // Warm-up: a cold start is not what the phases measure.
        let sent = tokio::sync::Mutex::new(HashMap::new());
        let envelopes: Vec<Envelope> = warm.iter().map(|a| entry(a)).collect();
        self.publisher.publish(&envelopes).await?;
        sent.lock()
            .await
            .extend(warm.iter().map(|a| (a.clone(), Instant::now())));
        let mut seen = HashMap::new();
        self.watch(
            &sent,
            &mut seen,
            warm.len(),
            Duration::from_millis(250),
            deadline,
        )
        .await?;

        // Steady: one event per tick; latency from each PutEvents call to its entry.
        let sent = tokio::sync::Mutex::new(HashMap::new());
        let mut seen = HashMap::new();
        let publish = async {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            for account in &steady {
                tick.tick().await;
                let at = Instant::now();
                self.publisher.publish(&[entry(account)]).await?;
                sent.lock().await.insert(account.clone(), at);
            }
            anyhow::Ok(())
        };
        let (published, watched) = tokio::join!(
            publish,
            self.watch(
                &sent,
                &mut seen,
                steady.len(),
                Duration::from_millis(100),
                deadline
            )
        );
        published?;
        watched?;
        let sent = sent.into_inner();
        let mut latencies: Vec<Duration> = seen
            .iter()
            .map(|(a, t)| t.saturating_duration_since(sent[a]))
            .collect();
        latencies.sort();

        // Burst: everything at once, 10 to a PutEvents call, 4 calls in flight.
        let started = Instant::now();
        let sent = tokio::sync::Mutex::new(HashMap::new());
        let mut seen = HashMap::new();
        let publish = async {
            let calls = burst.chunks(10).map(|chunk| async {
                let envelopes: Vec<Envelope> = chunk.iter().map(|a| entry(a)).collect();
                self.publisher.publish(&envelopes).await?;
                let now = Instant::now();
                sent.lock()
                    .await
                    .extend(chunk.iter().map(|a| (a.clone(), now)));
                anyhow::Ok(())
            });
            futures::stream::iter(calls)
                .buffer_unordered(4)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let (published, watched) = tokio::join!(
            publish,
            self.watch(
                &sent,
                &mut seen,
                burst.len(),
                Duration::from_millis(250),
                deadline
            )
        );
        published?;
        watched?;
        let burst_took = started.elapsed();

        // The numbers count only if the work was done: one entry each, nothing dead-lettered.
        let all: Vec<&String> = warm.iter().chain(&steady).chain(&burst).collect();
        let entries = self.entries(&all).await?;
        let wrong: Vec<_> = all
            .iter()
            .filter(|a| entries.get(**a) != Some(&1))
            .collect();
        anyhow::ensure!(
            wrong.is_empty(),
            "{}: {} accounts do not hold exactly one entry, e.g. {:?}",
            c.label,
            wrong.len(),
            wrong.first()
        );
        let dead = queue_depth(&self.sqs, &c.dlq_url).await?;
        anyhow::ensure!(dead == 0, "{}: {dead} messages in the DLQ", c.label);
        Ok(Measured {
            latencies,
            burst: burst.len(),
            burst_took,
            applied: all.len(),
            invocations: self.invocations(&c.function, all.len()).await?,
        })
    }

    /// The `Duration` of each of the function's invocations, from the `REPORT` lines in its
    /// log group (what Lambda bills), read by `tools/bench/report_durations.py`; waits until
    /// they account for `events`, ten at most to an invocation.
    async fn invocations(&self, function: &str, events: usize) -> anyhow::Result<Vec<f64>> {
        let group = format!("/aws/lambda/{function}");
        wait_for(
            &format!("the REPORT lines of {function}"),
            Duration::from_secs(60),
            || async {
                let args = group.clone();
                let printed = tokio::task::spawn_blocking(move || {
                    run_python("tools/bench/report_durations.py", &[&args])
                })
                .await??;
                let durations: Vec<f64> = printed["durations"]
                    .as_array()
                    .map(|d| d.iter().filter_map(|v| v.as_f64()).collect())
                    .unwrap_or_default();
                Ok((durations.len() * 10 >= events).then_some(durations))
            },
        )
        .await
    }

    async fn remove(&self, c: Consumer) -> anyhow::Result<()> {
        self.lambda
            .delete_event_source_mapping()
            .uuid(&c.mapping)
            .send()
            .await?;
        self.lambda
            .delete_function()
            .function_name(&c.function)
            .send()
            .await?;
        self.events
            .remove_targets()
            .rule(&c.rule)
            .event_bus_name(&self.bus)
            .ids("queue")
            .send()
            .await?;
        self.events
            .delete_rule()
            .name(&c.rule)
            .event_bus_name(&self.bus)
            .send()
            .await?;
        for url in [&c.queue_url, &c.dlq_url] {
            self.sqs.delete_queue().queue_url(url).send().await?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = setting("E2E_EVENTS", 150)?.max(10);
    let rate = setting("E2E_RATE", 8)?.max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("build/compat-venv/bin/python");
    anyhow::ensure!(
        python.exists(),
        "{} is missing: run `make compat-venv`",
        python.display()
    );
    let bootstrap = std::env::current_exe()?
        .parent()
        .context("the bench's own folder")?
        .join("p2p-consumer");
    anyhow::ensure!(
        bootstrap.exists(),
        "{} is missing: build the release binaries first (`cargo build --release --workspace --bins`, as `make bench` does)",
        bootstrap.display()
    );

    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let events_client = aws_sdk_eventbridge::Client::new(&config);
    let bus = unique("e2e-bus");
    events_client.create_event_bus().name(&bus).send().await?;
    let bench = Bench {
        lambda: aws_sdk_lambda::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        publisher: EventBridgePublisher::new(events_client.clone(), bus.clone()),
        events: events_client,
        ledger: create_table(&dynamodb, "pk").await?,
        idempotency: create_table(&dynamodb, "id").await?,
        dynamodb,
        bus,
        run: unique("e2e"),
    };

    let kit_zip = zip_one(&python, &bootstrap, "bootstrap")?;
    let peer_zip = zip_one(
        &python,
        &root.join("tests/compat/powertools_ledger_consumer.py"),
        "powertools_ledger_consumer.py",
    )?;
    // The template's settings for every function (infra/base.yaml, Globals).
    let kit_env = [
        ("RUST_LOG", "info"),
        ("POWERTOOLS_METRICS_NAMESPACE", "eventkit"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("STAGE", "bench"),
    ];
    println!(
        "end to end: PutEvents -> bus -> rule -> queue -> consumer -> ledger, {events} events at {rate}/s then {events} at once, per consumer"
    );
    let mut measured = Vec::new();
    for (label, runtime, handler, zip, env) in [
        (
            "kit",
            Runtime::Providedal2023,
            "bootstrap",
            kit_zip,
            &kit_env[..],
        ),
        (
            "powertools",
            Runtime::Python311,
            "powertools_ledger_consumer.handler",
            peer_zip,
            &[][..],
        ),
    ] {
        let consumer = bench.deploy(label, runtime, handler, zip, env).await?;
        let m = bench.measure(&consumer, events, rate).await?;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  {label:<11} latency p50 {:>5.0} ms  p99 {:>5.0} ms  max {:>5.0} ms   burst {} events in {:.1} s: {:.1} events/s",
            ms(percentile(&m.latencies, 0.5)),
            ms(percentile(&m.latencies, 0.99)),
            ms(m.latencies.last().copied().unwrap_or_default()),
            m.burst,
            m.burst_took.as_secs_f64(),
            m.burst as f64 / m.burst_took.as_secs_f64()
        );
        let billed: f64 = m.invocations.iter().sum();
        println!(
            "  {label:<11} {} invocations, {:.1} ms each (median), {:.2} ms of Lambda duration per event",
            m.invocations.len(),
            median(&m.invocations),
            billed / m.applied as f64
        );
        bench.remove(consumer).await?;
        measured.push((label, m));
    }
    let row = |m: &Measured| {
        json!({
            "p50_ms": percentile(&m.latencies, 0.5).as_secs_f64() * 1000.0,
            "p99_ms": percentile(&m.latencies, 0.99).as_secs_f64() * 1000.0,
            "events_per_s": m.burst as f64 / m.burst_took.as_secs_f64(),
            "invocation_ms": median(&m.invocations),
            "ms_per_event": m.invocations.iter().sum::<f64>() / m.applied as f64,
        })
    };
    record_bench(&json!({
        "bench": "e2e", "events": events, "rate": rate,
        "kit": row(&measured[0].1), "powertools": row(&measured[1].1),
    }))?;
    Ok(())
}
