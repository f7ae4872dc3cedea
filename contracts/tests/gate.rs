//! The gate on the committed `events/schemas/`, and on copies of it changed each way a
//! person might change it.

use std::path::{Path, PathBuf};

use eventkit_contracts::gate::{self, Problem};

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/schemas")
}

/// A folder of its own, removed when the test ends (passed or failed).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh folder holding what the code generates.
fn scratch(name: &str) -> Scratch {
    let dir =
        Scratch(std::env::temp_dir().join(format!("eventkit-gate-{name}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&*dir);
    gate::write(&dir).unwrap();
    assert!(gate::check(&dir).unwrap().is_empty());
    dir
}

fn edit(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
}

#[test]
fn the_committed_schemas_are_what_the_code_generates() {
    let problems = gate::check(&committed_dir()).unwrap();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "\n{}", text.join("\n"));
}

#[test]
fn a_field_the_code_dropped_is_refused_naming_type_field_and_rule() {
    let dir = scratch("dropped");
    // The committed v1 promised a required `channel` the code no longer has.
    let file = dir.join("order.placed/v1.schema.json");
    edit(&file, |s| {
        s["properties"]["channel"] = serde_json::json!({"type": "string"});
        s["required"].as_array_mut().unwrap().push("channel".into());
    });
    let before = std::fs::read_to_string(&file).unwrap();
    let problems = gate::check(&dir).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let text = problems[0].to_string();
    assert!(matches!(problems[0], Problem::Breaking { .. }), "{text}");
    assert!(
        text.contains("order.placed schemaversion 1 (rule FULL)")
            && text.contains("field `channel`: required field removed (breaks FORWARD)")
            && text.contains("new schemaversion"),
        "{text}"
    );
    // `make contracts` refuses too, and leaves the promise as it was.
    let err = gate::write(&dir).unwrap_err().to_string();
    assert!(err.contains("field `channel`"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn a_retyped_field_is_refused_under_forward() {
    let dir = scratch("retyped");
    let file = dir.join("customer.changed/v1.schema.json");
    edit(&file, |s| {
        s["properties"]["version"] = serde_json::json!({"type": "string"})
    });
    let text = gate::check(&dir).unwrap()[0].to_string();
    assert!(
        text.contains("customer.changed schemaversion 1 (rule FORWARD)")
            && text.contains("field `version`: retyped from string to integer (int64)"),
        "{text}"
    );
}

#[test]
fn a_compatible_change_is_drift_until_written() {
    let dir = scratch("compatible");
    // As if the code had just added the optional `faults`: allowed by BACKWARD.
    let file = dir.join("inventory.reserve/v1.schema.json");
    edit(&file, |s| {
        s["properties"].as_object_mut().unwrap().remove("faults");
    });
    let problems = gate::check(&dir).unwrap();
    assert!(
        matches!(&problems[..], [Problem::Drift { file, .. }] if file == "inventory.reserve/v1.schema.json"),
        "{problems:?}"
    );
    assert_eq!(
        gate::write(&dir).unwrap(),
        vec!["inventory.reserve/v1.schema.json"]
    );
    assert!(gate::check(&dir).unwrap().is_empty());
}

#[test]
fn a_version_the_code_no_longer_has_is_refused() {
    let dir = scratch("removed");
    std::fs::copy(
        dir.join("order.placed/v1.schema.json"),
        dir.join("order.placed/v0.schema.json"),
    )
    .unwrap();
    let problems = gate::check(&dir).unwrap();
    assert!(
        matches!(&problems[..], [Problem::VersionRemoved { file }] if file == "order.placed/v0.schema.json"),
        "{problems:?}"
    );
    assert!(gate::write(&dir).is_err());
}

#[test]
fn a_schema_not_committed_is_drift() {
    let dir = scratch("missing");
    std::fs::remove_file(dir.join("quote.offered/v1.schema.json")).unwrap();
    let problems = gate::check(&dir).unwrap();
    assert!(
        matches!(
            &problems[..],
            [Problem::Drift {
                how: "generated but not committed",
                ..
            }]
        ),
        "{problems:?}"
    );
}
