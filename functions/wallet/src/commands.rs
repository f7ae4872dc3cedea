//! The write side: `wallet.command` envelopes (from the commands queue) executed on the
//! aggregate. The envelope's `subject` names the wallet and `data` the command; its
//! conversation and trace become the stored events' metadata. A command is run once per
//! envelope id: by the idempotency record, and, should that record be lost after the events
//! committed (a timeout between the two, a commit whose answer was lost), by the store
//! itself: a command whose id is the causation of one of the wallet's last
//! [`RECENT`] events is not run again. A lost optimistic-concurrency race is retried on
//! fresh state; a refusal fails the record with the aggregate's reason, so it reaches the DLQ.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::{AggregateError, CqrsFramework, EventStore};
use eventkit::idempotency::IdempotencyStore;
use eventkit::ErrorType;
use eventkit::{Event, Router};

use crate::{metadata_of, Wallet, WalletCommand, WalletError, META_CAUSATION};

/// The command envelope's type.
pub use eventkit_contracts::wallets::WALLET_COMMAND as COMMAND;

/// Attempts at a command whose commit keeps losing the race for the next sequence.
pub const ATTEMPTS: usize = 3;

/// How many of a wallet's latest events are searched for a command's own: a redelivery
/// comes within minutes, and a wallet rarely takes this many other commands meanwhile.
pub const RECENT: usize = 100;

/// Why a command was not executed.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum CommandError {
    /// The aggregate refused it: the reason names what to send instead.
    #[error("wallet `{wallet}` refused the command: {reason}")]
    #[error_type("CommandRefused")]
    Refused {
        /// The wallet.
        wallet: String,
        /// The aggregate's reason.
        reason: WalletError,
    },
    /// The envelope names no wallet.
    #[error("a wallet command needs `subject` = the wallet id")]
    #[error_type("BadCommand")]
    NoWallet,
    /// Another command kept committing first.
    #[error("wallet `{wallet}`: another command committed first {ATTEMPTS} times; retried later")]
    Conflict {
        /// The wallet.
        wallet: String,
    },
    /// The event store failed; retryable.
    #[error("event store: {0}")]
    #[error_type("TransientError")]
    Store(String),
}

/// Executes commands on wallets (the framework over an event store).
#[async_trait]
pub trait Commands: Send + Sync {
    /// Decides and commits one command with `metadata` on the stored events.
    async fn execute(
        &self,
        wallet: &str,
        command: WalletCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<WalletError>>;

    /// Whether one of `wallet`'s last [`RECENT`] stored events was caused by `command_id`.
    async fn caused(&self, wallet: &str, command_id: &str) -> Result<bool, String>;
}

/// The causation ids of a wallet's latest stored events, newest first.
#[async_trait]
pub trait RecentCauses: Send + Sync {
    /// At most `limit` of them.
    async fn recent_causes(&self, wallet: &str, limit: usize) -> Result<Vec<String>, String>;
}

/// The framework over an event store, and a reader of that store's recent causations.
pub struct EventSourced<ES: EventStore<Wallet>, H> {
    /// Loads, decides and commits.
    pub cqrs: CqrsFramework<Wallet, ES>,
    /// Reads the same store's latest events.
    pub history: H,
}

#[async_trait]
impl<ES, H> Commands for EventSourced<ES, H>
where
    ES: EventStore<Wallet>,
    ES::AC: Send,
    H: RecentCauses,
{
    async fn execute(
        &self,
        wallet: &str,
        command: WalletCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<WalletError>> {
        self.cqrs
            .execute_with_metadata(wallet, command, metadata)
            .await
    }

    async fn caused(&self, wallet: &str, command_id: &str) -> Result<bool, String> {
        let causes = self.history.recent_causes(wallet, RECENT).await?;
        Ok(causes.iter().any(|c| c == command_id))
    }
}

/// The in-memory store of `cqrs-es` (unit tests): every event of the wallet.
#[async_trait]
impl RecentCauses for cqrs_es::mem_store::MemStore<Wallet> {
    async fn recent_causes(&self, wallet: &str, limit: usize) -> Result<Vec<String>, String> {
        let events = self.load_events(wallet).await.map_err(|e| e.to_string())?;
        Ok(events
            .iter()
            .rev()
            .take(limit)
            .filter_map(|e| e.metadata.get(META_CAUSATION).cloned())
            .collect())
    }
}

/// Runs `command` on `wallet`, retrying a lost race on fresh state.
pub async fn execute<C: Commands + ?Sized>(
    commands: &C,
    wallet: &str,
    command: WalletCommand,
    metadata: HashMap<String, String>,
) -> Result<(), CommandError> {
    let command_id = metadata.get(META_CAUSATION).cloned();
    for attempt in 1..=ATTEMPTS {
        // Before each attempt, on the store: a first attempt may be a redelivery whose
        // events committed, a retry may follow a commit whose answer was lost.
        if let Some(id) = &command_id {
            if commands
                .caused(wallet, id)
                .await
                .map_err(CommandError::Store)?
            {
                tracing::warn!(
                    wallet,
                    command = %id,
                    attempt,
                    "the command's events are already stored; not run again"
                );
                return Ok(());
            }
        }
        match commands
            .execute(wallet, command.clone(), metadata.clone())
            .await
        {
            Ok(()) => return Ok(()),
            Err(AggregateError::UserError(reason)) => {
                return Err(CommandError::Refused {
                    wallet: wallet.to_owned(),
                    reason,
                })
            }
            Err(AggregateError::AggregateConflict) => {
                tracing::warn!(
                    wallet,
                    attempt,
                    "lost the race for the next sequence; retrying on fresh state"
                );
            }
            Err(e) => return Err(CommandError::Store(e.to_string())),
        }
    }
    Err(CommandError::Conflict {
        wallet: wallet.to_owned(),
    })
}

async fn handle<C: Commands>(
    commands: Arc<C>,
    event: Event<WalletCommand>,
) -> Result<(), CommandError> {
    let (command, mut envelope) = event.into_parts();
    let wallet = envelope.subject.clone().ok_or(CommandError::NoWallet)?;
    // The stored events' trace parent is this command's span, so the relay and the read
    // models continue the command's trace.
    eventkit::otel::stamp_current(&mut envelope);
    let metadata = metadata_of(&envelope);
    execute(commands.as_ref(), &wallet, command, metadata).await?;
    tracing::info!(wallet, "command executed");
    Ok(())
}

/// The commands function: `wallet.command` version 1, once per envelope id.
pub fn router<C: Commands + 'static>(
    commands: C,
    idempotency: impl IdempotencyStore + 'static,
) -> Router<C> {
    Router::with_state(commands)
        .idempotency_store(idempotency)
        .on_version(COMMAND, "1", handle::<C>)
        .idempotent()
}
