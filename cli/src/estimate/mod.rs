//! `eventkit estimate`: what a pattern costs per million events and which quota it reaches
//! first as the rate grows, from the pattern's work per event ([`patterns`]), the kit's
//! measured duration per AWS call and published prices and quotas ([`book`]). Pure: no AWS
//! call, no clock. docs/CAPACITY.md says how it is computed and holds its tables.

pub mod book;
pub mod model;
pub mod patterns;

use std::fmt::Write as _;

use eventkit::claim_check::Transport;

pub use book::Book;
use model::{Flow, Offload, Payload, Trigger};

/// The rates docs/CAPACITY.md and `--pattern all` report, in events per second.
pub const RATES: [f64; 3] = [1_000.0, 10_000.0, 100_000.0];

/// Bytes taken for a [`Payload::Small`] record: any size under a unit bills the same.
const SMALL_BYTES: f64 = 256.0;
const MIB: f64 = 1_048_576.0;
/// Prices per GB are per 2^30 bytes.
const GIB: f64 = 1_073_741_824.0;
/// Claim-checked objects live 15 days (the bucket's lifecycle rule, infra/base.yaml).
const OBJECT_DAYS: f64 = 15.0;
/// Express workflows bill duration in 100 ms steps and memory in 64 MB chunks (the
/// Step Functions pricing page): the smallest execution, for the Express lift.
const EXPRESS_STEP_MS: f64 = 100.0;
const EXPRESS_MEMORY_GB: f64 = 64.0 / 1024.0;

/// Why an estimate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// No catalogue pattern has this id.
    #[error("unknown pattern `{given}`; the patterns are: {known}")]
    UnknownPattern {
        /// What was asked for.
        given: String,
        /// Every pattern id, comma-separated.
        known: String,
    },
    /// A data file compiled into the binary does not parse.
    #[error("{file} does not parse: {source}")]
    Data {
        /// The file.
        file: &'static str,
        /// The parser's error.
        #[source]
        source: toml::de::Error,
    },
    /// The event is larger than the pattern's transports carry.
    #[error("a {size}-byte event is over what `{pattern}` carries ({limit} bytes); offload the payload as the claim-check pattern does")]
    TooLarge {
        /// The pattern.
        pattern: &'static str,
        /// The event's size.
        size: u64,
        /// The largest it carries.
        limit: usize,
    },
    /// `--rate` is not a number of events per second.
    #[error("`{given}` is not a rate: give events per second, as `1000`, `1000/s` or `10k/s`")]
    BadRate {
        /// What was given.
        given: String,
    },
    /// A count that must be positive was 0.
    #[error("{what} must be at least 1")]
    Zero {
        /// The option.
        what: &'static str,
    },
}

/// The functions' instruction set (template parameter `Architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86_64, the template's default.
    X86_64,
    /// arm64 (Graviton): a lower price per GB-second, the same duration assumed (the
    /// measured duration is x86_64's).
    Arm64,
}

impl Arch {
    fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// What an estimate is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Inputs {
    /// The event's envelope, in bytes.
    pub size: u64,
    /// The functions' architecture.
    pub arch: Arch,
    /// Distinct partition keys (accounts, orders, wallets) the events spread over.
    pub keys: u64,
}

impl Default for Inputs {
    fn default() -> Self {
        Inputs {
            size: 1024,
            arch: Arch::X86_64,
            keys: 1000,
        }
    }
}

/// One service's charge for one kind of request, per event and per million events.
#[derive(Debug, Clone)]
pub struct CostLine {
    /// The service.
    pub service: &'static str,
    /// What is counted.
    pub item: String,
    /// How many per event.
    pub per_event: f64,
    /// What a million events cost for it, USD.
    pub usd_per_million: f64,
}

/// A quota, and the event rate at which the pattern reaches it.
#[derive(Debug, Clone)]
pub struct Load {
    /// The quota.
    pub limit: String,
    /// What the pattern uses of it per event, in words.
    pub detail: String,
    /// Events per second at which it is reached.
    pub ceiling: f64,
    /// The change that lifts it.
    pub lift: String,
}

/// A pattern's cost and limits for one event size.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// The pattern.
    pub pattern: &'static str,
    /// What one event is.
    pub unit: &'static str,
    /// The path modelled.
    pub path: &'static str,
    /// What was asked for.
    pub inputs: Inputs,
    /// Whether the payload went to S3.
    pub offloaded: bool,
    /// The charges, by service.
    pub costs: Vec<CostLine>,
    /// The quotas, lowest ceiling first.
    pub loads: Vec<Load>,
    /// Concurrent executions per event/s, by function, and what invokes it.
    pub concurrency: Vec<(&'static str, f64, Trigger)>,
    /// Environments a function may add every 10 s; concurrency an SQS mapping adds a minute.
    scale_up: (f64, f64),
    /// Where the prices and quotas are from, and when.
    pub figures: String,
}

impl Estimate {
    /// What a million events cost, USD.
    pub fn total(&self) -> f64 {
        self.costs.iter().map(|c| c.usd_per_million).sum()
    }

    /// The first quota reached on the way to `rate` events/s, if any is.
    pub fn first_limit(&self, rate: f64) -> Option<&Load> {
        self.loads.first().filter(|l| l.ceiling <= rate)
    }

    /// Every quota over at `rate`, lowest ceiling first.
    pub fn over(&self, rate: f64) -> Vec<&Load> {
        self.loads.iter().filter(|l| l.ceiling <= rate).collect()
    }

    /// The report `eventkit estimate` prints; `rate` adds what happens at that rate.
    pub fn render(&self, rate: Option<f64>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: one {}, {}-byte events, {}, {} partition keys{}",
            self.pattern,
            self.unit,
            group(self.inputs.size as f64),
            self.inputs.arch.name(),
            group(self.inputs.keys as f64),
            if self.offloaded {
                " (claim-checked to S3)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "path: {}", self.path);
        let _ = writeln!(out, "figures: {}\n", self.figures);
        let _ = writeln!(out, "cost per million events");
        let _ = writeln!(
            out,
            "  {:<16} {:<44} {:>12} {:>10}",
            "service", "item", "per event", "USD"
        );
        for c in &self.costs {
            let _ = writeln!(
                out,
                "  {:<16} {:<44} {:>12} {:>10}",
                c.service,
                c.item,
                quantity(c.per_event),
                money(c.usd_per_million)
            );
        }
        let _ = writeln!(
            out,
            "  {:<16} {:<44} {:>12} {:>10}\n",
            "total",
            "",
            "",
            money(self.total())
        );
        let _ = writeln!(
            out,
            "limits, lowest first (the events/s at which each is reached)"
        );
        for l in &self.loads {
            let _ = writeln!(
                out,
                "  {:>10}/s  {}: {}\n               lift: {}",
                group(l.ceiling),
                l.limit,
                l.detail,
                l.lift
            );
        }
        let mut rates: Vec<f64> = RATES.to_vec();
        if let Some(r) = rate.filter(|r| !RATES.contains(r)) {
            rates.push(r);
        }
        let _ = writeln!(out);
        for r in rates {
            let _ = writeln!(out, "{}", self.at(r));
        }
        out
    }

    /// What happens at `rate` events/s, in one paragraph.
    fn at(&self, rate: f64) -> String {
        let needed: f64 = self.concurrency.iter().map(|(_, c, _)| c * rate).sum();
        let busiest = self
            .concurrency
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(f, c, _)| format!("; busiest {f}: {}", group((c * rate).ceil())))
            .unwrap_or_default();
        // From cold: a function adds 1,000 environments every 10 s; an SQS mapping starts
        // at 5 concurrent batches and adds 300 a minute.
        let (per_10s, per_minute) = self.scale_up;
        let ramp = self
            .concurrency
            .iter()
            .map(|(_, c, trigger)| {
                let n = (c * rate).ceil();
                match trigger {
                    Trigger::Queue => ((n - 5.0) / per_minute).max(0.0) * 60.0,
                    _ => (n / per_10s).floor() * 10.0,
                }
            })
            .fold(0.0, f64::max);
        let head = format!(
            "at {}/s: {} concurrent executions{busiest}, reached from cold in about {} s",
            group(rate),
            group(needed.ceil()),
            group(ramp)
        );
        match self.over(rate).as_slice() {
            [] => match self.loads.first() {
                Some(l) => format!(
                    "{head}; every quota holds (the first, {}, at {}/s)",
                    l.limit,
                    group(l.ceiling)
                ),
                None => format!("{head}; no quota modelled"),
            },
            [first, rest @ ..] => {
                let also = if rest.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; also reached: {}",
                        rest.iter()
                            .map(|l| l.limit.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                format!(
                    "{head}; first reached: {} (at {}/s){also}",
                    first.limit,
                    group(first.ceiling)
                )
            }
        }
    }
}

/// Every pattern id, in catalogue order.
pub fn pattern_ids() -> Vec<&'static str> {
    patterns::catalogue().iter().map(|f| f.id).collect()
}

/// The pattern with this id.
pub fn find(id: &str) -> Result<Flow, EstimateError> {
    patterns::catalogue()
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| EstimateError::UnknownPattern {
            given: id.to_owned(),
            known: pattern_ids().join(", "),
        })
}

/// A rate in events per second: `1000`, `1000/s`, `10k/s`, `1.5M`.
pub fn parse_rate(given: &str) -> Result<f64, EstimateError> {
    let bad = || EstimateError::BadRate {
        given: given.to_owned(),
    };
    let s = given.trim();
    let s = s.strip_suffix("/s").unwrap_or(s).replace(['_', ','], "");
    let (digits, scale) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        _ => (s.as_str(), 1.0),
    };
    let n: f64 = digits.trim().parse().map_err(|_| bad())?;
    let rate = n * scale;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(bad())
    }
}

/// Bills billed per started `chunk` bytes (a request under one chunk is one).
pub fn chunks(bytes: f64, chunk: f64) -> f64 {
    (bytes / chunk).ceil().max(1.0)
}

/// Interpolates a measured claim-check time at `size` through its 1 MiB and 10 MiB points.
fn claim_check_ms(at_1mib: f64, at_10mib: f64, size: f64) -> f64 {
    at_1mib + (at_10mib - at_1mib) * ((size - MIB) / (9.0 * MIB)).max(0.0)
}

/// What one event of `flow` costs and loads, for `inputs`.
pub fn estimate(flow: &Flow, book: &Book, inputs: Inputs) -> Result<Estimate, EstimateError> {
    if inputs.size == 0 {
        return Err(EstimateError::Zero { what: "--size" });
    }
    if inputs.keys == 0 {
        return Err(EstimateError::Zero { what: "--keys" });
    }
    if inputs.size > flow.max_size as u64 {
        return Err(EstimateError::TooLarge {
            pattern: flow.id,
            size: inputs.size,
            limit: flow.max_size,
        });
    }
    let (p, q, m) = (&book.prices, &book.quotas, &book.measured);
    let size = inputs.size as f64;
    // The SQS and EventBridge thresholds are the same (1 MiB less 8 KiB).
    let threshold = Transport::Sqs
        .default_threshold()
        .min(Transport::EventBridge.default_threshold()) as f64;
    let offloaded = flow.claim_check && size > threshold;
    let bytes = |payload: Payload| match payload {
        Payload::Event if offloaded => m.pointer_bytes.value,
        Payload::Event => size,
        Payload::Thin => m.thin_event_bytes.value,
        Payload::Small => SMALL_BYTES,
    };
    let wrapper = m.bus_wrapper_bytes.value;
    let mut costs = Vec::new();
    let mut loads = Vec::new();
    let mut line = |service: &'static str, item: String, per_event: f64, usd_per_million: f64| {
        if per_event > 0.0 {
            costs.push(CostLine {
                service,
                item,
                per_event,
                usd_per_million,
            });
        }
    };

    // Lambda: invocations, billed milliseconds (rounded up per invocation), GB-seconds.
    let ms_call = book.ms_per_call();
    let mut invocations = 0.0;
    let mut gb_seconds = 0.0;
    let mut concurrency = Vec::new();
    let mut workflow_ms = 0.0;
    for f in &flow.functions {
        let record_ms = match f.claim_check {
            Some(Offload::Send { copies }) if offloaded => {
                copies
                    * claim_check_ms(
                        m.claim_check_send_1mib_ms.value,
                        m.claim_check_send_10mib_ms.value,
                        size,
                    )
            }
            Some(Offload::Receive) if offloaded => {
                claim_check_ms(
                    m.claim_check_receive_1mib_ms.value,
                    m.claim_check_receive_10mib_ms.value,
                    size,
                ) + f.calls * ms_call
            }
            _ => f.calls * ms_call,
        } + f.extra_ms;
        let batch = f64::from(f.batch.max(1));
        let billed_ms = (record_ms * batch).ceil().max(1.0);
        let calls = f.records / batch;
        invocations += calls;
        gb_seconds += calls * billed_ms / 1000.0 * f64::from(f.memory_mb) / 1024.0;
        let conc = calls * billed_ms / 1000.0;
        concurrency.push((f.name, conc, f.trigger));
        if f.trigger == Trigger::Workflow {
            workflow_ms += billed_ms * calls;
        }
        if f.trigger == Trigger::Queue {
            loads.push(Load {
                limit: format!("SQS event source mapping of {}", f.name),
                detail: format!(
                    "{} batches at once per mapping; {} ms billed per batch of {}",
                    group(q.sqs_mapping_batches.value),
                    group(billed_ms),
                    f.batch
                ),
                ceiling: q.sqs_mapping_batches.value / conc,
                lift: format!(
                    "provisioned mode on the mapping (dedicated pollers, up to {}x the capacity), or a second queue and mapping; MaximumConcurrency only lowers it",
                    q.sqs_mapping_provisioned_factor.value
                ),
            });
        }
    }
    let conc_total: f64 = concurrency.iter().map(|(_, c, _)| c).sum();
    if conc_total > 0.0 {
        loads.push(Load {
            limit: "Lambda concurrency".into(),
            detail: format!(
                "{} per account; {} ms of function time per event",
                group(q.lambda_concurrency.value),
                quantity(conc_total * 1000.0)
            ),
            ceiling: q.lambda_concurrency.value / conc_total,
            lift: "a concurrency quota increase (adjustable); fewer sequential AWS calls per record shorten every execution".into(),
        });
    }
    let gb_price = match inputs.arch {
        Arch::X86_64 => &p.lambda_gb_second_x86_64,
        Arch::Arm64 => &p.lambda_gb_second_arm64,
    };
    line(
        "Lambda",
        "requests".into(),
        invocations,
        invocations * p.lambda_request.value,
    );
    line(
        "Lambda",
        format!("GB-seconds ({})", inputs.arch.name()),
        gb_seconds,
        gb_seconds * 1e6 * gb_price.value,
    );

    // SQS: each send is one request per 64 KB chunk; a mapping receives a batch in one
    // request (per 64 KB of the batch) and deletes it in one.
    let sqs_chunk = p.sqs_chunk.value;
    let (mut sends, mut receives, mut deletes) = (0.0, 0.0, 0.0);
    for queue in &flow.queues {
        let body = bytes(queue.payload) + if queue.from_bus { wrapper } else { 0.0 };
        sends += queue.per_event * chunks(body, sqs_chunk);
        if queue.batch > 0 {
            let batch = f64::from(queue.batch);
            receives += queue.per_event / batch * chunks(batch * body, sqs_chunk);
            deletes += queue.per_event / batch;
        }
    }
    let sqs = p.sqs_standard.value;
    line("SQS", "SendMessage".into(), sends, sends * sqs);
    line("SQS", "ReceiveMessage".into(), receives, receives * sqs);
    line("SQS", "DeleteMessageBatch".into(), deletes, deletes * sqs);

    // EventBridge: each entry bills per 64 KB; each rule target is an invocation; the audit
    // rule writes every event, as delivered, to CloudWatch Logs.
    let (mut events, mut put_calls, mut targets, mut delivered_bytes) = (0.0, 0.0, 0.0, 0.0);
    for put in &flow.puts {
        let detail = bytes(put.payload);
        events += put.per_event
            * chunks(
                detail + m.entry_fields_bytes.value,
                p.eventbridge_chunk.value,
            );
        put_calls += put.per_event / put.per_call;
        targets += put.per_event * put.targets;
        delivered_bytes += put.per_event * (detail + wrapper);
    }
    line(
        "EventBridge",
        "custom events (64 KB chunks)".into(),
        events,
        events * p.eventbridge_custom_event.value,
    );
    if let Some(archive) = flow.archive {
        line(
            "EventBridge",
            "archive, bytes processed".into(),
            delivered_bytes,
            delivered_bytes / GIB * 1e6 * p.eventbridge_archive_processing.value,
        );
        let byte_months = delivered_bytes * archive.retention_days / 30.0;
        line(
            "EventBridge",
            format!("archive, byte-months ({} days)", archive.retention_days),
            byte_months,
            byte_months / GIB * 1e6 * p.eventbridge_archive_storage.value,
        );
    }
    line(
        "CloudWatch Logs",
        "audit log, bytes ingested".into(),
        delivered_bytes,
        delivered_bytes / GIB * 1e6 * p.cloudwatch_logs_ingestion.value,
    );
    if put_calls > 0.0 {
        let single = flow.puts.iter().any(|p| p.per_call < 10.0);
        loads.push(load(
            "EventBridge PutEvents",
            &q.eventbridge_put_events,
            "per account (soft), in calls",
            put_calls,
            if single {
                "up to 10 entries per PutEvents call (the kit's Publisher and the outbox relay send a slice in calls of 10), or a quota increase"
            } else {
                "a quota increase (soft): the entries already go 10 a call"
            },
        ));
    }
    if targets > 0.0 {
        loads.push(load(
            "EventBridge invocations",
            &q.eventbridge_invocations,
            "per account (soft), in rule targets, the audit log's included",
            targets,
            "a quota increase (soft; over it deliveries are delayed, not lost); the audit rule takes one invocation per event: narrow its pattern to the events worth keeping",
        ));
    }

    // DynamoDB on demand: a write unit per KB (two in a transaction), a read unit per 4 KB
    // (half when eventually consistent); a Query's items add up before rounding.
    let write_unit = p.dynamodb_write_unit_size.value;
    let read_unit = p.dynamodb_read_unit_size.value;
    let (mut wru, mut rru) = (0.0, 0.0);
    for table in &flow.tables {
        let w: f64 = table
            .writes
            .iter()
            .map(|w| {
                w.items
                    * chunks(bytes(w.payload), write_unit)
                    * if w.transactional { 2.0 } else { 1.0 }
            })
            .sum();
        let r: f64 = table
            .reads
            .iter()
            .map(|r| {
                r.requests
                    * chunks(r.items * bytes(r.payload), read_unit)
                    * if r.strong { 1.0 } else { 0.5 }
            })
            .sum();
        wru += w;
        rru += r;
        let keys = inputs.keys as f64;
        let sides = [
            (
                "writes",
                w,
                &q.dynamodb_table_writes,
                &q.dynamodb_partition_writes,
                "provisioned capacity",
            ),
            (
                "reads",
                r,
                &q.dynamodb_table_reads,
                &q.dynamodb_partition_reads,
                "fewer items read per event (snapshots more often)",
            ),
        ];
        for (side, units, per_table, per_partition, or) in sides {
            if units == 0.0 {
                continue;
            }
            loads.push(load(
                format!("DynamoDB {} {side}", table.name),
                per_table,
                "per on-demand table, in units",
                units,
                format!("a table-level throughput quota increase (adjustable), or {or}"),
            ));
            // An entity-keyed table's busiest key takes 1/keys of the events.
            if table.keyed_by_entity {
                loads.push(Load {
                    limit: format!("DynamoDB {} partition {side}", table.name),
                    detail: format!(
                        "{} units/s per partition; units per event: {}, {} of them on the busiest key",
                        group(per_partition.value),
                        quantity(units),
                        share(keys)
                    ),
                    ceiling: per_partition.value * keys / units,
                    lift: format!(
                        "more partition keys: shard the busiest key (`<id>#<n>`); {} keys assumed (--keys)",
                        group(keys)
                    ),
                });
            }
        }
    }
    line(
        "DynamoDB",
        "write request units".into(),
        wru,
        wru * p.dynamodb_write_request_unit.value,
    );
    line(
        "DynamoDB",
        "read request units".into(),
        rru,
        rru * p.dynamodb_read_request_unit.value,
    );

    // S3, once claim-checked: a PUT and a GET per object, kept until its lifecycle rule.
    if offloaded && flow.s3_objects > 0.0 {
        let objects = flow.s3_objects;
        line(
            "S3",
            "PUT".into(),
            objects,
            objects * 1e6 * p.s3_put.value / 1000.0,
        );
        line(
            "S3",
            "GET".into(),
            objects,
            objects * 1e6 * p.s3_get.value / 1000.0,
        );
        let byte_months = objects * size * OBJECT_DAYS / 30.0;
        line(
            "S3",
            format!("byte-months ({OBJECT_DAYS} days)"),
            byte_months,
            byte_months / GIB * 1e6 * p.s3_storage.value,
        );
    }

    // Step Functions, Standard: a billed transition per state entered.
    for w in &flow.workflows {
        let standard = w.transitions * 1e6 * p.stepfunctions_standard_transition.value / 1000.0;
        line(
            "Step Functions",
            format!("{} transitions (Standard)", w.name),
            w.transitions,
            standard,
        );
        let express_ms = (workflow_ms / EXPRESS_STEP_MS).ceil().max(1.0) * EXPRESS_STEP_MS;
        let express = w.executions
            * (p.stepfunctions_express_request.value
                + 1e6 * express_ms / 1000.0
                    * EXPRESS_MEMORY_GB
                    * p.stepfunctions_express_gb_second.value);
        let lift = format!(
            "Express workflows (StartExecution {}/s, no transition quota): about ${} per million executions of {} ms at 64 MB, against ${} Standard; or a quota increase",
            group(q.stepfunctions_express_start.value),
            money(express),
            group(express_ms),
            money(standard)
        );
        let quotas = [
            (
                "StartExecution",
                "executions",
                &q.stepfunctions_standard_start,
                w.executions,
            ),
            (
                "state transitions",
                "transitions",
                &q.stepfunctions_standard_transitions,
                w.transitions,
            ),
        ];
        for (quota, counted, figure, per_event) in quotas {
            loads.push(load(
                format!("Step Functions {} {quota}", w.name),
                figure,
                &format!("refill (Standard, soft), in {counted}"),
                per_event,
                lift.clone(),
            ));
        }
    }

    // API Gateway, REST.
    if flow.api_requests > 0.0 {
        line(
            "API Gateway",
            "REST requests".into(),
            flow.api_requests,
            flow.api_requests * p.apigateway_rest_request.value,
        );
        loads.push(load(
            "API Gateway throttle",
            &q.apigateway_requests,
            "per account across APIs, in requests",
            flow.api_requests,
            format!(
                "a quota increase (adjustable); an HTTP API would also cost ${} a million requests instead of ${}",
                money(p.apigateway_http_request.value),
                money(p.apigateway_rest_request.value)
            ),
        ));
    }

    loads.sort_by(|a, b| a.ceiling.total_cmp(&b.ceiling));
    Ok(Estimate {
        pattern: flow.id,
        unit: flow.unit,
        path: flow.path,
        inputs,
        offloaded,
        costs,
        loads,
        concurrency,
        scale_up: (q.lambda_scaling.value, q.sqs_mapping_scale_up.value),
        figures: format!(
            "{} prices and quotas read {} (cli/data/aws-us-east-1.toml); {} ms of billed Lambda time per AWS call, measured {} (cli/data/measured.toml)",
            book.region,
            book.read,
            quantity(ms_call),
            book.measured.billed_ms_per_event.read
        ),
    })
}

/// A quota of `quota` per second, of which each event takes `per_event`.
fn load(
    limit: impl Into<String>,
    quota: &book::Figure,
    scope: &str,
    per_event: f64,
    lift: impl Into<String>,
) -> Load {
    Load {
        limit: limit.into(),
        detail: format!(
            "{}/s {scope}; per event: {}",
            group(quota.value),
            quantity(per_event)
        ),
        ceiling: quota.value / per_event,
        lift: lift.into(),
    }
}

/// Every pattern's estimate for `inputs`, in catalogue order.
pub fn all(book: &Book, inputs: Inputs) -> Result<Vec<Estimate>, EstimateError> {
    patterns::catalogue()
        .iter()
        .map(|f| estimate(f, book, inputs))
        .collect()
}

/// The tables of docs/CAPACITY.md: cost per million events and the first limit at each of
/// [`RATES`], then what lifts each pattern's first limit.
pub fn summary_markdown(book: &Book, inputs: Inputs) -> Result<String, EstimateError> {
    let estimates = all(book, inputs)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}-byte events, {}, {} partition keys; prices and quotas: {}, read {}.\n",
        group(inputs.size as f64),
        inputs.arch.name(),
        group(inputs.keys as f64),
        book.region,
        book.read
    );
    let _ = writeln!(
        out,
        "| Pattern | One event | USD per million events | First limit at 1,000/s | at 10,000/s | at 100,000/s |"
    );
    let _ = writeln!(out, "|---|---|---:|---|---|---|");
    for e in &estimates {
        let cells: Vec<String> = RATES
            .iter()
            .map(|&r| match e.first_limit(r) {
                Some(l) => format!("{} ({}/s)", l.limit, group(l.ceiling)),
                None => "none".into(),
            })
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            e.pattern,
            e.unit,
            money(e.total()),
            cells.join(" | ")
        );
    }
    let _ = writeln!(
        out,
        "\n| Pattern | First limit reached | What lifts it | Next limit |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for e in &estimates {
        let mut loads = e.loads.iter();
        let (first, then) = (loads.next(), loads.next());
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            e.pattern,
            first
                .map(|l| format!("{} at {}/s", l.limit, group(l.ceiling)))
                .unwrap_or_else(|| "none".into()),
            first.map(|l| l.lift.as_str()).unwrap_or("-"),
            then.map(|l| format!("{} at {}/s", l.limit, group(l.ceiling)))
                .unwrap_or_else(|| "none".into()),
        );
    }
    let _ = writeln!(out, "\n| Pattern | Lambda | SQS | EventBridge | DynamoDB | Step Functions | API Gateway | CloudWatch Logs | S3 |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for e in &estimates {
        let by = |service: &str| {
            let usd: f64 = e
                .costs
                .iter()
                .filter(|c| c.service == service)
                .map(|c| c.usd_per_million)
                .sum();
            if usd > 0.0 {
                money(usd)
            } else {
                "-".into()
            }
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.pattern,
            by("Lambda"),
            by("SQS"),
            by("EventBridge"),
            by("DynamoDB"),
            by("Step Functions"),
            by("API Gateway"),
            by("CloudWatch Logs"),
            by("S3"),
        );
    }
    Ok(out)
}

/// A count with thousands separators, rounded to a whole number.
fn group(n: f64) -> String {
    let digits = format!("{:.0}", n.round());
    let (sign, digits) = digits
        .strip_prefix('-')
        .map_or(("", digits.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// USD: cents, or four decimals below a cent.
fn money(usd: f64) -> String {
    if usd == 0.0 || usd >= 0.01 {
        format!("{usd:.2}")
    } else {
        format!("{usd:.4}")
    }
}

/// A per-event quantity: four decimals, six below a hundredth.
fn quantity(n: f64) -> String {
    let s = if n.abs() < 0.01 {
        format!("{n:.6}")
    } else {
        format!("{n:.4}")
    };
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// `1/keys` as words.
fn share(keys: f64) -> String {
    format!("1/{}", group(keys))
}

#[cfg(test)]
mod tests;
