//! What a pattern does for one event, as data: the entries it puts on the bus, the queue
//! hops, the function invocations, the table writes and reads, the workflow transitions.
//! [`super::estimate`] prices and loads it.

/// The bytes of something a flow moves or stores, as a function of the event's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The event's envelope: `--size` bytes (a pointer once claim-checked).
    Event,
    /// A thin notification: its measured size whatever `--size` is.
    Thin,
    /// A record of ids and counters, under one 1 KB write unit whatever `--size` is.
    Small,
}

/// What invokes a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An SQS event source mapping, `batch` records an invocation.
    Queue,
    /// A DynamoDB stream event source mapping.
    Stream,
    /// A bus rule, asynchronously: one event an invocation.
    Bus,
    /// A direct invocation (a caller, or another function).
    Direct,
    /// A Step Functions task.
    Workflow,
    /// API Gateway.
    Api,
}

/// Entries put on the bus per event.
#[derive(Debug, Clone)]
pub struct Put {
    /// Its event type(s).
    pub event: &'static str,
    /// Entries per event.
    pub per_event: f64,
    /// The entry's Detail.
    pub payload: Payload,
    /// Entries per PutEvents call.
    pub per_call: f64,
    /// Rule targets each entry goes to, the audit log group's included.
    pub targets: f64,
}

/// Messages through one queue per event.
#[derive(Debug, Clone)]
pub struct Queue {
    /// The queue.
    pub name: &'static str,
    /// Messages per event.
    pub per_event: f64,
    /// The message's envelope.
    pub payload: Payload,
    /// Sent by a bus rule: the body is the whole EventBridge event around the envelope.
    pub from_bus: bool,
    /// The consuming mapping's batch size; 0 when the consumer is outside the kit.
    pub batch: u32,
}

/// How a claim-checking function spends its time on S3, from the measured claim check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Offload {
    /// Uploads `copies` bodies per record (S3 PUT + the send).
    Send {
        /// Bodies uploaded per record.
        copies: f64,
    },
    /// Redeems its record's body (the receive + S3 GET).
    Receive,
}

/// A function's work per event.
#[derive(Debug, Clone)]
pub struct Function {
    /// The function (its template name, less the stack prefix).
    pub name: &'static str,
    /// Its `MemorySize`.
    pub memory_mb: u32,
    /// What invokes it.
    pub trigger: Trigger,
    /// Records it handles per event.
    pub records: f64,
    /// Records per invocation (its mapping's batch size; 1 when invoked per event).
    pub batch: u32,
    /// AWS calls its handler makes per record.
    pub calls: f64,
    /// Milliseconds per record spent otherwise (a configured delay).
    pub extra_ms: f64,
    /// When claim checks take its time instead of the per-call figure.
    pub claim_check: Option<Offload>,
}

/// Writes of one kind to a table per event.
#[derive(Debug, Clone)]
pub struct Write {
    /// Items written per event.
    pub items: f64,
    /// Each item's size.
    pub payload: Payload,
    /// In a TransactWriteItems: two units per KB.
    pub transactional: bool,
}

/// Reads of one kind from a table per event.
#[derive(Debug, Clone)]
pub struct Read {
    /// Requests per event.
    pub requests: f64,
    /// Items each request reads (a Query's items add up before rounding).
    pub items: f64,
    /// Each item's size.
    pub payload: Payload,
    /// Strongly consistent (a unit per 4 KB; eventually consistent: half).
    pub strong: bool,
}

/// A table's load per event.
#[derive(Debug, Clone)]
pub struct Table {
    /// The table's template name.
    pub name: &'static str,
    /// Keyed by a business entity (an account, a wallet): its busiest key gets
    /// `rate / keys` of the load. Otherwise keyed per event, so spread evenly.
    pub keyed_by_entity: bool,
    /// Its writes.
    pub writes: Vec<Write>,
    /// Its reads.
    pub reads: Vec<Read>,
}

/// A Standard workflow's executions per event.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The state machine.
    pub name: &'static str,
    /// Executions started per event.
    pub executions: f64,
    /// States entered per event (each a billed transition).
    pub transitions: f64,
}

/// An archive every event on the bus goes to.
#[derive(Debug, Clone, Copy)]
pub struct Archive {
    /// How long it keeps events.
    pub retention_days: f64,
}

/// A pattern's work for one event.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The pattern's id (its fragment's `Id`).
    pub id: &'static str,
    /// What one event is, in the pattern's terms.
    pub unit: &'static str,
    /// The path modelled, and what is left out.
    pub path: &'static str,
    /// The largest event the pattern carries, in bytes.
    pub max_size: usize,
    /// Payloads over a transport's threshold go to S3 (the claim-check pattern).
    pub claim_check: bool,
    /// Entries put on the bus.
    pub puts: Vec<Put>,
    /// Queue hops.
    pub queues: Vec<Queue>,
    /// Function invocations.
    pub functions: Vec<Function>,
    /// Table writes and reads.
    pub tables: Vec<Table>,
    /// Standard workflow executions.
    pub workflows: Vec<Workflow>,
    /// API Gateway (REST) requests per event.
    pub api_requests: f64,
    /// The bus archive the events go to.
    pub archive: Option<Archive>,
    /// S3 objects per event once claim-checked.
    pub s3_objects: f64,
}
