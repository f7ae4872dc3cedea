//! `eventkit`: the operator's command line for a deployed eventkit stack. Standard AWS SDK
//! configuration (profile, region, credentials; `AWS_ENDPOINT_URL` for LocalStack).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use eventkit_cli::fetch;
use eventkit_cli::stack::Stack;

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
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let stack = match &cli.outputs {
        Some(path) => Stack::from_file(&cli.stack, path)?,
        None => Stack::describe(&aws_sdk_cloudformation::Client::new(&config), &cli.stack).await?,
    };
    match cli.command {
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
