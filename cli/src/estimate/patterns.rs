//! What one event costs in each catalogue pattern, as counted from its template fragment
//! (`infra/patterns/<id>.yaml`: batch sizes, memory, rule targets), its state machine
//! (`infra/statemachines/*.asl.json`: states entered) and its functions' code (the AWS
//! calls a record makes). Each flow models the pattern's main path; what it leaves out is in
//! its `path`.
//!
//! Shared by every flow: every event on the bus also goes to the audit log group
//! (`AuditRule` in infra/base.yaml), one more rule target; functions have 256 MB
//! (`Globals` in infra/base.yaml) unless their fragment says otherwise; an idempotent
//! handler claims its record (PutItem) and completes it (UpdateItem), both under 1 KB
//! (shared/src/aws/dynamodb.rs, `DynamoIdempotencyStore`).

use super::model::{
    Archive, Flow, Function, Payload, Put, Queue, Read, Table, Trigger, Workflow, Write,
};

/// Memory of every function the fragments leave at the default (infra/base.yaml `Globals`).
const MEMORY_MB: u32 = 256;
/// The claim-check functions' memory (infra/patterns/claim-check.yaml).
const CLAIM_CHECK_MEMORY_MB: u32 = 512;
/// The largest document the claim-check producer makes (functions/claim-check/src/lib.rs,
/// `MAX_SIZE`).
const DOCUMENT_MAX: usize = 32 * 1024 * 1024;
/// SQS and EventBridge take up to 1 MiB per message (shared/src/claim_check.rs).
const BUS_LIMIT: usize = 1_048_576;
/// Step Functions state and input: 256 KiB (shared/src/claim_check.rs).
const WORKFLOW_LIMIT: usize = 262_144;

/// Every catalogue pattern, in the catalogue's order (`Order` in the fragments).
pub fn catalogue() -> Vec<Flow> {
    vec![
        point_to_point(),
        sender_router(),
        bus_fanout(),
        notification_vs_state_transfer(),
        claim_check(),
        transactional_outbox(),
        front_door(),
        orchestrated_saga(),
        choreographed_saga(),
        request_reply(),
        scatter_gather(),
        event_sourcing(),
    ]
}

/// An event a producer outside the kit puts on the bus, one entry a call.
fn produced(event: &'static str, targets: f64) -> Put {
    Put {
        event,
        per_event: 1.0,
        payload: Payload::Event,
        per_call: 1.0,
        targets,
    }
}

/// A rule's queue target consumed by a function's event source mapping.
fn rule_queue(name: &'static str, per_event: f64, batch: u32) -> Queue {
    Queue {
        name,
        per_event,
        payload: Payload::Event,
        from_bus: true,
        batch,
    }
}

/// A function reading `records` records per event, `calls` AWS calls each.
fn function(
    name: &'static str,
    trigger: Trigger,
    records: f64,
    batch: u32,
    calls: f64,
) -> Function {
    Function {
        name,
        memory_mb: MEMORY_MB,
        trigger,
        records,
        batch,
        calls,
        extra_ms: 0.0,
        claim_check: None,
    }
}

/// Writes of items under 1 KB.
fn small_writes(items: f64) -> Write {
    Write {
        items,
        payload: Payload::Small,
        transactional: false,
    }
}

/// Transactional writes (two units per KB).
fn transact(items: f64, payload: Payload) -> Write {
    Write {
        items,
        payload,
        transactional: true,
    }
}

/// A table that is only written.
fn table(name: &'static str, keyed_by_entity: bool, writes: Vec<Write>) -> Table {
    Table {
        name,
        keyed_by_entity,
        writes,
        reads: vec![],
    }
}

/// The saga participants' tables, keyed by order: one conditional update each per checkout
/// (functions/checkout-saga/src/dynamodb.rs, `transition`).
fn saga_tables() -> Vec<Table> {
    ["InventoryTable", "PaymentsTable", "ShipmentsTable"]
        .into_iter()
        .map(|name| table(name, false, vec![small_writes(1.0)]))
        .collect()
}

/// The idempotency table of an idempotent handler run `records` times per event: a claim
/// and a completion each.
fn idempotency(records: f64) -> Table {
    table("IdempotencyTable", false, vec![small_writes(2.0 * records)])
}

/// The outbox relay: a stream batch of 20 (infra/patterns/transactional-outbox.yaml), one
/// PutEvents per 10 records (shared/src/outbox.rs, `BATCH`); Lambda's stream reads are free.
fn relay(name: &'static str, records: f64) -> Function {
    function(name, Trigger::Stream, records, 20, 0.1)
}

/// An entry the relay puts, ten a call.
fn relayed(event: &'static str, payload: Payload, targets: f64) -> Put {
    Put {
        event,
        per_event: 1.0,
        payload,
        per_call: 10.0,
        targets,
    }
}

/// infra/patterns/point-to-point.yaml; functions/p2p-consumer/src/{lib,dynamodb}.rs.
fn point_to_point() -> Flow {
    Flow {
        id: "point-to-point",
        unit: "ledger entry",
        path: "a producer puts ledger.entry.posted on the bus (one entry a call); LedgerRule sends it to LedgerQueue; p2p-consumer (batches of 10) claims its idempotency record, then posts the entry and completes the record in one TransactWriteItems",
        max_size: BUS_LIMIT,
        claim_check: false,
        // LedgerRule's queue, and the audit log.
        puts: vec![produced("ledger.entry.posted", 2.0)],
        queues: vec![rule_queue("LedgerQueue", 1.0, 10)],
        // The measured function: PutItem, then TransactWriteItems.
        functions: vec![function("p2p-consumer", Trigger::Queue, 1.0, 10, 2.0)],
        tables: vec![
            Table {
                name: "IdempotencyTable",
                keyed_by_entity: false,
                // The claim; the COMPLETED record in the ledger's transaction.
                writes: vec![small_writes(1.0), transact(1.0, Payload::Small)],
                reads: vec![],
            },
            table("LedgerTable", true, vec![transact(1.0, Payload::Small)]),
        ],
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/sender-router.yaml; functions/sender-router/src/lib.rs (`route_order`).
fn sender_router() -> Flow {
    Flow {
        id: "sender-router",
        unit: "order routed",
        path: "order.placed from the bus to OrdersToRouteQueue; sender-router (batches of 10, idempotent) sends one fulfilment command to the warehouse's or downloads' queue; the receivers' consumers live outside the kit and are not counted",
        max_size: BUS_LIMIT,
        claim_check: false,
        puts: vec![produced("order.placed", 2.0)],
        queues: vec![
            rule_queue("OrdersToRouteQueue", 1.0, 10),
            Queue {
                name: "WarehouseQueue | DownloadsQueue",
                per_event: 1.0,
                payload: Payload::Event,
                from_bus: false,
                batch: 0,
            },
        ],
        // Claim, SendMessage, complete.
        functions: vec![function("sender-router", Trigger::Queue, 1.0, 10, 3.0)],
        tables: vec![idempotency(1.0)],
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/bus-fanout.yaml; functions/order-views/src/lib.rs;
/// infra/statemachines/order-fulfilment.asl.json.
fn bus_fanout() -> Flow {
    Flow {
        id: "bus-fanout",
        unit: "order placed",
        path: "order.placed to three targets (OrderViewsQueue, CustomerTotalsFunction invoked asynchronously, the Standard fulfilment workflow) and the OrdersArchive; replays and the rebuild path are not counted",
        max_size: BUS_LIMIT,
        claim_check: false,
        // OrderPlacedFanoutRule (queue, function), OrderFulfilmentRule, the audit log.
        puts: vec![produced("order.placed", 4.0)],
        queues: vec![rule_queue("OrderViewsQueue", 1.0, 10)],
        functions: vec![
            // One conditional UpdateItem, in sequence, no idempotency record.
            function("order-views", Trigger::Queue, 1.0, 10, 1.0),
            // Claim, UpdateItem on the totals, complete.
            function("customer-totals", Trigger::Bus, 1.0, 1, 3.0),
        ],
        tables: vec![
            table("OrderViewsTable", true, vec![small_writes(1.0)]),
            table("CustomerTotalsTable", true, vec![small_writes(1.0)]),
            idempotency(1.0),
        ],
        // ByKind, then AllocateStock or NothingToAllocate.
        workflows: vec![Workflow {
            name: "order-fulfilment",
            executions: 1.0,
            transitions: 2.0,
        }],
        api_requests: 0.0,
        archive: Some(Archive {
            retention_days: 30.0,
        }),
        s3_objects: 0.0,
    }
}

/// infra/patterns/notification-vs-state-transfer.yaml; functions/customer-service and
/// functions/customer-views (lib.rs, aws.rs); the outbox relay it requires.
fn notification_vs_state_transfer() -> Flow {
    Flow {
        id: "notification-vs-state-transfer",
        unit: "profile change",
        path: "customer-service (invoked directly, idempotent) reads the profile and writes it with a thin and a fat event through the outbox; the relay publishes both; the notification consumer calls the service back (a second invocation) and writes its replica, the state-transfer consumer writes its replica from the event",
        max_size: BUS_LIMIT,
        claim_check: false,
        // Each: its consumer's queue and the audit log.
        puts: vec![
            relayed("customer.changed", Payload::Thin, 2.0),
            relayed("customer.profile.updated", Payload::Event, 2.0),
        ],
        queues: vec![
            Queue {
                name: "CustomerNotifiedQueue",
                per_event: 1.0,
                payload: Payload::Thin,
                from_bus: true,
                batch: 10,
            },
            rule_queue("CustomerReplicaQueue", 1.0, 10),
        ],
        functions: vec![
            // Claim, GetItem, TransactWriteItems, complete.
            function("customer-service", Trigger::Direct, 1.0, 1, 4.0),
            relay("outbox-relay", 2.0),
            // Invoke (the callback), UpdateItem (the counter), PutItem (the replica).
            function("customer-notified", Trigger::Queue, 1.0, 10, 3.0),
            // The callback: GetItem.
            function("customer-service (callback)", Trigger::Direct, 1.0, 1, 1.0),
            function("customer-replica", Trigger::Queue, 1.0, 10, 1.0),
        ],
        tables: vec![
            idempotency(1.0),
            Table {
                name: "CustomerProfilesTable",
                keyed_by_entity: true,
                writes: vec![transact(1.0, Payload::Small)],
                reads: vec![Read {
                    requests: 2.0,
                    items: 1.0,
                    payload: Payload::Small,
                    strong: true,
                }],
            },
            table("OutboxTable", false, vec![transact(1.0, Payload::Thin), transact(1.0, Payload::Event)]),
            table("CustomerNotifiedTable", true, vec![small_writes(2.0)]),
            table("CustomerReplicaTable", true, vec![Write {
                    items: 1.0,
                    payload: Payload::Event,
                    transactional: false,
                }]),
        ],
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/claim-check.yaml; functions/claim-check/src/{lib,main}.rs;
/// shared/src/claim_check.rs (thresholds).
fn claim_check() -> Flow {
    Flow {
        id: "claim-check",
        unit: "document (sent twice)",
        path: "the producer (512 MB, invoked directly) sends each document by bus and by queue, each copy to S3 when over its transport's threshold (1 MiB less 8 KiB); the consumer (512 MB, batches of 5) redeems both and records each; objects live 15 days (the bucket's lifecycle rule)",
        max_size: DOCUMENT_MAX,
        claim_check: true,
        // DocumentsRule's queue and the audit log.
        puts: vec![produced("document.submitted (bus copy)", 2.0)],
        queues: vec![
            rule_queue("DocumentsQueue (bus copy)", 1.0, 5),
            Queue {
                name: "DocumentsQueue (queue copy)",
                per_event: 1.0,
                payload: Payload::Event,
                from_bus: false,
                batch: 5,
            },
        ],
        functions: vec![
            // PutEvents and SendMessage; the S3 PUTs' time comes from the measured send.
            Function {
                name: "claim-check-producer",
                memory_mb: CLAIM_CHECK_MEMORY_MB,
                trigger: Trigger::Direct,
                records: 1.0,
                batch: 1,
                calls: 2.0,
                extra_ms: 0.0,
                claim_check: Some(super::model::Offload::Send { copies: 2.0 }),
            },
            // PutItem per copy; the S3 GET's time comes from the measured receive.
            Function {
                name: "claim-check-consumer",
                memory_mb: CLAIM_CHECK_MEMORY_MB,
                trigger: Trigger::Queue,
                records: 2.0,
                batch: 5,
                calls: 1.0,
                extra_ms: 0.0,
                claim_check: Some(super::model::Offload::Receive),
            },
        ],
        tables: vec![table("DocumentsTable", false, vec![small_writes(2.0)])],
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 2.0,
    }
}

/// infra/patterns/transactional-outbox.yaml; shared/src/outbox.rs; functions/outbox-relay.
fn transactional_outbox() -> Flow {
    Flow {
        id: "transactional-outbox",
        unit: "event relayed",
        path: "a writer's outbox item (one transactional Put beside its own write, not counted) goes by the table's stream to the relay (batches of 20) and onto the bus, ten a PutEvents; its consumers belong to other patterns",
        max_size: BUS_LIMIT,
        claim_check: false,
        // The audit log only: who else consumes it is another pattern's.
        puts: vec![relayed("an outbox event", Payload::Event, 1.0)],
        queues: vec![],
        functions: vec![relay("outbox-relay", 1.0)],
        tables: vec![table("OutboxTable", false, vec![transact(1.0, Payload::Event)])],
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/front-door.yaml; functions/front-door/src/{lib,dynamodb}.rs; the outbox
/// relay it requires.
fn front_door() -> Flow {
    Flow {
        id: "front-door",
        unit: "order accepted (POST /orders)",
        path: "POST /orders with an Idempotency-Key on the REST API; the front door claims the key, writes the order and its order.placed outbox item in one TransactWriteItems, completes the key; the relay puts the event on the bus (its consumers are other patterns')",
        max_size: BUS_LIMIT,
        claim_check: false,
        puts: vec![relayed("order.placed", Payload::Event, 1.0)],
        queues: vec![],
        functions: vec![
            // Claim, TransactWriteItems, complete.
            function("front-door", Trigger::Api, 1.0, 1, 3.0),
            relay("outbox-relay", 1.0),
        ],
        tables: vec![
            idempotency(1.0),
            table("OrdersTable", false, vec![transact(1.0, Payload::Event)]),
            table("OutboxTable", false, vec![transact(1.0, Payload::Event)]),
        ],
        workflows: vec![],
        api_requests: 1.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/orchestrated-saga.yaml; infra/statemachines/checkout-saga.asl.json;
/// functions/checkout-saga/src/{lib,dynamodb}.rs.
fn orchestrated_saga() -> Flow {
    Flow {
        id: "orchestrated-saga",
        unit: "checkout (every step done)",
        path: "a Standard execution without a traceparent: Trace, StartTrace, StampTrace, ReserveInventory, ChargePayment, ArrangeShipping, Completed (7 transitions); each task invokes its participant, which makes one conditional UpdateItem; compensations and retries add transitions",
        max_size: WORKFLOW_LIMIT,
        claim_check: false,
        puts: vec![],
        queues: vec![],
        functions: vec![
            function("inventory", Trigger::Workflow, 1.0, 1, 1.0),
            function("payment", Trigger::Workflow, 1.0, 1, 1.0),
            function("shipping", Trigger::Workflow, 1.0, 1, 1.0),
        ],
        tables: saga_tables(),
        workflows: vec![Workflow {
            name: "checkout-saga",
            executions: 1.0,
            transitions: 7.0,
        }],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/choreographed-saga.yaml; functions/checkout-saga/src/lib.rs (`react`).
fn choreographed_saga() -> Flow {
    Flow {
        id: "choreographed-saga",
        unit: "checkout (every step done)",
        path: "checkout.requested, inventory.reserved, payment.charged, shipping.arranged on the bus; each participant (batches of 10) makes one conditional UpdateItem and publishes the next event, one entry a call",
        max_size: BUS_LIMIT,
        claim_check: false,
        puts: vec![
            // Each to the next participant's queue and the audit log; the last to the log.
            produced("checkout.requested", 2.0),
            Put {
                event: "inventory.reserved, payment.charged",
                per_event: 2.0,
                payload: Payload::Event,
                per_call: 1.0,
                targets: 2.0,
            },
            Put {
                event: "shipping.arranged",
                per_event: 1.0,
                payload: Payload::Event,
                per_call: 1.0,
                targets: 1.0,
            },
        ],
        queues: vec![
            rule_queue("InventoryEventsQueue", 1.0, 10),
            rule_queue("PaymentEventsQueue", 1.0, 10),
            rule_queue("ShippingEventsQueue", 1.0, 10),
        ],
        // UpdateItem, PutEvents.
        functions: vec![
            function("inventory", Trigger::Queue, 1.0, 10, 2.0),
            function("payment", Trigger::Queue, 1.0, 10, 2.0),
            function("shipping", Trigger::Queue, 1.0, 10, 2.0),
        ],
        tables: saga_tables(),
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/request-reply.yaml; functions/request-reply/src/{lib,aws}.rs.
fn request_reply() -> Flow {
    Flow {
        id: "request-reply",
        unit: "stock check answered",
        path: "the queue form: the requester (invoked directly) opens a pending request and sends it; the responder (batches of 10) replies to the reply queue; the requester (batches of 10) matches the reply in one conditional write. The task-token form is not counted",
        max_size: BUS_LIMIT,
        claim_check: false,
        puts: vec![],
        queues: vec![
            Queue {
                name: "StockRequestsQueue",
                per_event: 1.0,
                payload: Payload::Event,
                from_bus: false,
                batch: 10,
            },
            Queue {
                name: "StockRepliesQueue",
                per_event: 1.0,
                payload: Payload::Event,
                from_bus: false,
                batch: 10,
            },
        ],
        functions: vec![
            // PutItem, SendMessage.
            function("stock-requester (start)", Trigger::Direct, 1.0, 1, 2.0),
            // SendMessage.
            function("stock-responder", Trigger::Queue, 1.0, 10, 1.0),
            // UpdateItem.
            function("stock-requester (reply)", Trigger::Queue, 1.0, 10, 1.0),
        ],
        tables: vec![table("PendingRequestsTable", false, vec![small_writes(2.0)])],
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/scatter-gather.yaml; functions/scatter-gather/src/{lib,aws}.rs.
fn scatter_gather() -> Flow {
    let supplier = |name, calls, extra_ms| Function {
        extra_ms,
        ..function(name, Trigger::Bus, 1.0, 1, calls)
    };
    Flow {
        id: "scatter-gather",
        unit: "quote request",
        path: "the bus form with the template's suppliers: a answers at once, b after DELAY_MS 1,500 ms (billed), c never, so every gather closes at its deadline; the aggregator (batches of 10) opens the gather and its timer, adds two offers, closes and publishes quote.aggregated. The Step Functions form is not counted",
        max_size: BUS_LIMIT,
        claim_check: false,
        puts: vec![
            // QuoteRequestedRule: the aggregator's queue, three suppliers; the audit log.
            produced("quote.requested", 5.0),
            // QuoteOfferedRule: the aggregator's queue; the audit log.
            Put {
                event: "quote.offered",
                per_event: 2.0,
                payload: Payload::Event,
                per_call: 1.0,
                targets: 2.0,
            },
            // No rule but the audit log.
            Put {
                event: "quote.aggregated",
                per_event: 1.0,
                payload: Payload::Event,
                per_call: 1.0,
                targets: 1.0,
            },
        ],
        queues: vec![
            // The request, two offers, and the deadline timer the aggregator sends itself.
            rule_queue("AggregatorQueue (request, offers)", 3.0, 10),
            Queue {
                name: "AggregatorQueue (deadline timer)",
                per_event: 1.0,
                payload: Payload::Event,
                from_bus: false,
                batch: 10,
            },
        ],
        functions: vec![
            // Request: PutItem + SendMessage; offers: UpdateItem each; deadline: UpdateItem,
            // PutEvents, UpdateItem. 7 calls over 4 records.
            function("quote-aggregator", Trigger::Queue, 4.0, 10, 7.0 / 4.0),
            supplier("supplier-a", 1.0, 0.0),
            supplier("supplier-b", 1.0, 1500.0),
            supplier("supplier-c", 0.0, 0.0),
        ],
        tables: vec![table("GathersTable", false, vec![small_writes(5.0)])],
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}

/// infra/patterns/event-sourcing.yaml; functions/wallet/src/{commands,dynamodb,views}.rs;
/// vendor/dynamo-es (consistent loads).
fn event_sourcing() -> Flow {
    Flow {
        id: "event-sourcing",
        unit: "wallet command",
        path: "a command on WalletCommandsQueue (batches of 1); the handler claims it, reads the wallet's last 100 events (the guard), loads the snapshot and the events after it (50 on average, a snapshot every 100), commits one event; the relay publishes it to the summary and statement views; each stored event is taken as large as the command",
        max_size: BUS_LIMIT,
        claim_check: false,
        // WalletEventsRule's two queues and the audit log.
        puts: vec![relayed("wallet.*", Payload::Event, 3.0)],
        queues: vec![
            Queue {
                name: "WalletCommandsQueue",
                per_event: 1.0,
                payload: Payload::Event,
                from_bus: false,
                batch: 1,
            },
            rule_queue("WalletSummaryQueue", 1.0, 10),
            rule_queue("WalletStatementQueue", 1.0, 10),
        ],
        functions: vec![
            // Claim, guard Query, snapshot, events Query, TransactWriteItems, complete.
            function("wallet-commands", Trigger::Queue, 1.0, 1, 6.0),
            relay("wallet-relay", 1.0),
            function("wallet-summary", Trigger::Queue, 1.0, 10, 1.0),
            function("wallet-statement", Trigger::Queue, 1.0, 10, 1.0),
        ],
        tables: vec![
            idempotency(1.0),
            Table {
                name: "WalletEventsTable",
                keyed_by_entity: true,
                writes: vec![transact(1.0, Payload::Event)],
                reads: vec![
                    Read {
                        requests: 1.0,
                        items: 100.0,
                        payload: Payload::Event,
                        strong: true,
                    },
                    Read {
                        requests: 1.0,
                        items: 50.0,
                        payload: Payload::Event,
                        strong: true,
                    },
                ],
            },
            Table {
                name: "WalletSnapshotsTable",
                keyed_by_entity: true,
                // A snapshot every 100 events (SNAPSHOT_EVERY).
                writes: vec![transact(0.01, Payload::Small)],
                reads: vec![Read {
                    requests: 1.0,
                    items: 1.0,
                    payload: Payload::Small,
                    strong: true,
                }],
            },
            table("WalletSummaryTable", true, vec![small_writes(1.0)]),
            table("WalletStatementTable", true, vec![small_writes(1.0)]),
        ],
        workflows: vec![],
        api_requests: 0.0,
        archive: None,
        s3_objects: 0.0,
    }
}
