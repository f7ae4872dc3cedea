//! Every envelope the bus carried during the pattern tests (the audit rule logs them all)
//! validates against the committed schemas: the envelope's, its payload's, its source.
//! Run by `make patterns-test` after the patterns, so the audit log holds their traffic.

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
