//! Every envelope the bus carried during the pattern tests (the audit rule logs them all),
//! and every envelope the state machines built as a task's input (their execution
//! histories keep them), validates against the committed schemas: the envelope's, its
//! payload's, its source. Run by `make patterns-test` after the patterns, so the audit log
//! and the histories hold their traffic.

use std::collections::BTreeSet;
use std::path::Path;

use eventkit_cli::fetch;
use eventkit_contracts::registry::catalogue;
use eventkit_contracts::validate::Validator;
use eventkit_e2e::stack::Stack;

/// Types the pattern tests put on the bus on purpose, as a foreign producer might: an
/// event no rule routes (`point_to_point.rs`). Nothing of the kit's own may be off contract.
const SENT_OFF_CONTRACT_BY_TESTS: &[&str] = &["ledger.entry.voided"];

#[tokio::test]
#[ignore = "needs the deployed stack after the pattern tests: make patterns-test"]
async fn every_envelope_the_bus_carried_validates_against_its_schema() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let validator =
        Validator::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/schemas"))?;
    let details = fetch::bus_details(&stack.logs, &stack.output("AuditLogGroupName")?).await?;
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    for d in &details {
        let event_type = d["type"].as_str().unwrap_or_default();
        seen.insert(event_type.to_owned());
        if SENT_OFF_CONTRACT_BY_TESTS.contains(&event_type) {
            continue;
        }
        if let Err(e) = validator.check(d) {
            failures.push(e.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} envelopes invalid:\n{}",
        failures.len(),
        details.len(),
        failures.join("\n")
    );
    // Every type the catalogue puts on the bus was seen, so each was checked at least once.
    let mut expected: BTreeSet<String> = catalogue()
        .iter()
        .filter(|c| c.channels.contains(&"bus"))
        .map(|c| c.event_type.to_owned())
        .collect();
    expected.extend(SENT_OFF_CONTRACT_BY_TESTS.iter().map(|t| t.to_string()));
    let unseen: Vec<_> = expected.difference(&seen).collect();
    assert!(
        unseen.is_empty(),
        "never on the bus during the tests: {unseen:?}"
    );
    println!(
        "{} envelopes of {} types validated",
        details.len(),
        seen.len()
    );
    Ok(())
}

/// The envelopes in a task's parameters: a Lambda task's `Payload`, an SQS task's
/// `MessageBody` (a JSON object, or its text).
fn task_envelope(parameters: &serde_json::Value) -> Option<serde_json::Value> {
    let candidate = match (parameters.get("Payload"), parameters.get("MessageBody")) {
        (Some(p), _) => p.clone(),
        (None, Some(serde_json::Value::String(text))) => serde_json::from_str(text).ok()?,
        (None, Some(body)) => body.clone(),
        (None, None) => return None,
    };
    candidate.get("specversion").is_some().then_some(candidate)
}

#[tokio::test]
#[ignore = "needs the deployed stack after the pattern tests: make patterns-test"]
async fn every_envelope_a_state_machine_built_validates_against_its_schema() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let validator =
        Validator::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/schemas"))?;
    let machines = [
        "CheckoutSagaStateMachineArn",
        "StockCheckStateMachineArn",
        "QuoteGatherStateMachineArn",
    ];
    let (mut checked, mut seen, mut failures) = (0, BTreeSet::new(), Vec::new());
    for machine in machines {
        for execution in stack.execution_arns(machine).await? {
            let mut token = None;
            loop {
                let page = stack
                    .sfn
                    .get_execution_history()
                    .execution_arn(&execution)
                    .set_next_token(token)
                    .send()
                    .await?;
                for event in page.events() {
                    let Some(parameters) =
                        event.task_scheduled_event_details().map(|d| d.parameters())
                    else {
                        continue;
                    };
                    let Some(envelope) = serde_json::from_str(parameters)
                        .ok()
                        .as_ref()
                        .and_then(task_envelope)
                    else {
                        continue;
                    };
                    checked += 1;
                    seen.insert(envelope["type"].as_str().unwrap_or_default().to_owned());
                    if let Err(e) = validator.check(&envelope) {
                        failures.push(format!("{machine}: {e}"));
                    }
                }
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} task inputs invalid:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every type the catalogue says a state machine produces was built and checked.
    let expected: BTreeSet<String> = catalogue()
        .iter()
        .filter(|c| c.producers.iter().any(|p| p.ends_with("StateMachine")))
        .map(|c| c.event_type.to_owned())
        .collect();
    let unseen: Vec<_> = expected.difference(&seen).collect();
    assert!(
        unseen.is_empty(),
        "never built during the tests: {unseen:?}"
    );
    println!("{checked} task inputs of {} types validated", seen.len());
    Ok(())
}
