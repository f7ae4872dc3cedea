//! The saga's steps and a whole choreography, in memory.

use std::collections::BTreeMap;

use eventkit::publish::MemoryPublisher;
use eventkit::Envelope;
use eventkit_contracts::orders::Line;
use serde_json::Value;

use super::*;

type Function = Router<Participant<MemoryOrders, Arc<MemoryPublisher>>>;

fn checkout(order_id: &str, faults: &[(&str, &str)]) -> Checkout {
    Checkout {
        order_id: order_id.into(),
        customer: "c-1".into(),
        lines: vec![Line {
            sku: "mug".into(),
            quantity: 1,
            unit_price: 900,
        }],
        total: 900,
        faults: faults
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[tokio::test]
async fn a_step_is_a_guarded_transition_applied_once() {
    let orders = MemoryOrders::default();
    let c = checkout("o-1", &[]);
    assert!(run_step(&orders, RESERVE, &c).await.unwrap().changed);
    assert!(
        !run_step(&orders, RESERVE, &c).await.unwrap().changed,
        "a replay changes nothing"
    );
    assert_eq!(
        run_step(&orders, RELEASE, &c).await.unwrap().status,
        "RELEASED"
    );
    // Reserved before and released since: a late duplicate, not a new reservation.
    let err = run_step(&orders, RESERVE, &c).await.unwrap_err();
    assert!(matches!(err, SagaError::AlreadyPassed { .. }), "{err}");
    // A step that cannot start from where the order is, and never ran: refused.
    let err = run_step(&orders, CHARGE, &c).await.unwrap_err();
    assert!(matches!(err, SagaError::WrongState { .. }), "{err}");
    // Compensating what never happened is a no-op, not an error.
    let never = run_step(&orders, REFUND, &checkout("o-2", &[]))
        .await
        .unwrap();
    assert_eq!((never.status.as_str(), never.changed), ("NONE", false));
    assert_eq!(orders.0.lock().unwrap()["o-1"].1["RESERVED"], 1);
}

#[tokio::test]
async fn injected_faults_refuse_or_fail_transiently_then_recover() {
    let orders = MemoryOrders::default();
    let err = run_step(&orders, CHARGE, &checkout("o-1", &[("charge", "reject")]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "PaymentDeclined");
    let flaky = checkout("o-2", &[("charge", "transient:2")]);
    for _ in 0..2 {
        let err = run_step(&orders, CHARGE, &flaky).await.unwrap_err();
        assert_eq!(err.error_type(), "TransientError");
    }
    assert!(run_step(&orders, CHARGE, &flaky).await.unwrap().changed);
    let err = run_step(&orders, REFUND, &checkout("o-3", &[("refund", "always")]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "TransientError");
    let err = run_step(&orders, SHIP, &checkout("o-4", &[("ship", "sometimes")]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown fault `sometimes`"),
        "{err}"
    );
}

fn services(bus: &Arc<MemoryPublisher>) -> Vec<(Service, Function)> {
    [Service::Inventory, Service::Payment, Service::Shipping]
        .into_iter()
        .map(|service| {
            (
                service,
                router(Participant {
                    service,
                    orders: MemoryOrders::default(),
                    bus: bus.clone(),
                }),
            )
        })
        .collect()
}

/// Hands `event` to every service that takes it; a failure fails the test.
async fn deliver(services: &[(Service, Function)], event: &Envelope) {
    for (_, f) in services {
        if f.handled().contains(&event.event_type) {
            f.dispatch(event.clone(), None)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", event.event_type));
        }
    }
}

/// Delivers every published event, including those the deliveries publish, once.
async fn settle(bus: &MemoryPublisher, services: &[(Service, Function)]) {
    let mut handled = 0;
    while handled < bus.published().len() {
        let event = bus.published()[handled].clone();
        handled += 1;
        deliver(services, &event).await;
    }
}

/// Runs a choreography to the end: every published event to the service that takes it.
async fn choreograph(faults: &[(&str, &str)]) -> (Vec<String>, Vec<(Service, Function)>) {
    let bus = Arc::new(MemoryPublisher::default());
    let services = services(&bus);
    let start = Envelope::new(
        "eventkit.shop",
        CHECKOUT_REQUESTED,
        serde_json::to_value(checkout("o-9", faults)).unwrap(),
    );
    bus.publish(&[start]).await.unwrap();
    settle(&bus, &services).await;
    let flow = bus.published().into_iter().map(|e| e.event_type).collect();
    (flow, services)
}

fn status(services: &[(Service, Function)], service: Service) -> String {
    let f = &services.iter().find(|(s, _)| *s == service).unwrap().1;
    f.state()
        .orders
        .0
        .lock()
        .unwrap()
        .get("o-9")
        .map(|(s, _)| s.clone())
        .unwrap_or_else(|| "NONE".into())
}

#[tokio::test]
async fn the_choreography_completes_or_compensates_what_was_done() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], [&'a str; 3]);
    let cases: [Case; 4] = [
        (
            &[],
            &[
                CHECKOUT_REQUESTED,
                INVENTORY_RESERVED,
                PAYMENT_CHARGED,
                SHIPPING_ARRANGED,
            ],
            ["RESERVED", "CHARGED", "ARRANGED"],
        ),
        (
            &[("reserve", "reject")],
            &[CHECKOUT_REQUESTED, INVENTORY_REJECTED],
            ["NONE", "NONE", "NONE"],
        ),
        (
            &[("charge", "reject")],
            &[
                CHECKOUT_REQUESTED,
                INVENTORY_RESERVED,
                PAYMENT_DECLINED,
                INVENTORY_RELEASED,
            ],
            ["RELEASED", "NONE", "NONE"],
        ),
        (
            &[("ship", "reject")],
            &[
                CHECKOUT_REQUESTED,
                INVENTORY_RESERVED,
                PAYMENT_CHARGED,
                SHIPPING_FAILED,
                PAYMENT_REFUNDED,
                INVENTORY_RELEASED,
            ],
            ["RELEASED", "REFUNDED", "NONE"],
        ),
    ];
    for (faults, flow, end) in cases {
        let (seen, services) = choreograph(faults).await;
        assert_eq!(seen, flow, "faults {faults:?}");
        let ends =
            [Service::Inventory, Service::Payment, Service::Shipping].map(|s| status(&services, s));
        assert_eq!(ends, end, "faults {faults:?}");
    }
}

#[tokio::test]
async fn late_duplicates_after_a_compensation_are_acknowledged_and_announce_nothing() {
    let bus = Arc::new(MemoryPublisher::default());
    let services = services(&bus);
    let start = Envelope::new(
        "eventkit.shop",
        CHECKOUT_REQUESTED,
        serde_json::to_value(checkout("o-9", &[("ship", "reject")])).unwrap(),
    );
    bus.publish(&[start]).await.unwrap();
    settle(&bus, &services).await;
    let settled = bus.published().len();
    // Every event again, after the saga compensated (a redelivery after a timeout).
    for event in bus.published() {
        deliver(&services, &event).await;
    }
    let again: Vec<String> = bus.published()[settled..]
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    // Only the reactions whose state still stands re-announce (same ids); the charge and
    // the reservation, since compensated, do not.
    assert!(
        !again.contains(&PAYMENT_CHARGED.to_owned())
            && !again.contains(&INVENTORY_RESERVED.to_owned()),
        "{again:?}"
    );
    let ends =
        [Service::Inventory, Service::Payment, Service::Shipping].map(|s| status(&services, s));
    assert_eq!(ends, ["RELEASED", "REFUNDED", "NONE"]);
}

#[tokio::test]
async fn every_event_of_a_checkout_shares_its_correlation_id_and_names_its_cause() {
    let bus = Arc::new(MemoryPublisher::default());
    let services = services(&bus);
    let start = Envelope::new(
        "eventkit.shop",
        CHECKOUT_REQUESTED,
        serde_json::to_value(checkout("o-9", &[])).unwrap(),
    );
    bus.publish(std::slice::from_ref(&start)).await.unwrap();
    settle(&bus, &services).await;
    let events = bus.published();
    assert!(events
        .iter()
        .all(|e| e.correlation_id == start.correlation_id));
    for pair in events.windows(2) {
        assert_eq!(pair[1].causation_id.as_deref(), Some(pair[0].id.as_str()));
    }
}

#[tokio::test]
async fn the_samples_run() {
    let bus = Arc::new(MemoryPublisher::default());
    let inventory = router(Participant {
        service: Service::Inventory,
        orders: MemoryOrders::default(),
        bus: bus.clone(),
    });
    let task: Value = serde_json::from_str(include_str!(
        "../../../events/checkout-saga/task-inventory-reserve.json"
    ))
    .unwrap();
    let answer = inventory.handle(task, None).await.unwrap();
    assert_eq!(answer["status"], "RESERVED");
    let batch: Value = serde_json::from_str(include_str!(
        "../../../events/checkout-saga/sqs-checkout-requested.json"
    ))
    .unwrap();
    let response = inventory.handle(batch, None).await.unwrap();
    assert_eq!(response["batchItemFailures"], serde_json::json!([]));
    assert_eq!(bus.published()[0].event_type, INVENTORY_RESERVED);
}
