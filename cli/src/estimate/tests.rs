//! Worked examples recomputed by hand, the data files' shape, and docs/CAPACITY.md's tables
//! against the estimator.

use super::*;

fn book() -> Book {
    Book::load().expect("the compiled-in data files parse")
}

fn of(id: &str, size: u64) -> Estimate {
    let inputs = Inputs {
        size,
        ..Inputs::default()
    };
    estimate(&find(id).unwrap(), &book(), inputs).unwrap()
}

fn cost<'a>(e: &'a Estimate, service: &str, item: &str) -> &'a CostLine {
    e.costs
        .iter()
        .find(|c| c.service == service && c.item.starts_with(item))
        .unwrap_or_else(|| panic!("no {service} {item} line in {:#?}", e.costs))
}

fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-9 * expected.abs().max(1.0),
        "{actual} != {expected}"
    );
}

#[test]
fn every_figure_has_a_value_a_unit_a_source_and_a_date() {
    let book = book();
    assert_eq!(book.region, "us-east-1");
    for (name, f) in book.figures() {
        assert!(f.value > 0.0, "{name}: {}", f.value);
        assert!(!f.unit.trim().is_empty(), "{name} has no unit");
        let s = &f.source;
        assert!(
            s.starts_with("https://")
                || s.starts_with("docs/")
                || s.starts_with("events/")
                || s.starts_with("not measured"),
            "{name}: source `{s}` is neither a URL nor a file of the repository"
        );
        let d: Vec<&str> = f.read.split('-').collect();
        assert!(
            d.len() == 3 && d.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())),
            "{name}: read `{}` is not YYYY-MM-DD",
            f.read
        );
    }
}

/// The sizes measured.toml takes from the sample events, measured again.
#[test]
fn the_measured_sizes_are_the_samples() {
    let record = |file: &str, i: usize| -> serde_json::Value {
        let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
        let sample: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        serde_json::from_str(sample["Records"][i]["body"].as_str().unwrap()).unwrap()
    };
    let m = book().measured;
    // The second record: a ledger.entry.posted, the pattern's event.
    let body = record("p2p-consumer/sqs-open-and-post.json", 1);
    let detail = serde_json::to_string(&body["detail"]).unwrap().len();
    let whole = serde_json::to_string(&body).unwrap().len();
    assert_eq!((whole - detail) as f64, m.bus_wrapper_bytes.value);
    let fields =
        body["source"].as_str().unwrap().len() + body["detail-type"].as_str().unwrap().len() + 14;
    assert_eq!(fields as f64, m.entry_fields_bytes.value);
    let thin = record("customer-views/sqs-customer-changed.json", 0);
    let thin = serde_json::to_string(&thin["detail"]).unwrap().len();
    assert_eq!(thin as f64, m.thin_event_bytes.value);
}

#[test]
fn point_to_point_at_1_kb_costs_what_the_arithmetic_says() {
    let e = of("point-to-point", 1024);

    // Lambda: one invocation per batch of 10; each record makes the measured record's 2
    // calls, so 15.81 ms, and a batch 158.1 ms, billed 159 ms at 256 MB.
    let requests = 1e6 / 10.0 * 0.20 / 1e6;
    close(cost(&e, "Lambda", "requests").usd_per_million, requests);
    let gb_seconds = 1e6 / 10.0 * 0.159 * (256.0 / 1024.0);
    close(
        cost(&e, "Lambda", "GB-seconds").usd_per_million,
        gb_seconds * 0.0000166667,
    );

    // SQS: the rule's send (1,024 + 207 bytes: one 64 KB chunk), a receive and a delete
    // per batch of 10.
    close(cost(&e, "SQS", "SendMessage").usd_per_million, 1.0 * 0.40);
    close(
        cost(&e, "SQS", "ReceiveMessage").usd_per_million,
        0.1 * 0.40,
    );
    close(
        cost(&e, "SQS", "DeleteMessageBatch").usd_per_million,
        0.1 * 0.40,
    );

    // EventBridge: one entry of 1,024 + 46 bytes, one chunk.
    close(cost(&e, "EventBridge", "custom").usd_per_million, 1.0);

    // DynamoDB: the claim (1 unit), the COMPLETED record and the ledger update in one
    // transaction (2 units each).
    close(
        cost(&e, "DynamoDB", "write").usd_per_million,
        (1.0 + 2.0 + 2.0) * 0.625,
    );

    // The audit log: the event as delivered, 1,231 bytes.
    let log = 1e6 * 1231.0 / 1_073_741_824.0 * 0.50;
    close(cost(&e, "CloudWatch Logs", "audit").usd_per_million, log);

    let total = requests + gb_seconds * 0.0000166667 + 0.48 + 1.0 + 3.125 + log;
    close(e.total(), total);
    assert!((e.total() - 5.2645).abs() < 1e-4, "{}", e.total());
}

#[test]
fn a_65_kb_message_bills_two_sqs_requests_and_two_bus_events() {
    let e = of("point-to-point", 65 * 1024);
    // 66,560 + 207 bytes on the queue, 66,560 + 46 on the bus: two 64 KB chunks each.
    assert_eq!(cost(&e, "SQS", "SendMessage").per_event, 2.0);
    assert_eq!(cost(&e, "EventBridge", "custom").per_event, 2.0);
    // A batch of 10 such messages is 667,670 bytes: 11 chunks, received in one request.
    close(cost(&e, "SQS", "ReceiveMessage").per_event, 1.1);
    assert_eq!(cost(&e, "SQS", "DeleteMessageBatch").per_event, 0.1);
    // 66 KB items would be 66 units, but the ledger writes only ids and amounts.
    close(cost(&e, "DynamoDB", "write").per_event, 5.0);
    assert_eq!(chunks(65_536.0, 65_536.0), 1.0);
    assert_eq!(chunks(65_537.0, 65_536.0), 2.0);
}

#[test]
fn at_100k_per_second_point_to_point_first_reaches_the_bus_invocations() {
    let e = of("point-to-point", 1024);
    // Two rule targets per event (LedgerQueue, the audit log) against 18,750/s.
    let first = e.first_limit(100_000.0).unwrap();
    assert_eq!(first.limit, "EventBridge invocations");
    close(first.ceiling, 18_750.0 / 2.0);
    assert!(e.first_limit(1_000.0).is_none());
    assert_eq!(
        e.first_limit(10_000.0).unwrap().limit,
        "EventBridge invocations"
    );
    let over: Vec<&str> = e.over(100_000.0).iter().map(|l| l.limit.as_str()).collect();
    // One PutEvents call per event: 10,000/s. The idempotency table, 3 units per event of
    // 40,000/s: 13,333/s. Concurrency: 0.1 batch per event of 159 ms, 1,000 at once.
    assert_eq!(
        over,
        [
            "EventBridge invocations",
            "EventBridge PutEvents",
            "DynamoDB IdempotencyTable writes",
            "DynamoDB LedgerTable writes",
            "SQS event source mapping of p2p-consumer",
            "Lambda concurrency",
        ]
    );
    let concurrency = e.loads.iter().find(|l| l.limit == "Lambda concurrency");
    close(concurrency.unwrap().ceiling, 1000.0 / (0.1 * 0.159));
}

#[test]
fn the_orchestrated_saga_reaches_its_state_transitions_before_1k_per_second() {
    let e = of("orchestrated-saga", 1024);
    // 7 states entered per checkout against 1,500 transitions/s; StartExecution 300/s.
    let first = e.first_limit(1_000.0).unwrap();
    assert_eq!(
        first.limit,
        "Step Functions checkout-saga state transitions"
    );
    close(first.ceiling, 1500.0 / 7.0);
    close(
        cost(&e, "Step Functions", "checkout-saga").usd_per_million,
        7.0 * 1e6 * 0.025 / 1000.0,
    );
    assert!(
        first.lift.starts_with("Express workflows"),
        "{}",
        first.lift
    );
}

#[test]
fn a_document_over_the_threshold_goes_to_s3_twice_and_is_read_back_twice() {
    let two_mib = 2 * 1024 * 1024;
    let e = of("claim-check", two_mib);
    assert!(e.offloaded);
    close(
        cost(&e, "S3", "PUT").usd_per_million,
        2.0 * 1e6 * 0.005 / 1000.0,
    );
    close(
        cost(&e, "S3", "GET").usd_per_million,
        2.0 * 1e6 * 0.0004 / 1000.0,
    );
    // Two 2 MiB objects for 15 days of a 30-day month.
    close(
        cost(&e, "S3", "byte-months").usd_per_million,
        2.0 * (2.0 / 1024.0) * 0.5 * 0.023 * 1e6,
    );
    // The messages are pointers: one chunk, whatever the document.
    assert_eq!(cost(&e, "SQS", "SendMessage").per_event, 2.0);
    assert_eq!(cost(&e, "EventBridge", "custom").per_event, 1.0);
    assert!(!of("claim-check", 1024).offloaded);
}

#[test]
fn an_event_over_what_a_pattern_carries_is_refused_naming_the_claim_check() {
    let err = estimate(
        &find("point-to-point").unwrap(),
        &book(),
        Inputs {
            size: 2 * 1024 * 1024,
            ..Inputs::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, EstimateError::TooLarge { .. }));
    assert!(err.to_string().contains("claim-check"), "{err}");
}

#[test]
fn an_unknown_pattern_names_the_known_ones() {
    let err = find("pub-sub").unwrap_err().to_string();
    for id in pattern_ids() {
        assert!(err.contains(id), "{err} does not name {id}");
    }
}

#[test]
fn the_catalogue_is_the_templates_patterns() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/patterns");
    let mut fragments: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    fragments.sort();
    let mut ids: Vec<String> = pattern_ids().iter().map(|s| s.to_string()).collect();
    ids.sort();
    assert_eq!(ids, fragments);
}

#[test]
fn rates_parse_with_or_without_a_unit() {
    assert_eq!(parse_rate("1000").unwrap(), 1000.0);
    assert_eq!(parse_rate("1000/s").unwrap(), 1000.0);
    assert_eq!(parse_rate("10k/s").unwrap(), 10_000.0);
    assert_eq!(parse_rate("100_000").unwrap(), 100_000.0);
    assert_eq!(parse_rate("1.5M").unwrap(), 1_500_000.0);
    for bad in ["", "fast", "0", "-5/s", "inf"] {
        assert!(
            matches!(parse_rate(bad), Err(EstimateError::BadRate { .. })),
            "{bad}"
        );
    }
}

#[test]
fn every_pattern_estimates_at_1_kb_and_names_its_first_limit() {
    for e in all(&book(), Inputs::default()).unwrap() {
        assert!(e.total() > 0.0, "{}", e.pattern);
        assert!(!e.loads.is_empty(), "{} has no limit", e.pattern);
        assert!(
            e.loads.windows(2).all(|w| w[0].ceiling <= w[1].ceiling),
            "{}: limits not sorted",
            e.pattern
        );
        let report = e.render(Some(2_500.0));
        assert!(report.contains("at 2,500/s:"), "{report}");
    }
}

#[test]
fn numbers_print_grouped_and_in_cents() {
    assert_eq!(group(9_375.0), "9,375");
    assert_eq!(group(100_000.0), "100,000");
    assert_eq!(group(214.285), "214");
    assert_eq!(money(5.26448), "5.26");
    assert_eq!(money(0.004), "0.0040");
    assert_eq!(quantity(0.1), "0.1");
    assert_eq!(quantity(1.0), "1");
}

/// docs/CAPACITY.md's tables are the estimator's output at 1 KB: the test fails when they
/// drift; `EVENTKIT_WRITE_CAPACITY=1` rewrites them.
#[test]
fn capacity_doc() {
    const START: &str = "<!-- estimate:start";
    const END: &str = "<!-- estimate:end -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CAPACITY.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc
        .find(START)
        .expect("docs/CAPACITY.md has the start marker");
    let body = start + doc[start..].find('\n').unwrap() + 1;
    let end = doc.find(END).expect("docs/CAPACITY.md has the end marker");
    let tables = summary_markdown(&book(), Inputs::default()).unwrap();
    if doc[body..end] == tables {
        return;
    }
    if std::env::var_os("EVENTKIT_WRITE_CAPACITY").is_some() {
        let updated = format!("{}{}{}", &doc[..body], tables, &doc[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    panic!(
        "docs/CAPACITY.md's tables differ from the estimator's; rewrite them with \
         `EVENTKIT_WRITE_CAPACITY=1 cargo test -p eventkit-cli capacity_doc`, then read the \
         diff. The estimator says:\n{tables}"
    );
}
