//! The compatibility gate: the schemas generated from today's code against the ones
//! committed under `events/schemas/`.
//!
//! Committed is the record of what consumers were promised. A committed schema version
//! that the code no longer generates, or generates with a change its rule refuses, is a
//! [`Problem`] that names the event type, the field and the rule. A change the rule allows
//! is drift until it is committed (`make contracts` writes it); `make contracts` never
//! writes a breaking change and never deletes a version.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::compat::{breaking, Difference};
use crate::registry::{catalogue, schema_of, EventContract, Rule};

/// The envelope's schema file.
pub const ENVELOPE_FILE: &str = "envelope.schema.json";
/// The catalogue as data (for the AsyncAPI generator and people).
pub const INDEX_FILE: &str = "index.json";

/// Why the gate refuses.
#[derive(Debug)]
pub enum Problem {
    /// A committed schema version changed in a way its rule refuses.
    Breaking {
        /// The event type.
        event_type: String,
        /// Its schema version.
        version: String,
        /// Its rule.
        rule: Rule,
        /// What broke.
        differences: Vec<Difference>,
    },
    /// A committed schema version is no longer in the code.
    VersionRemoved {
        /// The file.
        file: String,
    },
    /// A file differs from what the code generates (an allowed change not yet committed,
    /// a new version, or a hand edit).
    Drift {
        /// The file.
        file: String,
        /// `changed`, `not committed` or `not generated`.
        how: &'static str,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Breaking {
                event_type,
                version,
                rule,
                differences,
            } => {
                writeln!(
                    f,
                    "{event_type} schemaversion {version} (rule {rule}) changed incompatibly:"
                )?;
                for d in differences {
                    writeln!(f, "  {d} (breaks {})", d.breaks())?;
                }
                write!(
                    f,
                    "  keep schemaversion {version} as committed and make the change a new \
                     schemaversion (a second contract in contracts/src/registry.rs), or revert it"
                )
            }
            Problem::VersionRemoved { file } => write!(
                f,
                "{file}: this schema version is committed but no longer in the code; consumers \
                 may still read it: keep its contract in contracts/src/registry.rs"
            ),
            Problem::Drift { file, how } => write!(
                f,
                "{file}: {how}; run `make contracts` and commit the result"
            ),
        }
    }
}

/// Reading or writing the schema folder failed.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A committed file is not JSON.
    #[error("{path}: not JSON ({source}); restore it with `git checkout` or `make contracts`")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// `make contracts` refused to write breaking changes.
    #[error("refused to write breaking schema changes:\n{0}")]
    Refused(String),
}

/// Every file of `events/schemas/`, as the code generates it (path relative to it).
pub fn generate() -> BTreeMap<String, String> {
    let contracts = catalogue();
    let mut files = BTreeMap::new();
    for c in &contracts {
        files.insert(c.schema_file(), pretty(&schema_json(c)));
    }
    files.insert(
        ENVELOPE_FILE.to_owned(),
        pretty(&schema_of::<eventkit::Envelope>().to_value()),
    );
    let index: Vec<Value> = contracts
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("a contract serialises");
            v["schema"] = Value::from(c.schema_file());
            v
        })
        .collect();
    files.insert(INDEX_FILE.to_owned(), pretty(&Value::from(index)));
    files
}

fn schema_json(c: &EventContract) -> Value {
    let mut s = c.schema().to_value();
    // The id a payload can name in its envelope's `dataschema`.
    s["$id"] = Value::from(format!(
        "urn:eventkit:schema:{}:v{}",
        c.event_type, c.version
    ));
    s
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON serialises") + "\n"
}

/// The files under `dir` that the gate compares (schemas and the index), relative paths.
fn committed(dir: &Path) -> Result<BTreeMap<String, String>, GateError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(GateError::Io { path: d, source }),
        };
        for entry in entries {
            let path = entry
                .map_err(|source| GateError::Io {
                    path: d.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).map_err(|source| GateError::Io {
                    path: path.clone(),
                    source,
                })?;
                let rel = path.strip_prefix(dir).expect("under dir");
                out.insert(rel.to_string_lossy().replace('\\', "/"), text);
            }
        }
    }
    Ok(out)
}

/// Compares `dir` (the committed `events/schemas/`) with what the code generates.
pub fn check(dir: &Path) -> Result<Vec<Problem>, GateError> {
    let generated = generate();
    let committed = committed(dir)?;
    let by_file: BTreeMap<String, EventContract> = catalogue()
        .into_iter()
        .map(|c| (c.schema_file(), c))
        .collect();
    let mut problems = Vec::new();
    for (file, old_text) in &committed {
        let Some(new_text) = generated.get(file) else {
            problems.push(if file.contains("/v") {
                Problem::VersionRemoved { file: file.clone() }
            } else {
                Problem::Drift {
                    file: file.clone(),
                    how: "not generated by the code",
                }
            });
            continue;
        };
        if old_text == new_text {
            continue;
        }
        if let Some(c) = by_file.get(file) {
            let old: Value = serde_json::from_str(old_text).map_err(|source| GateError::Json {
                path: dir.join(file),
                source,
            })?;
            let breaks = breaking(&old, &schema_json(c), c.rule);
            if !breaks.is_empty() {
                problems.push(Problem::Breaking {
                    event_type: c.event_type.to_owned(),
                    version: c.version.to_owned(),
                    rule: c.rule,
                    differences: breaks,
                });
                continue;
            }
        }
        problems.push(Problem::Drift {
            file: file.clone(),
            how: "changed (compatibly, or not a versioned schema)",
        });
    }
    for file in generated.keys().filter(|f| !committed.contains_key(*f)) {
        problems.push(Problem::Drift {
            file: file.clone(),
            how: "generated but not committed",
        });
    }
    Ok(problems)
}

/// Writes what the code generates into `dir`, unless a change breaks its rule (then
/// nothing is written). Returns the files written.
pub fn write(dir: &Path) -> Result<Vec<String>, GateError> {
    let problems = check(dir)?;
    let refused: Vec<String> = problems
        .iter()
        .filter(|p| matches!(p, Problem::Breaking { .. } | Problem::VersionRemoved { .. }))
        .map(ToString::to_string)
        .collect();
    if !refused.is_empty() {
        return Err(GateError::Refused(refused.join("\n")));
    }
    let mut written = Vec::new();
    for p in problems {
        let Problem::Drift { file, .. } = p else {
            continue;
        };
        let Some(text) = generate().remove(&file) else {
            continue; // A stray file the code does not make: left for a person to remove.
        };
        let path = dir.join(&file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| GateError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| GateError::Io { path, source })?;
        written.push(file);
    }
    Ok(written)
}
