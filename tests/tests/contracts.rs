//! Every envelope the bus carried during the pattern tests (the audit rule logs them all),
//! every envelope the state machines built as a task's input (their execution histories
//! keep them), and every envelope a function received or sent (its log, on a stack deployed
//! with `LogEnvelopes=true`) validates against the committed schemas: the envelope's, its
//! payload's, its source. Run by `make patterns-test` after the patterns, so the logs and
//! the histories hold their traffic.

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

/// Each function of the template: its logical id and its deployed name
/// (`<stack>-<suffix>`, as every `FunctionName: !Sub ${AWS::StackName}-<suffix>` says).
fn template_functions(stack_name: &str) -> Vec<(String, String)> {
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml"),
    )
    .expect("infra/template.yaml");
    let (mut functions, mut current) = (Vec::new(), None::<String>);
    for line in template.lines() {
        if let Some(id) = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|id| !id.starts_with(' '))
        {
            current = Some(id.to_owned());
        } else if line == "    Type: AWS::Serverless::Function" {
            functions.push((current.clone().expect("a resource's id"), String::new()));
        } else if let Some(suffix) = line
            .trim_start()
            .strip_prefix("FunctionName: !Sub ${AWS::StackName}-")
        {
            if let Some(last) = functions.last_mut() {
                if Some(&last.0) == current.as_ref() && last.1.is_empty() {
                    last.1 = format!("{stack_name}-{suffix}");
                }
            }
        }
    }
    assert!(
        functions.iter().all(|(_, name)| !name.is_empty()),
        "a function without `FunctionName: !Sub ${{AWS::StackName}}-...`: {functions:?}"
    );
    functions
}

/// One logged passage: which function, `received` or `sent`, the envelope.
struct Passage {
    function: String,
    way: &'static str,
    envelope: serde_json::Value,
}

/// Every envelope the functions logged (`LogEnvelopes=true`: `envelope received` /
/// `envelope sent`, the envelope whole in the line's `envelope` field).
async fn logged_envelopes(stack: &Stack) -> anyhow::Result<Vec<Passage>> {
    let mut passages = Vec::new();
    for (function, name) in template_functions(&stack.name()?) {
        for (message, way) in [("envelope received", "received"), ("envelope sent", "sent")] {
            let group = format!("/aws/lambda/{name}");
            for line in stack.group_log_lines(&group, &[message], None).await? {
                let Some(json) = line.find('{').map(|start| &line[start..]) else {
                    continue;
                };
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(json) else {
                    continue;
                };
                if entry["message"] != message {
                    continue;
                }
                let text = entry["envelope"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("{name}: `{message}` without an envelope"))?;
                passages.push(Passage {
                    function: function.clone(),
                    way,
                    envelope: serde_json::from_str(text)?,
                });
            }
        }
    }
    Ok(passages)
}

#[tokio::test]
#[ignore = "needs the deployed stack after the pattern tests: make patterns-test"]
async fn every_envelope_a_function_received_or_sent_validates_against_its_schema(
) -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let validator =
        Validator::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/schemas"))?;
    let passages = logged_envelopes(&stack).await?;
    assert!(
        !passages.is_empty(),
        "no function logged an envelope: was the stack deployed with LogEnvelopes=true (make deploy-local)?"
    );
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    for p in &passages {
        let event_type = p.envelope["type"].as_str().unwrap_or_default().to_owned();
        seen.insert((event_type.clone(), p.function.clone(), p.way));
        if SENT_OFF_CONTRACT_BY_TESTS.contains(&event_type.as_str()) {
            continue;
        }
        if let Err(e) = validator.check(&p.envelope) {
            failures.push(format!("{} {}: {e}", p.function, p.way));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} envelopes invalid:\n{}",
        failures.len(),
        passages.len(),
        failures.join("\n")
    );
    // Every passage off the bus the catalogue names was seen: each function it invokes
    // received the type, each function that puts it on a queue sent it (a client's, some
    // function received it).
    let mut unseen = Vec::new();
    for c in catalogue() {
        let was = |function: Option<&str>, way: &str| {
            seen.iter().any(|(t, f, w)| {
                t == c.event_type && *w == way && function.is_none_or(|function| f == function)
            })
        };
        for channel in c.channels.iter().filter(|ch| **ch != "bus") {
            if let Some(function) = channel.strip_prefix("invoke:") {
                if !was(Some(function), "received") {
                    unseen.push(format!("{} received by {function}", c.event_type));
                }
                continue;
            }
            let senders: Vec<_> = c
                .producers
                .iter()
                .filter(|p| p.ends_with("Function"))
                .collect();
            for sender in &senders {
                if !was(Some(sender), "sent") {
                    unseen.push(format!("{} sent by {sender} to {channel}", c.event_type));
                }
            }
            if senders.is_empty() && !was(None, "received") {
                unseen.push(format!("{} received from {channel}", c.event_type));
            }
        }
    }
    assert!(
        unseen.is_empty(),
        "never logged during the tests: {unseen:?}"
    );
    println!(
        "{} envelopes received or sent by {} functions validated",
        passages.len(),
        passages
            .iter()
            .map(|p| &p.function)
            .collect::<BTreeSet<_>>()
            .len()
    );
    Ok(())
}
