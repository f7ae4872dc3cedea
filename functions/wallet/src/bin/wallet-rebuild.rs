//! Rebuilds the wallet summary read model from the event store into a table (created when
//! missing), e.g. a new one to compare or switch to: `make rebuild-wallet-summary INTO=t`.
//! Reads `EVENTS_TABLE`; uses the standard AWS settings (LocalStack via `AWS_ENDPOINT_URL`).

use anyhow::Context as _;
use eventkit::aws::dynamodb::DynamoSequencedStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let into = std::env::args()
        .nth(1)
        .context("usage: wallet-rebuild <target table>  (EVENTS_TABLE names the event store)")?;
    let events = std::env::var("EVENTS_TABLE").context("EVENTS_TABLE is not set")?;
    let config = eventkit::aws::load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let exists = dynamodb
        .describe_table()
        .table_name(&into)
        .send()
        .await
        .is_ok();
    if !exists {
        wallet::dynamodb::create_summary_table(&dynamodb, &into)
            .await
            .with_context(|| format!("creating {into}"))?;
    }
    let history = wallet::dynamodb::stored_events(&dynamodb, &events, None).await?;
    let read = history.len();
    let applied =
        wallet::views::rebuild_summary(&DynamoSequencedStore::new(dynamodb, &into), history)
            .await?;
    println!("rebuilt {into} from {events}: {read} events read, {applied} applied");
    Ok(())
}
