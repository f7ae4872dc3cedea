//! Validating envelopes against the committed schemas: the envelope's own, then its payload
//! against the schema of its `type` and `schemaversion`. Used by the tests on the sample
//! events and on everything the end-to-end tests saw on the bus.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::gate::{GateError, ENVELOPE_FILE};
use crate::registry::catalogue;

/// The committed schemas, compiled.
pub struct Validator {
    envelope: jsonschema::Validator,
    payloads: BTreeMap<(String, String), (jsonschema::Validator, &'static [&'static str])>,
}

/// Why an envelope is not valid.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// The envelope itself.
    #[error("envelope {id}: {errors}")]
    Envelope {
        /// Its id.
        id: String,
        /// What the schema says.
        errors: String,
    },
    /// A type or version the catalogue does not have.
    #[error("envelope {id}: `{event_type}` schemaversion {version} is not in the catalogue (contracts/src/registry.rs)")]
    Unknown {
        /// Its id.
        id: String,
        /// Its type.
        event_type: String,
        /// Its version.
        version: String,
    },
    /// A source its contract does not list.
    #[error(
        "envelope {id}: `{event_type}` from `{source_name}`, but its contract lists {expected:?}"
    )]
    Source {
        /// Its id.
        id: String,
        /// Its type.
        event_type: String,
        /// Its source.
        source_name: String,
        /// What the contract lists.
        expected: &'static [&'static str],
    },
    /// The payload.
    #[error("envelope {id}: `{event_type}` payload: {errors}")]
    Payload {
        /// Its id.
        id: String,
        /// Its type.
        event_type: String,
        /// What the schema says.
        errors: String,
    },
}

/// A schema file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading it.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// It is not a valid schema.
    #[error("{file}: not a valid JSON Schema: {reason}")]
    Schema {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
}

fn compile(dir: &Path, file: &str) -> Result<jsonschema::Validator, LoadError> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| GateError::Io {
        path: path.clone(),
        source,
    })?;
    let schema: Value =
        serde_json::from_str(&text).map_err(|source| GateError::Json { path, source })?;
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| LoadError::Schema {
            file: file.to_owned(),
            reason: e.to_string(),
        })
}

fn errors(v: &jsonschema::Validator, value: &Value) -> Option<String> {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{} at `{}`", e, e.instance_path()))
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

impl Validator {
    /// Loads the schemas committed under `dir` (`events/schemas/`).
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let mut payloads = BTreeMap::new();
        for c in catalogue() {
            payloads.insert(
                (c.event_type.to_owned(), c.version.to_owned()),
                (compile(dir, &c.schema_file())?, c.sources),
            );
        }
        Ok(Validator {
            envelope: compile(dir, ENVELOPE_FILE)?,
            payloads,
        })
    }

    /// Checks one envelope (as JSON). A claim-checked envelope (`dataref`, no `data`) is
    /// checked without its payload.
    pub fn check(&self, envelope: &Value) -> Result<(), Invalid> {
        let id = envelope["id"].as_str().unwrap_or("(no id)").to_owned();
        if let Some(errors) = errors(&self.envelope, envelope) {
            return Err(Invalid::Envelope { id, errors });
        }
        let event_type = envelope["type"].as_str().unwrap_or_default().to_owned();
        let version = envelope["schemaversion"].as_str().unwrap_or("1").to_owned();
        let Some((payload, sources)) = self.payloads.get(&(event_type.clone(), version.clone()))
        else {
            return Err(Invalid::Unknown {
                id,
                event_type,
                version,
            });
        };
        let source = envelope["source"].as_str().unwrap_or_default();
        if !sources.is_empty() && !sources.contains(&source) {
            return Err(Invalid::Source {
                id,
                event_type,
                source_name: source.to_owned(),
                expected: sources,
            });
        }
        match envelope.get("data") {
            Some(data) => match errors(payload, data) {
                Some(errors) => Err(Invalid::Payload {
                    id,
                    event_type,
                    errors,
                }),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }
}

/// Every envelope inside `value`, however it is wrapped: an SQS record's body, an
/// EventBridge event's `detail`, a stream record's string attribute, a task input.
pub fn envelopes_in(value: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

fn walk(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(o) if o.contains_key("specversion") => out.push(v.clone()),
        Value::Object(o) => o.values().for_each(|v| walk(v, out)),
        Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
        Value::String(s) if s.trim_start().starts_with('{') => {
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                walk(&inner, out);
            }
        }
        _ => {}
    }
}
