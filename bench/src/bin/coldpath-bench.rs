//! `make bench`: the cold path as Lambda runs it, in CPU and in wall time. The ledger
//! consumer (`p2p-consumer`) and its floor (`ledger-floor`: the same DynamoDB calls by hand
//! on `lambda_runtime` and the SDK) are each started as Lambda starts a function, against
//! LocalStack's DynamoDB over HTTPS (its own certificate, trusted by `SSL_CERT_FILE`), and
//! given two batches of 10 entries: the first pays for the connection and TLS handshake,
//! the second is warm. Each process runs in a cgroup that counts its CPU (user + system,
//! every thread); with `COLDPATH_MEMORY_MB` (default 128) the invocations are capped at
//! that size's share of a core while init runs uncapped, as on Lambda.
//!
//! Needs LocalStack on `LOCALSTACK_ENDPOINT` (tables are made for the run and deleted after)
//! and the release binaries beside this one (`make bench` builds them). Rows: the median
//! of `COLDPATH_STARTS` (5) starts, taken round-robin. `COLDPATH_ENV="K=V ..."` adds
//! settings to the kit's starts (e.g. `EVENTKIT_PREWARM=10`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use aws_sdk_dynamodb::types::AttributeValue;
use eventkit::Envelope;
use eventkit_bench::{lambda_env, CpuGroup};
use eventkit_testkit::median;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

const ACCOUNTS: usize = 10;

/// An HTTP answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One request of the runtime to the Runtime API, with where to send the answer.
struct Call {
    method: String,
    path: String,
    body: Vec<u8>,
    reply: oneshot::Sender<Answer>,
}

/// Serves the Runtime API's HTTP/1.1 on `listener`: every request goes to `calls`.
async fn serve(listener: TcpListener, calls: mpsc::Sender<Call>) {
    while let Ok((socket, _)) = listener.accept().await {
        let calls = calls.clone();
        tokio::spawn(async move {
            let _ = connection(socket, calls).await;
        });
    }
}

async fn connection(socket: TcpStream, calls: mpsc::Sender<Call>) -> anyhow::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let mut header = String::new();
            read.read_line(&mut header).await?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse()?,
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                read.read_line(&mut size).await?;
                let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)?;
                let mut chunk = vec![0; size + 2];
                read.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            read.read_exact(&mut body).await?;
        }
        let (reply, answer) = oneshot::channel();
        calls
            .send(Call {
                method,
                path,
                body,
                reply,
            })
            .await?;
        let (status, headers, body) = answer.await?;
        let mut head = format!("HTTP/1.1 {status} OK\r\ncontent-length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        write.write_all(head.as_bytes()).await?;
        write.write_all(&body).await?;
    }
}

/// A batch of 10 entries as the ledger queue delivers them: the bus rule's EventBridge
/// event in each SQS record's body, the envelope its `detail`.
fn batch(tag: &str) -> Value {
    let records: Vec<Value> = (0..ACCOUNTS)
        .map(|i| {
            let envelope = Envelope::new(
                "eventkit.demo",
                "ledger.entry.posted",
                json!({"account": format!("acc-{i}"), "amount": 1}),
            )
            .with_subject(format!("acc-{i}"));
            let event = json!({
                "version": "0", "id": format!("eb-{tag}-{i}"), "detail-type": "ledger.entry.posted",
                "source": "eventkit.demo", "account": "000000000000", "time": "2026-12-07T00:00:00Z",
                "region": "us-east-1", "resources": [], "detail": envelope,
            });
            json!({
                "messageId": format!("{tag}-{i}"), "receiptHandle": "rh", "body": event.to_string(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795000000000",
                               "SenderId": "AIDABENCH", "ApproximateFirstReceiveTimestamp": "1795000000001"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench-ledger", "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({"Records": records})
}

/// What one start measured, in milliseconds.
#[derive(Default)]
struct Run {
    init_wall: f64,
    init_cpu: f64,
    first_wall: f64,
    first_cpu: f64,
    warm_wall: f64,
    warm_cpu: f64,
}

struct Target {
    label: &'static str,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    runs: Vec<Run>,
}

/// Starts `target`, serves it two invocations and stops it at its third `next`.
async fn start(
    target: &Target,
    group: &CpuGroup,
    share: Option<f64>,
    round: usize,
) -> anyhow::Result<Run> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let (tx, mut calls) = mpsc::channel(4);
    let server = tokio::spawn(serve(listener, tx));
    let mut command = Command::new(&target.binary);
    command
        .args(&target.args)
        .env_clear()
        .envs(target.env.iter().cloned())
        .envs(lambda_env("ledger", &api))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    group.cap(None)?;
    let cpu0 = group.usage_ns()?;
    let began = Instant::now();
    let mut child = group.spawn(&mut command)?;
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut run = Run::default();
    let outcome = async {
        for n in 0..3 {
            let call = tokio::time::timeout(Duration::from_secs(30), calls.recv())
                .await
                .context("no call from the runtime within 30 s")?
                .context("Runtime API closed")?;
            ensure!(
                call.method == "GET" && call.path.ends_with("/invocation/next"),
                "expected `next`, got {} {}: {}",
                call.method,
                call.path,
                String::from_utf8_lossy(&call.body)
            );
            match n {
                0 => {
                    run.init_wall = began.elapsed().as_secs_f64() * 1e3;
                    run.init_cpu = ms(group.usage_ns()? - cpu0);
                    group.cap(share)?;
                }
                2 => return Ok(()),
                _ => {}
            }
            let id = format!("req-{round}-{n}");
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
                + 60_000;
            let cpu_before = group.usage_ns()?;
            let invoked = Instant::now();
            let _ = call.reply.send((
                200,
                vec![
                    ("lambda-runtime-aws-request-id".into(), id.clone()),
                    ("lambda-runtime-deadline-ms".into(), deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn".into(),
                        "arn:aws:lambda:us-east-1:000000000000:function:ledger".into(),
                    ),
                    (
                        "lambda-runtime-trace-id".into(),
                        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into(),
                    ),
                    ("content-type".into(), "application/json".into()),
                ],
                batch(&format!("{}-{round}-{n}", target.label.len()))
                    .to_string()
                    .into_bytes(),
            ));
            let answer = calls.recv().await.context("Runtime API closed")?;
            let took = invoked.elapsed().as_secs_f64() * 1e3;
            let cpu = ms(group.usage_ns()? - cpu_before);
            let _ = answer.reply.send((202, vec![], Vec::new()));
            ensure!(
                answer.path == format!("/2018-06-01/runtime/invocation/{id}/response"),
                "invocation {n} failed: {} {}",
                answer.path,
                String::from_utf8_lossy(&answer.body)
            );
            let response: Value = serde_json::from_slice(&answer.body)?;
            ensure!(
                response["batchItemFailures"]
                    .as_array()
                    .is_some_and(Vec::is_empty),
                "invocation {n} failed records: {response}"
            );
            if n == 0 {
                (run.first_wall, run.first_cpu) = (took, cpu);
            } else {
                (run.warm_wall, run.warm_cpu) = (took, cpu);
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let _ = child.start_kill();
    let output = child.wait_with_output().await?;
    server.abort();
    group.cap(None)?;
    match outcome {
        Ok(()) => Ok(run),
        Err(e) => Err(e.context(format!(
            "{}: {}",
            target.label,
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
    }
}

fn summary(runs: &[Run], f: impl Fn(&Run) -> f64) -> f64 {
    median(&runs.iter().map(f).collect::<Vec<_>>())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = eventkit_bench::bin_dir()?;
    let endpoint =
        std::env::var("LOCALSTACK_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let port = endpoint
        .rsplit(':')
        .next()
        .unwrap_or("4566")
        .trim_end_matches('/')
        .to_owned();
    let cert = root.join("build/localstack/volume/var/lib/localstack/cache/server.test.pem.crt");
    ensure!(cert.exists(), "{} is missing: LocalStack writes its certificate there when it starts (make localstack-up)", cert.display());
    let memory_mb: f64 = std::env::var("COLDPATH_MEMORY_MB")
        .ok()
        .map(|v| v.parse())
        .transpose()
        .context("COLDPATH_MEMORY_MB: a number of MB, e.g. 128")?
        .unwrap_or(128.0);
    let rounds: usize = std::env::var("COLDPATH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let Some(group) = CpuGroup::new(None)? else {
        bail!("coldpath-bench needs cgroup v1 `cpu` and `cpuacct` at /sys/fs/cgroup (as root): it measures CPU");
    };
    let share = memory_mb / eventkit_bench::MB_PER_VCPU;

    // The tables, over plain HTTP: setting up is not what is measured.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .load()
        .await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let ledger = eventkit_testkit::create_table(&dynamodb, "pk").await?;
    let idempotency = eventkit_testkit::create_table(&dynamodb, "id").await?;
    for i in 0..ACCOUNTS {
        dynamodb
            .put_item()
            .table_name(&ledger)
            .item("pk", AttributeValue::S(format!("account#acc-{i}")))
            .item("open", AttributeValue::Bool(true))
            .item("balance", AttributeValue::N("0".into()))
            .item("entries", AttributeValue::N("0".into()))
            .send()
            .await?;
    }

    // TLS to LocalStack: its certificate names `localhost`.
    let https = vec![
        (
            "AWS_ENDPOINT_URL".to_owned(),
            format!("https://localhost:{port}"),
        ),
        ("SSL_CERT_FILE".to_owned(), cert.display().to_string()),
        ("LEDGER_TABLE".to_owned(), ledger.clone()),
        ("IDEMPOTENCY_TABLE".to_owned(), idempotency.clone()),
        ("RUST_LOG".to_owned(), "info".to_owned()),
    ];
    // The template's settings for every function (infra/base.yaml, Globals, defaults).
    let globals = [
        ("STAGE", "bench"),
        ("POWERTOOLS_METRICS_NAMESPACE", "eventkit"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("EVENTKIT_LOG_ENVELOPES", "false"),
    ];
    // `COLDPATH_ENV="K=V ..."` adds settings to the kit's starts, to try what one changes.
    let extra = std::env::var("COLDPATH_ENV").unwrap_or_default();
    let kit_env = https
        .iter()
        .cloned()
        .chain(globals.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .chain(
            extra
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .collect();
    let python = root.join("build/compat-venv/bin/python");
    let mut targets = vec![
        Target {
            label: "floor: lambda_runtime + SDK by hand",
            binary: bin_dir.join("ledger-floor"),
            args: vec![],
            env: https.clone(),
            runs: Vec::new(),
        },
        Target {
            label: "kit: p2p-consumer",
            binary: bin_dir.join("p2p-consumer"),
            args: vec![],
            env: kit_env,
            runs: Vec::new(),
        },
    ];
    if python.exists() {
        // Python's AWS SDK trusts AWS_CA_BUNDLE; awslambdaric is the runtime interface client.
        let mut env = https.clone();
        env.extend([
            ("AWS_CA_BUNDLE".to_owned(), cert.display().to_string()),
            (
                "PYTHONPATH".to_owned(),
                root.join("tests/compat").display().to_string(),
            ),
            ("POWERTOOLS_SERVICE_NAME".to_owned(), "ledger".to_owned()),
        ]);
        targets.push(Target {
            label: "Powertools (Python): the same consumer",
            binary: python,
            args: ["-m", "awslambdaric", "powertools_ledger_consumer.handler"]
                .map(String::from)
                .to_vec(),
            env,
            runs: Vec::new(),
        });
    } else {
        println!("(no build/compat-venv: `make compat-venv` adds the Powertools row)");
    }
    for t in &targets {
        ensure!(
            t.binary.exists(),
            "{} is missing: build the release binaries first (`make bench` does)",
            t.binary.display()
        );
    }
    let mut failure = None;
    'rounds: for round in 0..rounds {
        for t in targets.iter_mut() {
            match start(t, &group, Some(share), round).await {
                Ok(run) => t.runs.push(run),
                Err(e) => {
                    failure = Some(e);
                    break 'rounds;
                }
            }
        }
    }
    // Every entry posted exactly once: 2 invocations x 10 entries per start, one per account.
    let posted: usize = {
        let items = dynamodb.scan().table_name(&ledger).send().await?;
        items
            .items()
            .iter()
            .filter_map(|i| i.get("entries")?.as_n().ok()?.parse::<usize>().ok())
            .sum()
    };
    let _ = dynamodb.delete_table().table_name(&ledger).send().await;
    let _ = dynamodb
        .delete_table()
        .table_name(&idempotency)
        .send()
        .await;
    if let Some(e) = failure {
        return Err(e);
    }
    let starts: usize = targets.iter().map(|t| t.runs.len()).sum();
    ensure!(
        posted == starts * 2 * ACCOUNTS,
        "the ledger holds {posted} entries; {starts} starts should have posted {}",
        starts * 2 * ACCOUNTS
    );

    println!("Cold path: exec, init (uncapped), a first batch of {ACCOUNTS} entries (new TLS connection to DynamoDB) and a warm one, invocations capped at {:.1}% of a core ({memory_mb} MB); median of {rounds} starts; CPU = user + system, every thread", share * 100.0);
    println!(
        "{:<38} {:>17} {:>19} {:>19} {:>9} {:>11}",
        "",
        "init wall / CPU",
        "1st batch wall/CPU",
        "warm batch wall/CPU",
        "cold CPU",
        "1st / warm"
    );
    let mut rows = Vec::new();
    for t in &targets {
        let r = |f: fn(&Run) -> f64| summary(&t.runs, f);
        let cold_cpu = r(|x| x.init_cpu + x.first_cpu);
        println!("{:<38} {:>7.1} / {:>5.1} ms {:>8.1} / {:>5.1} ms {:>8.1} / {:>5.1} ms {:>6.1} ms {:>10.2}x",
            t.label, r(|x| x.init_wall), r(|x| x.init_cpu), r(|x| x.first_wall), r(|x| x.first_cpu),
            r(|x| x.warm_wall), r(|x| x.warm_cpu), cold_cpu, r(|x| x.first_wall) / r(|x| x.warm_wall));
        rows.push(json!({"label": t.label, "init_wall_ms": r(|x| x.init_wall), "init_cpu_ms": r(|x| x.init_cpu),
            "first_wall_ms": r(|x| x.first_wall), "first_cpu_ms": r(|x| x.first_cpu),
            "warm_wall_ms": r(|x| x.warm_wall), "warm_cpu_ms": r(|x| x.warm_cpu), "cold_cpu_ms": cold_cpu}));
    }
    let cold = |i: usize| rows[i]["cold_cpu_ms"].as_f64().unwrap_or(f64::NAN);
    println!(
        "kit / floor, cold-path CPU (init + first batch): {:.2}x (target 1.1x)",
        cold(1) / cold(0)
    );
    if rows.len() > 2 {
        println!("kit / Powertools, cold-path CPU: {:.2}x", cold(1) / cold(2));
    }
    eventkit_testkit::record_bench(
        &json!({"bench": "coldpath", "starts": rounds, "memory_mb": memory_mb, "rows": rows}),
    )?;
    Ok(())
}
