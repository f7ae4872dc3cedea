//! Architecture invariants a machine can check (see ARCHITECTURE.md).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

#[test]
fn only_adapters_name_aws_sdk_types() {
    let mut sources = Vec::new();
    files(&root().join("shared/src"), "rs", &mut sources);
    files(&root().join("functions"), "rs", &mut sources);
    let offenders: Vec<String> = sources
        .iter()
        .filter(|p| {
            let rel = p
                .strip_prefix(root())
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned();
            // Allowed: the kit's adapters, and in each function its wiring (main.rs) and
            // adapter modules; handlers (lib.rs) take ports.
            let allowed = rel.starts_with("shared/src/aws/")
                || (rel.starts_with("functions/") && !rel.ends_with("/lib.rs"));
            !allowed
                && std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .contains("aws_sdk_")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "aws_sdk_* named outside the adapters: {offenders:?}"
    );
}

#[test]
fn every_sample_event_is_loaded_by_a_test() {
    let mut events = Vec::new();
    files(&root().join("events"), "json", &mut events);
    // The schemas are read by the gate and the validator (contracts/tests/), not samples.
    events.retain(|p| !p.starts_with(root().join("events/schemas")));
    assert!(!events.is_empty(), "events/ has no sample events");
    let mut sources = Vec::new();
    for dir in ["shared", "functions", "tests"] {
        files(&root().join(dir), "rs", &mut sources);
    }
    let code: String = sources
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    let unused: Vec<String> = events
        .iter()
        .map(|p| {
            p.strip_prefix(root().join("events"))
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .filter(|rel| !code.contains(&format!("events/{rel}\"")))
        .collect();
    assert!(
        unused.is_empty(),
        "sample events no test loads (include_str!): {unused:?}"
    );
}

// The template's own invariants (every queue has a DLQ, every DLQ an alarm, no drift from
// the pattern fragments) are checked where the template is parsed: tools/infra/assemble.py
// --check, run by `make lint`, with its tests in tools/infra/test_assemble.py.
