//! The figures an estimate computes with: published prices and quotas
//! (`cli/data/aws-us-east-1.toml`) and the kit's own measurements (`cli/data/measured.toml`).
//! Both are compiled into the binary, so an estimate needs no network and names the date
//! its figures were read.

use serde::Deserialize;

use super::EstimateError;

const PRICES_FILE: &str = "cli/data/aws-us-east-1.toml";
const MEASURED_FILE: &str = "cli/data/measured.toml";
const PRICES: &str = include_str!("../../data/aws-us-east-1.toml");
const MEASURED: &str = include_str!("../../data/measured.toml");

/// One figure: its value, unit, where it was read or measured, and when.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// The number.
    pub value: f64,
    /// What the number counts.
    pub unit: String,
    /// A URL, or for a measurement the file and section it comes from.
    pub source: String,
    /// The day it was read (or the measuring run's day), `YYYY-MM-DD`.
    pub read: String,
    /// Why the source is what it is, or what it says beside the value.
    #[serde(default)]
    pub note: Option<String>,
}

/// Published prices, us-east-1, each service's first tier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // Each field is documented by its `unit` in the data file.
pub struct Prices {
    pub lambda_request: Figure,
    pub lambda_gb_second_x86_64: Figure,
    pub lambda_gb_second_arm64: Figure,
    pub sqs_standard: Figure,
    pub sqs_fifo: Figure,
    pub sqs_chunk: Figure,
    pub eventbridge_custom_event: Figure,
    pub eventbridge_chunk: Figure,
    pub eventbridge_archive_processing: Figure,
    pub eventbridge_archive_storage: Figure,
    pub dynamodb_write_request_unit: Figure,
    pub dynamodb_read_request_unit: Figure,
    pub dynamodb_write_unit_size: Figure,
    pub dynamodb_read_unit_size: Figure,
    pub dynamodb_streams_read_request_unit: Figure,
    pub s3_put: Figure,
    pub s3_get: Figure,
    pub s3_storage: Figure,
    pub stepfunctions_standard_transition: Figure,
    pub stepfunctions_express_request: Figure,
    pub stepfunctions_express_gb_second: Figure,
    pub cloudwatch_logs_ingestion: Figure,
    pub apigateway_rest_request: Figure,
    pub apigateway_http_request: Figure,
}

/// Published default quotas, us-east-1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // Each field is documented by its `unit` in the data file.
pub struct Quotas {
    pub eventbridge_put_events: Figure,
    pub eventbridge_invocations: Figure,
    pub lambda_concurrency: Figure,
    pub lambda_scaling: Figure,
    pub sqs_mapping_batches: Figure,
    pub sqs_mapping_scale_up: Figure,
    pub sqs_mapping_provisioned_factor: Figure,
    pub sqs_fifo_group: Figure,
    pub dynamodb_partition_writes: Figure,
    pub dynamodb_partition_reads: Figure,
    pub dynamodb_table_writes: Figure,
    pub dynamodb_table_reads: Figure,
    pub stepfunctions_standard_start: Figure,
    pub stepfunctions_standard_transitions: Figure,
    pub stepfunctions_express_start: Figure,
    pub apigateway_requests: Figure,
}

/// The kit's measured figures (docs/BENCHMARKS.md and the sample events).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // Each field is documented by its `unit` in the data file.
pub struct Measured {
    pub billed_ms_per_event: Figure,
    pub calls_per_event: Figure,
    pub batch_ms_per_10_records: Figure,
    pub claim_check_send_1mib_ms: Figure,
    pub claim_check_send_10mib_ms: Figure,
    pub claim_check_receive_1mib_ms: Figure,
    pub claim_check_receive_10mib_ms: Figure,
    pub bus_wrapper_bytes: Figure,
    pub entry_fields_bytes: Figure,
    pub thin_event_bytes: Figure,
    pub pointer_bytes: Figure,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    region: String,
    read: String,
    prices: Prices,
    quotas: Quotas,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasuredFile {
    measured: Measured,
}

/// Every figure an estimate uses.
#[derive(Debug, Clone)]
pub struct Book {
    /// The region the prices and quotas are for.
    pub region: String,
    /// When the prices and quotas were read.
    pub read: String,
    /// Published prices.
    pub prices: Prices,
    /// Published quotas.
    pub quotas: Quotas,
    /// The kit's measurements.
    pub measured: Measured,
}

impl Book {
    /// The figures compiled into the binary.
    pub fn load() -> Result<Book, EstimateError> {
        Book::parse(PRICES, MEASURED)
    }

    /// Figures from the text of a price file and a measurement file.
    pub fn parse(prices: &str, measured: &str) -> Result<Book, EstimateError> {
        let p: PriceFile = toml::from_str(prices).map_err(|source| EstimateError::Data {
            file: PRICES_FILE,
            source,
        })?;
        let m: MeasuredFile = toml::from_str(measured).map_err(|source| EstimateError::Data {
            file: MEASURED_FILE,
            source,
        })?;
        Ok(Book {
            region: p.region,
            read: p.read,
            prices: p.prices,
            quotas: p.quotas,
            measured: m.measured,
        })
    }

    /// Billed Lambda milliseconds per AWS call a handler makes: the measured billed time per
    /// event over the calls that event made. The one duration the kit has measured end to
    /// end, spread over calls because every handler's time is its round trips.
    pub fn ms_per_call(&self) -> f64 {
        self.measured.billed_ms_per_event.value / self.measured.calls_per_event.value
    }

    /// Every figure with its name, for listing and checking.
    pub fn figures(&self) -> Vec<(&'static str, &Figure)> {
        let p = &self.prices;
        let q = &self.quotas;
        let m = &self.measured;
        vec![
            ("lambda_request", &p.lambda_request),
            ("lambda_gb_second_x86_64", &p.lambda_gb_second_x86_64),
            ("lambda_gb_second_arm64", &p.lambda_gb_second_arm64),
            ("sqs_standard", &p.sqs_standard),
            ("sqs_fifo", &p.sqs_fifo),
            ("sqs_chunk", &p.sqs_chunk),
            ("eventbridge_custom_event", &p.eventbridge_custom_event),
            ("eventbridge_chunk", &p.eventbridge_chunk),
            (
                "eventbridge_archive_processing",
                &p.eventbridge_archive_processing,
            ),
            (
                "eventbridge_archive_storage",
                &p.eventbridge_archive_storage,
            ),
            (
                "dynamodb_write_request_unit",
                &p.dynamodb_write_request_unit,
            ),
            ("dynamodb_read_request_unit", &p.dynamodb_read_request_unit),
            ("dynamodb_write_unit_size", &p.dynamodb_write_unit_size),
            ("dynamodb_read_unit_size", &p.dynamodb_read_unit_size),
            (
                "dynamodb_streams_read_request_unit",
                &p.dynamodb_streams_read_request_unit,
            ),
            ("s3_put", &p.s3_put),
            ("s3_get", &p.s3_get),
            ("s3_storage", &p.s3_storage),
            (
                "stepfunctions_standard_transition",
                &p.stepfunctions_standard_transition,
            ),
            (
                "stepfunctions_express_request",
                &p.stepfunctions_express_request,
            ),
            (
                "stepfunctions_express_gb_second",
                &p.stepfunctions_express_gb_second,
            ),
            ("cloudwatch_logs_ingestion", &p.cloudwatch_logs_ingestion),
            ("apigateway_rest_request", &p.apigateway_rest_request),
            ("apigateway_http_request", &p.apigateway_http_request),
            ("eventbridge_put_events", &q.eventbridge_put_events),
            ("eventbridge_invocations", &q.eventbridge_invocations),
            ("lambda_concurrency", &q.lambda_concurrency),
            ("lambda_scaling", &q.lambda_scaling),
            ("sqs_mapping_batches", &q.sqs_mapping_batches),
            ("sqs_mapping_scale_up", &q.sqs_mapping_scale_up),
            (
                "sqs_mapping_provisioned_factor",
                &q.sqs_mapping_provisioned_factor,
            ),
            ("sqs_fifo_group", &q.sqs_fifo_group),
            ("dynamodb_partition_writes", &q.dynamodb_partition_writes),
            ("dynamodb_partition_reads", &q.dynamodb_partition_reads),
            ("dynamodb_table_writes", &q.dynamodb_table_writes),
            ("dynamodb_table_reads", &q.dynamodb_table_reads),
            (
                "stepfunctions_standard_start",
                &q.stepfunctions_standard_start,
            ),
            (
                "stepfunctions_standard_transitions",
                &q.stepfunctions_standard_transitions,
            ),
            (
                "stepfunctions_express_start",
                &q.stepfunctions_express_start,
            ),
            ("apigateway_requests", &q.apigateway_requests),
            ("billed_ms_per_event", &m.billed_ms_per_event),
            ("calls_per_event", &m.calls_per_event),
            ("batch_ms_per_10_records", &m.batch_ms_per_10_records),
            ("claim_check_send_1mib_ms", &m.claim_check_send_1mib_ms),
            ("claim_check_send_10mib_ms", &m.claim_check_send_10mib_ms),
            (
                "claim_check_receive_1mib_ms",
                &m.claim_check_receive_1mib_ms,
            ),
            (
                "claim_check_receive_10mib_ms",
                &m.claim_check_receive_10mib_ms,
            ),
            ("bus_wrapper_bytes", &m.bus_wrapper_bytes),
            ("entry_fields_bytes", &m.entry_fields_bytes),
            ("thin_event_bytes", &m.thin_event_bytes),
            ("pointer_bytes", &m.pointer_bytes),
        ]
    }
}
