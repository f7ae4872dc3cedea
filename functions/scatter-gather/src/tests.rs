//! Scatter-gather in memory: each completion policy, silent suppliers, duplicate and late
//! parts.

use std::collections::HashMap;
use std::sync::Mutex;

use eventkit::publish::MemoryPublisher;

use super::*;

#[derive(Default)]
struct MemoryGathers(Mutex<HashMap<String, Gather>>);

#[async_trait]
impl Gathers for MemoryGathers {
    async fn open(&self, id: &str, gather: &Gather) -> Result<bool, StoreError> {
        let mut m = self.0.lock().unwrap();
        if m.contains_key(id) {
            return Ok(false);
        }
        m.insert(id.into(), gather.clone());
        Ok(true)
    }
    async fn add_part(&self, id: &str, offer: &QuoteOffered) -> Result<Added, StoreError> {
        let mut m = self.0.lock().unwrap();
        Ok(match m.get_mut(id) {
            None => Added::Unknown,
            Some(g) if g.completed_by.is_some() => Added::Closed,
            Some(g) if g.parts.contains_key(&offer.supplier) => Added::Duplicate(g.clone()),
            Some(g) if g.parts.len() >= g.capacity() => Added::Closed,
            Some(g) => {
                g.parts.insert(offer.supplier.clone(), offer.clone());
                Added::Added(g.clone())
            }
        })
    }
    async fn close(&self, id: &str, completed_by: &str) -> Result<Option<Gather>, StoreError> {
        let mut m = self.0.lock().unwrap();
        Ok(match m.get_mut(id) {
            Some(g) if g.completed_by.is_none() => {
                g.completed_by = Some(completed_by.into());
                Some(g.clone())
            }
            Some(g) if !g.published => Some(g.clone()),
            _ => None,
        })
    }
    async fn published(&self, id: &str) -> Result<(), StoreError> {
        if let Some(g) = self.0.lock().unwrap().get_mut(id) {
            g.published = true;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Timers(Mutex<Vec<(Duration, Envelope)>>);

#[async_trait]
impl Timer for Timers {
    async fn after(&self, delay: Duration, event: &Envelope) -> Result<(), GatherError> {
        self.0.lock().unwrap().push((delay, event.clone()));
        Ok(())
    }
}

type Agg = Router<Aggregator<MemoryGathers, Timers, Arc<MemoryPublisher>>>;
type Sup = Router<Supplier<Arc<MemoryPublisher>>>;

fn world() -> (Agg, Vec<Sup>, Arc<MemoryPublisher>) {
    let bus = Arc::new(MemoryPublisher::default());
    let agg = aggregator(Aggregator {
        gathers: MemoryGathers::default(),
        timer: Timers::default(),
        bus: bus.clone(),
        default_completion: Completion::All,
    });
    let supplier_of = |name: &str, price, silent| {
        supplier(Supplier {
            name: name.into(),
            unit_price: price,
            lead_days: 3,
            delay: Duration::ZERO,
            silent,
            bus: bus.clone(),
        })
    };
    let suppliers = vec![
        supplier_of("a", 100, false),
        supplier_of("b", 90, false),
        supplier_of("c", 80, true),
    ];
    (agg, suppliers, bus)
}

fn request(suppliers: &[&str], completion: Option<Completion>) -> Envelope {
    Envelope::new(
        BUYER,
        QUOTE_REQUESTED,
        json!({"sku": "mug", "quantity": 2, "suppliers": suppliers, "completion": completion, "deadline_ms": 3000}),
    )
}

/// Delivers the request to the aggregator and the suppliers, then each offer (in the
/// order given) to the aggregator; returns the composite results published.
async fn scatter(
    agg: &Agg,
    suppliers: &[Router<Supplier<Arc<MemoryPublisher>>>],
    bus: &MemoryPublisher,
    r: &Envelope,
    order: &[&str],
) -> Vec<QuoteAggregated> {
    agg.dispatch(r.clone(), None).await.unwrap();
    for s in suppliers {
        s.dispatch(r.clone(), None).await.unwrap();
    }
    for name in order {
        let offer = bus.published().into_iter().find(|e| {
            e.event_type == QUOTE_OFFERED
                && e.correlation_id == r.correlation_id
                && e.data.as_ref().unwrap()["supplier"] == *name
        });
        if let Some(offer) = offer {
            agg.dispatch(offer, None).await.unwrap();
        }
    }
    aggregated(bus)
}

fn aggregated(bus: &MemoryPublisher) -> Vec<QuoteAggregated> {
    bus.published()
        .into_iter()
        .filter(|e| e.event_type == QUOTE_AGGREGATED)
        .map(|e| e.data_as().unwrap())
        .collect()
}

async fn fire_deadline(agg: &Agg) {
    let timers = agg.state().timer.0.lock().unwrap().clone();
    for (_, t) in timers {
        agg.dispatch(t, None).await.unwrap();
    }
}

#[tokio::test]
async fn all_completes_when_every_supplier_answered_and_the_deadline_then_changes_nothing() {
    let (agg, suppliers, bus) = world();
    let r = request(&["a", "b"], Some(Completion::All));
    let results = scatter(&agg, &suppliers, &bus, &r, &["a", "b"]).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].completed_by, "policy");
    assert!(results[0].missing.is_empty());
    assert_eq!(results[0].offers[0].supplier, "b", "cheapest first");
    fire_deadline(&agg).await;
    assert_eq!(aggregated(&bus).len(), 1, "one composite result");
}

#[tokio::test]
async fn first_n_completes_early_and_a_later_part_is_dropped() {
    let (agg, suppliers, bus) = world();
    let r = request(&["a", "b", "c"], Some(Completion::First { n: 1 }));
    let results = scatter(&agg, &suppliers, &bus, &r, &["b", "a"]).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].offers.len(), 1);
    assert_eq!(results[0].missing, ["a", "c"]);
}

#[tokio::test]
async fn a_silent_supplier_ends_in_the_missing_list_at_the_deadline() {
    let (agg, suppliers, bus) = world();
    for completion in [Completion::Deadline, Completion::All] {
        let r = request(&["a", "c"], Some(completion.clone()));
        let before = aggregated(&bus).len();
        scatter(&agg, &suppliers, &bus, &r, &["a"]).await;
        assert_eq!(
            aggregated(&bus).len(),
            before,
            "{completion:?} waits for the deadline"
        );
        fire_deadline(&agg).await;
        let result = aggregated(&bus).pop().unwrap();
        assert_eq!(
            (result.completed_by.as_str(), result.missing.clone()),
            ("deadline", vec!["c".to_owned()]),
            "{completion:?}"
        );
    }
}

#[tokio::test]
async fn duplicate_parts_early_parts_and_bad_requests() {
    let (agg, suppliers, bus) = world();
    let r = request(&["a", "b"], Some(Completion::All));
    let offer = Envelope::new(
        "eventkit.supplier.a",
        QUOTE_OFFERED,
        json!({"supplier": "a", "price": 1, "lead_days": 1}),
    );
    let mut early = offer.clone();
    early.correlation_id = r.correlation_id.clone();
    let err = agg.dispatch(early.clone(), None).await.unwrap_err();
    assert_eq!(err.error_type(), "NotOpenYet");
    scatter(&agg, &suppliers, &bus, &r, &[]).await;
    assert_eq!(
        agg.dispatch(early.clone(), None).await.unwrap(),
        json!("added")
    );
    assert_eq!(agg.dispatch(early, None).await.unwrap(), json!("duplicate"));
    let bad = request(&["a"], Some(Completion::First { n: 3 }));
    assert_eq!(
        agg.dispatch(bad, None).await.unwrap_err().error_type(),
        "InvalidRequest"
    );
}

#[tokio::test]
async fn a_supplier_answers_inline_for_the_workflow_and_ignores_requests_not_for_it() {
    let (_, suppliers, bus) = world();
    let mut inline = request(&["a"], None);
    inline.extensions.insert("reply".into(), json!("inline"));
    assert_eq!(
        suppliers[0].dispatch(inline, None).await.unwrap(),
        json!({"supplier": "a", "price": 200, "lead_days": 3})
    );
    assert!(
        bus.published().is_empty(),
        "an inline answer is not published"
    );
    assert_eq!(
        suppliers[1]
            .dispatch(request(&["a"], None), None)
            .await
            .unwrap(),
        Value::Null
    );
}

#[tokio::test]
async fn the_samples_run() {
    let (agg, suppliers, _) = world();
    let e: Value = serde_json::from_str(include_str!(
        "../../../events/scatter-gather/eventbridge-quote-requested.json"
    ))
    .unwrap();
    assert_eq!(agg.handle(e.clone(), None).await.unwrap(), json!("open"));
    assert_eq!(suppliers[0].handle(e, None).await.unwrap()["supplier"], "a");
}

#[tokio::test]
async fn a_close_whose_publish_failed_is_finished_by_the_redelivered_part_and_published_once() {
    let (agg, suppliers, bus) = world();
    let r = request(&["a"], Some(Completion::All));
    agg.dispatch(r.clone(), None).await.unwrap();
    suppliers[0].dispatch(r.clone(), None).await.unwrap();
    let offer = bus
        .published()
        .into_iter()
        .find(|e| e.event_type == QUOTE_OFFERED)
        .unwrap();
    // The bus is down when the last part closes the gather: the record fails, is retried.
    bus.set_down(true);
    assert!(agg.dispatch(offer.clone(), None).await.is_err());
    assert!(aggregated(&bus).is_empty());
    bus.set_down(false);
    agg.dispatch(offer, None).await.unwrap();
    let results = aggregated(&bus);
    assert_eq!(
        (results.len(), results[0].completed_by.as_str()),
        (1, "policy")
    );
    // The deadline later finds it published and changes nothing.
    fire_deadline(&agg).await;
    assert_eq!(aggregated(&bus).len(), 1);
}

#[tokio::test]
async fn first_n_takes_no_part_beyond_n_even_before_the_close_is_written() {
    let gathers = MemoryGathers::default();
    let g = Gather {
        sku: "mug".into(),
        expected: vec!["a".into(), "b".into()],
        completion: Completion::First { n: 1 },
        deadline_ms: 0,
        parts: Default::default(),
        completed_by: None,
        published: false,
    };
    assert!(gathers.open("g", &g).await.unwrap());
    let offer = |s: &str| QuoteOffered {
        supplier: s.into(),
        price: 1,
        lead_days: 1,
    };
    assert!(matches!(
        gathers.add_part("g", &offer("a")).await.unwrap(),
        Added::Added(_)
    ));
    assert_eq!(
        gathers.add_part("g", &offer("b")).await.unwrap(),
        Added::Closed
    );
}

#[tokio::test]
async fn a_late_part_that_finds_the_gather_full_but_not_closed_closes_it_and_stays_out() {
    // Under load the part that fills a first-1 gather may not have closed it yet when the
    // slower supplier's part arrives: that part is refused, closes the gather itself, and
    // the filler's own close then finds nothing to do. One result, the filler's offer only.
    let (agg, suppliers, bus) = world();
    let r = request(&["a", "b", "c"], Some(Completion::First { n: 1 }));
    agg.dispatch(r.clone(), None).await.unwrap();
    for s in &suppliers {
        s.dispatch(r.clone(), None).await.unwrap();
    }
    let offer_of = |name: &str| {
        bus.published()
            .into_iter()
            .find(|e| {
                e.event_type == QUOTE_OFFERED && e.data.as_ref().unwrap()["supplier"] == *name
            })
            .unwrap()
    };
    // b's part lands, its invocation stalls before the close.
    let b: QuoteOffered = offer_of("b").data_as().unwrap();
    let added = agg
        .state()
        .gathers
        .add_part(&r.correlation_id, &b)
        .await
        .unwrap();
    assert!(matches!(added, Added::Added(_)));
    // a's part arrives: refused, and it closes the gather.
    assert_eq!(
        agg.dispatch(offer_of("a"), None).await.unwrap(),
        json!("completed")
    );
    // b's invocation (here its redelivery) finds it closed and published: nothing more.
    agg.dispatch(offer_of("b"), None).await.unwrap();
    let results = aggregated(&bus);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].offers.len(), 1);
    assert_eq!(results[0].offers[0].supplier, "b");
    assert_eq!(results[0].missing, ["a", "c"]);
}
