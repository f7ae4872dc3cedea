//! `eventkit`: the operator's command line for a deployed eventkit stack. Standard AWS SDK
//! configuration (profile, region, credentials; `AWS_ENDPOINT_URL` for LocalStack).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use eventkit_cli::stack::Stack;
use eventkit_cli::{dlq, fetch};

/// The operator's command line for an eventkit stack.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The CloudFormation stack.
    #[arg(
        long,
        global = true,
        env = "EVENTKIT_STACK",
        default_value = "eventkit"
    )]
    stack: String,
    /// Read the stack's outputs from this KEY=VALUE file instead of CloudFormation.
    #[arg(long, global = true, env = "EVENTKIT_OUTPUTS")]
    outputs: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A conversation as a causation tree: which event caused which, from which source,
    /// when, and which consumer failed.
    Trace {
        /// The correlation id (every event of the conversation carries it).
        correlation_id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Keep reading until at least this many events arrived, or --wait passed.
        #[arg(long, default_value_t = 1)]
        min_events: usize,
        /// Seconds to wait for --min-events.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Puts the envelopes of a sample file on the stack's bus: an envelope, an EventBridge
    /// event, or an SQS batch of envelopes (the files under events/).
    Publish {
        /// The file.
        #[arg(long)]
        file: String,
    },
    /// Dead-letter queues: list, peek, redrive, purge.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// A pattern's cost per million events and the quota it reaches first at 1,000, 10,000
    /// and 100,000 events/s, from the kit's measured figures and published us-east-1 prices
    /// and quotas (docs/CAPACITY.md). Needs no stack and no credentials.
    Estimate {
        /// The pattern (its catalogue id), or `all`; without it, the patterns are listed.
        #[arg(long)]
        pattern: Option<String>,
        /// Also report this rate, in events per second (`2500`, `2500/s`, `25k/s`).
        #[arg(long)]
        rate: Option<String>,
        /// The event's envelope, in bytes.
        #[arg(long, default_value_t = 1024)]
        size: u64,
        /// The functions' instruction set.
        #[arg(long, value_enum, default_value_t = Arch::X86_64)]
        arch: Arch,
        /// Distinct partition keys (accounts, orders, wallets) the events spread over.
        #[arg(long, default_value_t = 1000)]
        keys: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    Arm64,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Every dead-letter queue of the stack, with its depth and its oldest message's age.
    List,
    /// What waits in a DLQ: type, id, correlation id, receive count, and the reason the
    /// consumer logged. Messages stay in the queue.
    Peek {
        /// The DLQ (its name from `dlq list`, or its URL).
        queue: String,
        /// Read at most this many messages.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Moves messages back to the queue that sends to this DLQ, once the fault is fixed.
    Redrive {
        /// The DLQ (its name from `dlq list`, or its URL).
        queue: String,
        /// Only envelopes of this type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Count what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Deletes every message of a DLQ.
    Purge {
        /// The DLQ (its name from `dlq list`, or its URL).
        queue: String,
        /// Yes, delete them.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Mermaid,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Pure arithmetic on compiled-in figures: no AWS configuration, no stack.
    if let Command::Estimate {
        pattern,
        rate,
        size,
        arch,
        keys,
    } = &cli.command
    {
        return estimate_command(pattern.as_deref(), rate.as_deref(), *size, *arch, *keys);
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let stack = match &cli.outputs {
        Some(path) => Stack::from_file(&cli.stack, path)?,
        None => Stack::describe(&aws_sdk_cloudformation::Client::new(&config), &cli.stack).await?,
    };
    match cli.command {
        Command::Publish { file } => {
            let envelopes = envelopes_in(&file)?;
            let bus = stack.output("BusName")?;
            let publisher = eventkit::aws::eventbridge::EventBridgePublisher::new(
                aws_sdk_eventbridge::Client::new(&config),
                bus,
            );
            eventkit::publish::Publisher::publish(&publisher, &envelopes)
                .await
                .with_context(|| format!("publishing {} envelope(s) to {bus}", envelopes.len()))?;
            for e in &envelopes {
                println!(
                    "published {} id={} correlation={}",
                    e.event_type, e.id, e.correlation_id
                );
            }
        }
        Command::Dlq(command) => {
            let queues = match &cli.outputs {
                Some(_) => stack.output_queues(),
                None => {
                    eventkit_cli::stack::queues(
                        &aws_sdk_cloudformation::Client::new(&config),
                        &stack.name,
                    )
                    .await?
                }
            };
            let sqs = aws_sdk_sqs::Client::new(&config);
            let dlqs = dlq::find(&sqs, &queues).await?;
            dlq_command(command, &sqs, &config, &stack, &dlqs).await?;
        }
        Command::Estimate { .. } => unreachable!("answered before the stack is read"),
        Command::Trace {
            correlation_id,
            format,
            min_events,
            wait,
        } => {
            let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
            let audit = stack.output("AuditLogGroupName")?;
            let deadline = Instant::now() + Duration::from_secs(wait);
            let conversation = loop {
                let c = fetch::conversation(&logs, &stack.name, audit, &correlation_id).await?;
                if c.events.len() >= min_events || Instant::now() >= deadline {
                    break c;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            };
            anyhow::ensure!(
                !conversation.events.is_empty(),
                "no event with correlation id {correlation_id} in {audit}; check the id (the front door answers it as correlation_id)"
            );
            match format {
                Format::Text => print!("{}", conversation.render_text()),
                Format::Mermaid => print!("{}", conversation.render_mermaid()),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&conversation)
                        .context("encoding the conversation")?
                ),
            }
        }
    }
    Ok(())
}

async fn dlq_command(
    command: DlqCommand,
    sqs: &aws_sdk_sqs::Client,
    config: &aws_config::SdkConfig,
    stack: &Stack,
    dlqs: &[dlq::Dlq],
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let age = |sent: Option<chrono::DateTime<chrono::Utc>>| {
        sent.map(|t| format!("{}s", (now - t).num_seconds()))
            .unwrap_or_else(|| "-".into())
    };
    match command {
        DlqCommand::List => {
            println!("{:<36} {:>6} {:>10}  redrives to", "dlq", "depth", "oldest");
            for d in dlqs {
                let oldest = if d.depth > 0 {
                    dlq::peek(sqs, &d.url, 100)
                        .await?
                        .iter()
                        .filter_map(|p| p.sent)
                        .min()
                } else {
                    None
                };
                let sources: Vec<&str> = d
                    .sources
                    .iter()
                    .map(|s| s.rsplit('/').next().unwrap_or(s))
                    .collect();
                println!(
                    "{:<36} {:>6} {:>10}  {}",
                    d.name,
                    d.depth,
                    age(oldest),
                    sources.join(", ")
                );
            }
        }
        DlqCommand::Peek { queue, max } => {
            let d = dlq::pick(dlqs, &queue)?;
            let parked = dlq::peek(sqs, &d.url, max).await?;
            let logs = aws_sdk_cloudwatchlogs::Client::new(config);
            for p in &parked {
                let reason = match (&p.correlation_id, &p.id) {
                    (Some(c), Some(id)) => fetch::failures(&logs, &stack.name, c)
                        .await?
                        .into_iter()
                        .filter(|f| f.event_id.as_deref() == Some(id))
                        .map(|f| format!("{}: {}", f.function, f.error))
                        .next_back(),
                    _ => None,
                };
                println!(
                    "{}  {}  id={}  correlation={}  received={}  age={}\n    reason: {}",
                    p.message_id,
                    p.event_type.as_deref().unwrap_or("(not an envelope)"),
                    p.id.as_deref().unwrap_or("-"),
                    p.correlation_id.as_deref().unwrap_or("-"),
                    p.receive_count,
                    age(p.sent),
                    reason
                        .or_else(|| p.body.clone().map(|b| format!("body: {b}")))
                        .unwrap_or_else(|| "none logged".into()),
                );
            }
            println!("{} message(s) in {}", parked.len(), d.name);
        }
        DlqCommand::Redrive {
            queue,
            event_type,
            dry_run,
        } => {
            let d = dlq::pick(dlqs, &queue)?;
            let [source] = d.sources.as_slice() else {
                anyhow::bail!(
                    "{} has {} source queues ({}); no redrive target to choose: move them with the SQS console or `aws sqs start-message-move-task --destination-arn`",
                    d.name,
                    d.sources.len(),
                    d.sources.join(", ")
                );
            };
            // A bar on a terminal; nothing on a pipe (the summary line below says it all).
            // The length is the depth SQS reported: approximate, so it may grow.
            let bar = indicatif::ProgressBar::new(d.depth.max(1) as u64).with_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/~{len} {per_sec}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(if dry_run { "counting" } else { "moving" });
            let n = dlq::redrive(sqs, &d.url, source, event_type.as_deref(), dry_run, |n| {
                if n as u64 > bar.length().unwrap_or(0) {
                    bar.set_length(n as u64);
                }
                bar.set_position(n as u64);
            })
            .await?;
            bar.finish_and_clear();
            println!(
                "{} {n} message(s) from {} to {source}",
                if dry_run { "would move" } else { "moved" },
                d.name
            );
        }
        DlqCommand::Purge { queue, yes } => {
            let d = dlq::pick(dlqs, &queue)?;
            anyhow::ensure!(
                yes,
                "purging deletes the {} message(s) of {} for good: add --yes",
                d.depth,
                d.name
            );
            dlq::purge(sqs, &d.url).await?;
            println!("purged {}", d.name);
        }
    }
    Ok(())
}

/// `eventkit estimate`: one pattern's report, every pattern's summary, or the list.
fn estimate_command(
    pattern: Option<&str>,
    rate: Option<&str>,
    size: u64,
    arch: Arch,
    keys: u64,
) -> anyhow::Result<()> {
    use eventkit_cli::estimate;
    let book = estimate::Book::load()?;
    let rate = rate.map(estimate::parse_rate).transpose()?;
    let inputs = estimate::Inputs {
        size,
        arch: match arch {
            Arch::X86_64 => estimate::Arch::X86_64,
            Arch::Arm64 => estimate::Arch::Arm64,
        },
        keys,
    };
    match pattern {
        None => {
            println!("patterns (eventkit estimate --pattern <id>, or --pattern all):");
            for id in estimate::pattern_ids() {
                println!("  {id}");
            }
        }
        Some("all") => {
            print!("{}", estimate::summary_markdown(&book, inputs)?);
            if let Some(r) = rate {
                println!();
                for e in estimate::all(&book, inputs)? {
                    let at = e
                        .first_limit(r)
                        .map(|l| format!("first reached: {} (at {:.0}/s)", l.limit, l.ceiling))
                        .unwrap_or_else(|| "every quota holds".into());
                    println!("{} at {r:.0}/s: {at}", e.pattern);
                }
            }
        }
        Some(id) => {
            let e = estimate::estimate(&estimate::find(id)?, &book, inputs)?;
            print!("{}", e.render(rate));
        }
    }
    Ok(())
}

/// The envelopes of a sample file: an envelope, an EventBridge event, or an SQS batch.
fn envelopes_in(file: &str) -> anyhow::Result<Vec<eventkit::Envelope>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))?;
    let bodies: Vec<serde_json::Value> = match value.get("Records").and_then(|r| r.as_array()) {
        Some(records) => records
            .iter()
            .map(|r| {
                let body = r["body"].as_str().unwrap_or_default();
                serde_json::from_str(body)
                    .with_context(|| format!("{file}: a record body is not JSON"))
            })
            .collect::<anyhow::Result<_>>()?,
        None => vec![value],
    };
    bodies
        .into_iter()
        .map(|b| {
            eventkit::unwrap::from_json_value(b).with_context(|| {
                format!("{file}: not an envelope, an EventBridge event carrying one, or an SQS batch of them")
            })
        })
        .collect()
}
