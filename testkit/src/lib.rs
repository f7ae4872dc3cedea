//! What the end-to-end tests, the demo and the benchmarks share: SDK clients pointed at
//! LocalStack (or, for the stack tests, at AWS: [`target`]), unique resource names, waiting
//! on a condition with a deadline, queues and tables made for a run, the Python peers, and
//! benchmark results. Apart from the tests' crate (`eventkit-e2e`) so that `make bench`'s
//! release build of the bench programs compiles none of what only the tests use (the CLI,
//! CloudWatch's SDKs).

pub mod lambda;
pub mod target;

use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};
use serde_json::Value;

/// The LocalStack endpoint (`LOCALSTACK_ENDPOINT`, default `http://127.0.0.1:4566`).
pub fn endpoint() -> String {
    std::env::var("LOCALSTACK_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned())
}

/// SDK configuration for LocalStack: its endpoint, test credentials, `us-east-1`.
pub async fn localstack_config() -> aws_config::SdkConfig {
    // The kit's S3 client picks path-style addressing from this variable.
    std::env::set_var("AWS_ENDPOINT_URL", endpoint());
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "localstack",
        ))
        .load()
        .await
}

/// Where the deploy script wrote the stack outputs: `STACK_OUTPUTS` (`make aws-test` names
/// `build/stack-outputs-<STACK>.env`), else `build/stack-outputs.env` (`make deploy-local`'s).
pub fn stack_outputs_file() -> std::path::PathBuf {
    std::env::var_os("STACK_OUTPUTS")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/stack-outputs.env")
        })
}

/// A resource name unique to this run.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Polls `check` until it returns `Some`, failing with `what` after `deadline`. The pause
/// between polls grows from 100 ms to 1 s: every pattern test polls at once, and LocalStack
/// answers all of them, and the functions under test, on one interpreter lock.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(Duration::from_secs(1));
    }
}

/// The Lambda event record for a message received with the SDK (what an event source
/// mapping would hand the function).
pub fn to_lambda_record(message: &aws_sdk_sqs::types::Message, queue_arn: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id().map(str::to_owned);
    record.receipt_handle = message.receipt_handle().map(str::to_owned);
    record.body = message.body().map(str::to_owned);
    record.event_source_arn = Some(queue_arn.to_owned());
    record.event_source = Some("aws:sqs".to_owned());
    if let Some(attributes) = message.attributes() {
        for (k, v) in attributes {
            record.attributes.insert(k.as_str().to_owned(), v.clone());
        }
    }
    if let Some(attributes) = message.message_attributes() {
        for (k, v) in attributes {
            let mut a = SqsMessageAttribute::default();
            a.string_value = v.string_value().map(str::to_owned);
            a.data_type = Some(v.data_type().to_owned());
            record.message_attributes.insert(k.clone(), a);
        }
    }
    record
}

/// Creates a queue named `name` with `attributes`; its URL and ARN.
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: std::collections::HashMap<aws_sdk_sqs::types::QueueAttributeName, String>,
) -> anyhow::Result<(String, String)> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let url = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    Ok((url, arn))
}

/// Messages in the queue at `url`, visible or not.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<usize> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    Ok(out
        .attributes()
        .into_iter()
        .flat_map(|a| a.values())
        .filter_map(|n| n.parse::<usize>().ok())
        .sum())
}

/// A new queue (its URL and ARN) and a new bucket on LocalStack, named after `prefix`.
pub async fn queue_and_bucket(
    config: &aws_config::SdkConfig,
    prefix: &str,
) -> anyhow::Result<(String, String, String)> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let (url, arn) = create_queue(&sqs, &unique(prefix), Default::default()).await?;
    let bucket = unique(&format!("{prefix}-bucket"));
    eventkit::aws::s3::client(config)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await?;
    Ok((url, arn, bucket))
}

/// Appends a bench's results as one JSON line to the file `BENCH_RESULTS` names, for
/// `tools/bench/summary.py` to make the summary table of (`make bench` sets it); nothing
/// when it is unset.
pub fn record_bench(results: &serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write;
    let Some(path) = std::env::var_os("BENCH_RESULTS") else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    writeln!(file, "{results}")?;
    Ok(())
}

/// A whole-number setting from the environment, or `default` when unset.
pub fn setting(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v}: expected a whole number")),
        Err(_) => Ok(default),
    }
}

/// The median (the upper one of an even count); NaN when there are no values.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The `p` quantile (0 to 1) of sorted durations; zero when there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A file under build/tmp that is deleted when dropped (bodies handed to a Python peer).
pub struct TempFile(std::path::PathBuf);

impl TempFile {
    /// Writes `contents` to a new file named after `prefix`.
    pub fn with(prefix: &str, contents: &str) -> anyhow::Result<TempFile> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/tmp");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(unique(prefix));
        std::fs::write(&path, contents)?;
        Ok(TempFile(path))
    }

    /// The path, as the peer's argument.
    pub fn arg(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// SDK configuration for LocalStack, after checking that it listens; the error names the
/// command that starts it.
pub async fn require_localstack() -> anyhow::Result<aws_config::SdkConfig> {
    let authority = endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    if tokio::net::TcpStream::connect(&authority).await.is_err() {
        anyhow::bail!(
            "LocalStack is not listening on {authority}; start it with `make localstack-up`"
        );
    }
    Ok(localstack_config().await)
}

/// Creates a pay-per-request table with a string partition key `key`; returns its name.
pub async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    key: &str,
) -> anyhow::Result<String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let name = unique("table");
    dynamodb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await?;
    Ok(name)
}

/// Runs a Python peer script from `tests/compat/` in build/compat-venv against LocalStack
/// and parses the one JSON line it prints.
pub fn run_python_peer(script: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    run_python(&format!("tests/compat/{script}"), args)
}

/// Runs a Python peer script from `tests/compat/` and parses every JSON line it prints.
pub fn run_python_peer_lines(
    script: &str,
    args: &[&str],
) -> anyhow::Result<Vec<serde_json::Value>> {
    run_python_lines(&format!("tests/compat/{script}"), args)
}

/// Runs a Python script (its path from the repository's root) in build/compat-venv against
/// LocalStack (or, with `EVENTKIT_TARGET=aws`, the user's AWS settings) and parses the one
/// JSON line it prints.
pub fn run_python(script: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let mut lines = run_python_lines(script, args)?;
    anyhow::ensure!(
        lines.len() == 1,
        "{script} printed {} JSON lines, not one",
        lines.len()
    );
    Ok(lines.remove(0))
}

/// Runs a Python script (its path from the repository's root) and parses every JSON line it
/// prints.
pub fn run_python_lines(script: &str, args: &[&str]) -> anyhow::Result<Vec<serde_json::Value>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("build/compat-venv/bin/python");
    anyhow::ensure!(
        python.exists(),
        "{} is missing; run `make compat-venv`",
        python.display()
    );
    let mut command = std::process::Command::new(python);
    command.arg(root.join(script)).args(args);
    // On AWS the peer inherits the user's settings, as the tests' own clients use them;
    // boto3 reads the region from AWS_DEFAULT_REGION only, the Rust SDK AWS_REGION first.
    if target::target() == target::Target::LocalStack {
        command
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1");
    } else if let (Err(_), Ok(region)) = (
        std::env::var("AWS_DEFAULT_REGION"),
        std::env::var("AWS_REGION"),
    ) {
        command.env("AWS_DEFAULT_REGION", region);
    }
    let out = command.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| anyhow::anyhow!("{script} printed `{l}`: {e}"))
        })
        .collect()
}

/// One HTTP call to the front door: (status, JSON body, or the text when it is not JSON).
/// An `https://` URL (the API on AWS) goes through hyper and rustls instead of ureq.
pub async fn http(
    method: &str,
    url: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, Value)> {
    if url.starts_with("https://") {
        return https_call(method, url, body, headers).await;
    }
    let (method, url, body) = (method.to_owned(), url.to_owned(), body.cloned());
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        blocking_call(&method, &url, body.as_ref(), &headers)
    })
    .await?
}

fn blocking_call(
    method: &str,
    url: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, Value)> {
    let mut request = ureq::request(method, url).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        request = request.set(k, v);
    }
    let result = match body {
        Some(b) => request.send_json(b.clone()),
        None => request.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.into()),
    };
    let status = response.status();
    let text = response.into_string()?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// One HTTPS call, through the TLS stack the AWS SDK already builds on (hyper, rustls, the
/// system's root certificates): ureq is built here without TLS, and its TLS feature would
/// switch rustls to another crypto provider and rebuild the SDK.
async fn https_call(
    method: &str,
    url: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, Value)> {
    use http_body_util::{BodyExt, Full};
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?
        .https_only()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Full<bytes::Bytes>>(connector);
    let mut request = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let payload = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Full::new(bytes::Bytes::from(b.to_string()))
        }
        None => Full::default(),
    };
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(request.body(payload)?),
    )
    .await
    .map_err(|_| anyhow::anyhow!("{method} {url}: no answer within 30 s"))??;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}
