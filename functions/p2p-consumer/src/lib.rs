//! Point-to-point consumer: takes `ledger.account.opened` and `ledger.entry.posted`
//! envelopes from its queue (delivered there by a bus rule), opens accounts and posts each
//! entry to its account in the ledger table, once.
//!
//! Failure path: an entry for an account that is not open fails its record alone; SQS
//! redelivers it and, after `maxReceiveCount`, moves it to the queue's DLQ. Once the
//! account is opened, a DLQ redrive completes it.
//!
//! Exactly once: on DynamoDB an entry's balance change and its `COMPLETED` idempotency
//! record commit in one transaction ([`eventkit::Router::on_completing`]), so an invocation
//! that dies between the two (a timeout, a crash) cannot have the entry posted again.

use std::sync::Arc;

use async_trait::async_trait;
use eventkit::idempotency::{Completion, IdempotencyStore};
use eventkit::ErrorType;
use eventkit::{Event, Router};
use serde::{Deserialize, Serialize};

pub mod dynamodb;

pub use eventkit_contracts::ledger::{AccountOpened, Entry, ACCOUNT_OPENED, ENTRY_POSTED};

/// What posting did, stored as the idempotent response. It holds no balance: the record
/// is written in the same transaction as the change, which cannot read the balance back
/// (and reading it first would make concurrent entries to one account conflict).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posted {
    /// The account.
    pub account: String,
    /// The amount added.
    pub amount: i64,
}

/// Why an entry could not be posted.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum LedgerError {
    /// The account does not exist or is closed: open it, then redrive the DLQ.
    #[error("account `{0}` is not open; open it, then redrive the dead-letter queue")]
    AccountNotOpen(String),
    /// The table failed; retryable.
    #[error("ledger store failed: {0}")]
    #[error_type("TransientError")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Another invocation took over this entry's idempotency record (this one outlived its
    /// in-progress expiry): nothing was posted; the retry replays the other's result.
    #[error("entry `{0}` is being posted by another invocation; nothing was applied here, retried later")]
    #[error_type("TransientError")]
    Superseded(String),
}

/// The ledger port.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Adds `amount` to an open account. A store that can commits `completion`'s record
    /// ([`Posted::from`] the entry) with the change and calls [`Completion::committed`];
    /// otherwise the idempotency layer completes the record after.
    async fn post(&self, entry: &Entry, completion: &Completion) -> Result<(), LedgerError>;
    /// Opens an account with a zero balance; opening an open account changes nothing.
    async fn open(&self, account: &str) -> Result<(), LedgerError>;
}

/// Opens an account (idempotent by nature: an open account stays as it is).
pub async fn open_account<L: Ledger>(
    ledger: Arc<L>,
    event: Event<AccountOpened>,
) -> Result<(), LedgerError> {
    let opened = event.data;
    ledger.open(&opened.account).await?;
    tracing::info!(account = %opened.account, "account open");
    Ok(())
}

/// Posts one entry. Idempotency (one post per envelope id) is the router's.
pub async fn post_entry<L: Ledger>(
    ledger: Arc<L>,
    event: Event<Entry>,
    completion: Completion,
) -> Result<Posted, LedgerError> {
    let entry = event.data;
    ledger.post(&entry, &completion).await?;
    tracing::info!(account = %entry.account, amount = entry.amount, "entry posted");
    Ok(Posted::from(&entry))
}

impl From<&Entry> for Posted {
    fn from(entry: &Entry) -> Posted {
        Posted {
            account: entry.account.clone(),
            amount: entry.amount,
        }
    }
}

/// The function: `ledger.entry.posted` to [`post_entry`], once per envelope id, its record
/// committed with its effect.
pub fn router<L: Ledger + 'static>(
    ledger: L,
    idempotency: impl IdempotencyStore + 'static,
) -> Router<L> {
    Router::with_state(ledger)
        .idempotency_store(idempotency)
        .on_completing(ENTRY_POSTED, post_entry::<L>)
        .on(ACCOUNT_OPENED, open_account::<L>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
    use eventkit::idempotency::MemoryIdempotencyStore;
    use eventkit::Envelope;
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemoryLedger(Mutex<HashMap<String, i64>>);

    #[async_trait]
    impl Ledger for MemoryLedger {
        async fn post(&self, entry: &Entry, _: &Completion) -> Result<(), LedgerError> {
            let mut accounts = self.0.lock().unwrap();
            let balance = accounts
                .get_mut(&entry.account)
                .ok_or_else(|| LedgerError::AccountNotOpen(entry.account.clone()))?;
            *balance += entry.amount;
            Ok(())
        }

        async fn open(&self, account: &str) -> Result<(), LedgerError> {
            self.0
                .lock()
                .unwrap()
                .entry(account.to_owned())
                .or_insert(0);
            Ok(())
        }
    }

    fn consumer() -> Router<MemoryLedger> {
        let ledger = MemoryLedger::default();
        ledger.0.lock().unwrap().insert("acc-1".into(), 0);
        let r = router(ledger, MemoryIdempotencyStore::default());
        r.validate().unwrap();
        r
    }

    async fn batch(r: &Router<MemoryLedger>, event: SqsEvent) -> SqsBatchResponse {
        r.handle_sqs(event, None).await
    }

    fn sqs(records: &[(&str, String)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = records
            .iter()
            .map(|(id, body)| {
                let mut r = SqsMessage::default();
                r.message_id = Some((*id).into());
                r.body = Some(body.clone());
                r
            })
            .collect();
        event
    }

    #[tokio::test]
    async fn duplicates_post_once_and_poison_fails_alone() {
        let c = consumer();
        let entry = Envelope::new(
            "eventkit.demo",
            ENTRY_POSTED,
            json!({"account": "acc-1", "amount": 5}),
        );
        let poison = Envelope::new(
            "eventkit.demo",
            ENTRY_POSTED,
            json!({"account": "nope", "amount": 1}),
        );
        let wrong_type = Envelope::new("eventkit.demo", "other", json!({}));
        let event = sqs(&[
            ("1", entry.to_json()),
            ("2", entry.to_json()),
            ("3", poison.to_json()),
            ("4", wrong_type.to_json()),
        ]);
        let response = batch(&c, event).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        // Record 2 may race record 1 (same batch, concurrent): it then sees INPROGRESS and is
        // retried, which is the correct outcome; either way the balance moves once.
        assert!(failed.contains(&"3") && failed.contains(&"4"), "{failed:?}");
        assert!(!failed.contains(&"1"));
        let again = batch(&c, sqs(&[("5", entry.to_json())])).await;
        assert!(again.batch_item_failures.is_empty());
        assert_eq!(c.state().0.lock().unwrap()["acc-1"], 5);
    }

    #[tokio::test]
    async fn not_open_account_names_the_fix() {
        let c = consumer();
        let poison = Envelope::new(
            "eventkit.demo",
            ENTRY_POSTED,
            json!({"account": "nope", "amount": 1}),
        );
        let err = c.dispatch(poison, None).await.unwrap_err();
        assert!(
            err.to_string().contains("account `nope` is not open"),
            "{err}"
        );
        assert_eq!(err.error_type(), "AccountNotOpen");
    }

    #[tokio::test]
    async fn the_samples_open_and_post_or_name_the_unopened_account() {
        let c = consumer();
        let ok: SqsEvent = serde_json::from_str(include_str!(
            "../../../events/p2p-consumer/sqs-open-and-post.json"
        ))
        .unwrap();
        let response = batch(&c, ok).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        // Opened first (same partition key: batch order holds), then both entries posted.
        assert_eq!(c.state().0.lock().unwrap()["acc-sample"], 750);
        let failing: SqsEvent = serde_json::from_str(include_str!(
            "../../../events/p2p-consumer/failure-account-not-open.json"
        ))
        .unwrap();
        let response = batch(&c, failing).await;
        assert_eq!(
            response.batch_item_failures.len(),
            2,
            "both entries name acc-missing"
        );
    }
}
