//! Every sample event under `events/` carries envelopes that validate against the
//! committed schemas (a sample is what a user sends first: it must be right).

use std::path::{Path, PathBuf};

use eventkit_contracts::validate::{envelopes_in, Validator};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn samples() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root().join("events")).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() || dir.ends_with("schemas") {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "json") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_sample_envelope_validates_against_its_schema() {
    let validator = Validator::load(&root().join("events/schemas")).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in samples() {
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let envelopes = envelopes_in(&value);
        // The front door's samples are HTTP requests: no envelope in them. The wallet's
        // stream sample holds stored events; functions/wallet's tests validate the
        // envelopes its relay makes of them.
        let path = file.to_string_lossy();
        let no_envelope_expected =
            path.contains("/front-door/") || path.ends_with("/wallet/stream-batch.json");
        if envelopes.is_empty() && !no_envelope_expected {
            failures.push(format!("{}: no envelope found", file.display()));
        }
        for e in envelopes {
            checked += 1;
            if let Err(err) = validator.check(&e) {
                failures.push(format!("{}: {err}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(checked >= 20, "only {checked} envelopes in the samples");
}

#[test]
fn a_payload_that_breaks_its_schema_is_named() {
    let validator = Validator::load(&root().join("events/schemas")).unwrap();
    let mut e = serde_json::to_value(eventkit::Envelope::new(
        "eventkit.orders",
        "order.placed",
        serde_json::json!({"order_id": "o-1", "customer": "c-1", "kind": "boat", "lines": [], "total": 0}),
    ))
    .unwrap();
    let err = validator.check(&e).unwrap_err().to_string();
    assert!(
        err.contains("order.placed") && err.contains("/kind"),
        "{err}"
    );
    e["type"] = "order.shipped".into();
    let err = validator.check(&e).unwrap_err().to_string();
    assert!(err.contains("not in the catalogue"), "{err}");
    e["type"] = "order.placed".into();
    e["source"] = "somebody.else".into();
    e["data"]["kind"] = "digital".into();
    let err = validator.check(&e).unwrap_err().to_string();
    assert!(err.contains("somebody.else"), "{err}");
}
