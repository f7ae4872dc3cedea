//! Each kind of change, made to real Rust types and read through the schemas `schemars`
//! generates for them, allowed or refused under each rule.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;
use crate::registry::{schema_of, Rule};

fn schema<T: JsonSchema>() -> Value {
    schema_of::<T>().to_value()
}

/// The differences between `A` (old) and `B` (new), as (path, change).
fn diff<A: JsonSchema, B: JsonSchema>() -> Vec<(String, Change)> {
    differences(&schema::<A>(), &schema::<B>())
        .into_iter()
        .map(|d| (d.path, d.change))
        .collect()
}

fn allowed<A: JsonSchema, B: JsonSchema>(rule: Rule) -> bool {
    breaking(&schema::<A>(), &schema::<B>(), rule).is_empty()
}

mod v1 {
    use super::*;

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Kind {
        Physical,
        Digital,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    pub struct Line {
        pub sku: String,
        pub quantity: u32,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum Completion {
        All,
        First { n: usize },
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    pub struct Order {
        pub order_id: String,
        pub kind: Kind,
        pub lines: Vec<Line>,
        #[serde(default)]
        pub note: Option<String>,
        pub completion: Completion,
    }
}

macro_rules! order_variant {
    ($name:ident { $($field:tt)* }) => {
        #[derive(Serialize, Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct $name { $($field)* }
    };
}

#[test]
fn the_same_type_has_no_differences() {
    assert_eq!(diff::<v1::Order, v1::Order>(), vec![]);
}

#[test]
fn an_optional_field_added_with_a_default_is_allowed_by_every_rule() {
    order_variant!(Order {
        order_id: String, kind: v1::Kind, lines: Vec<v1::Line>,
        #[serde(default)] note: Option<String>, completion: v1::Completion,
        #[serde(default)] gift: bool
    });
    assert_eq!(
        diff::<v1::Order, Order>(),
        vec![(
            "gift".into(),
            Change::OptionalField {
                added: true,
                closed: false
            }
        )]
    );
    for rule in [Rule::Backward, Rule::Forward, Rule::Full] {
        assert!(allowed::<v1::Order, Order>(rule), "{rule}");
    }
}

#[test]
fn a_new_required_field_breaks_backward_only() {
    order_variant!(Order {
        order_id: String, kind: v1::Kind, lines: Vec<v1::Line>,
        #[serde(default)] note: Option<String>, completion: v1::Completion,
        currency: String
    });
    assert_eq!(
        diff::<v1::Order, Order>(),
        vec![(
            "currency".into(),
            Change::RequiredFieldAdded { closed: false }
        )]
    );
    assert!(!allowed::<v1::Order, Order>(Rule::Backward));
    assert!(allowed::<v1::Order, Order>(Rule::Forward));
    assert!(!allowed::<v1::Order, Order>(Rule::Full));
}

#[test]
fn a_required_field_removed_breaks_forward_only() {
    order_variant!(Order {
        order_id: String, lines: Vec<v1::Line>,
        #[serde(default)] note: Option<String>, completion: v1::Completion
    });
    assert_eq!(
        diff::<v1::Order, Order>(),
        vec![(
            "kind".into(),
            Change::RequiredFieldRemoved { closed: false }
        )]
    );
    assert!(allowed::<v1::Order, Order>(Rule::Backward));
    assert!(!allowed::<v1::Order, Order>(Rule::Forward));
    assert!(!allowed::<v1::Order, Order>(Rule::Full));
}

#[test]
fn an_optional_field_removed_is_allowed_by_every_rule() {
    order_variant!(Order {
        order_id: String, kind: v1::Kind, lines: Vec<v1::Line>, completion: v1::Completion
    });
    assert_eq!(
        diff::<v1::Order, Order>(),
        vec![(
            "note".into(),
            Change::OptionalField {
                added: false,
                closed: false
            }
        )]
    );
    assert!(allowed::<v1::Order, Order>(Rule::Full));
}

#[test]
fn a_retyped_field_deep_in_an_array_breaks_both() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Line {
        sku: String,
        quantity: String,
    }
    order_variant!(Order {
        order_id: String, kind: v1::Kind, lines: Vec<Line>,
        #[serde(default)] note: Option<String>, completion: v1::Completion
    });
    let d = differences(&schema::<v1::Order>(), &schema::<Order>());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].to_string(),
        "field `lines[].quantity`: retyped from integer (uint32) to string"
    );
    assert_eq!(d[0].breaks(), "BACKWARD and FORWARD");
    assert!(!allowed::<v1::Order, Order>(Rule::Backward));
    assert!(!allowed::<v1::Order, Order>(Rule::Forward));
}

#[test]
fn a_narrower_integer_breaks_backward_and_a_wider_one_forward() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Line {
        sku: String,
        quantity: u8,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Old {
        line: v1::Line,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct New {
        line: Line,
    }
    let d = differences(&schema::<Old>(), &schema::<New>());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].to_string(),
        "field `line.quantity`: range narrowed from 0..=4294967295 to 0..=255"
    );
    assert_eq!(d[0].breaks(), "BACKWARD");
    // The other way round: u8 data is read by u32 readers, not the reverse.
    let d = differences(&schema::<New>(), &schema::<Old>());
    assert_eq!(
        d[0].to_string(),
        "field `line.quantity`: range widened from 0..=255 to 0..=4294967295"
    );
    assert_eq!(d[0].breaks(), "FORWARD");
}

#[test]
fn a_signed_integer_for_an_unsigned_one_breaks_both() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Old {
        n: u64,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct New {
        n: i64,
    }
    let d = differences(&schema::<Old>(), &schema::<New>());
    assert_eq!(
        d[0].to_string(),
        "field `n`: range moved from 0..=18446744073709551615 to \
         -9223372036854775808..=9223372036854775807"
    );
    assert_eq!(d[0].breaks(), "BACKWARD and FORWARD");
}

#[test]
fn a_format_alone_and_the_bounds_it_names_are_the_same_range() {
    // What schemars wrote before the bounds were spelled out, and what it writes now.
    let bare = serde_json::json!({"type": "integer", "format": "uint32", "minimum": 0});
    assert_eq!(differences(&bare, &schema::<u32>()), vec![]);
    let bare = serde_json::json!({"type": "integer", "format": "int64"});
    assert_eq!(differences(&bare, &schema::<i64>()), vec![]);
    // NonZeroU32: the tighter minimum is kept, and read.
    let nonzero = schema::<std::num::NonZeroU32>();
    assert_eq!(nonzero["minimum"], 1);
    assert_eq!(nonzero["maximum"], u32::MAX);
    let d = differences(&schema::<u32>(), &nonzero);
    assert_eq!(
        d[0].to_string(),
        "field `the payload`: range narrowed from 0..=4294967295 to 1..=4294967295"
    );
}

#[test]
fn an_enum_value_removed_breaks_backward_and_one_added_breaks_forward() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Fewer {
        Physical,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum More {
        Physical,
        Digital,
        Subscription,
    }
    order_variant!(Removed {
        order_id: String, kind: Fewer, lines: Vec<v1::Line>,
        #[serde(default)] note: Option<String>, completion: v1::Completion
    });
    order_variant!(Added {
        order_id: String, kind: More, lines: Vec<v1::Line>,
        #[serde(default)] note: Option<String>, completion: v1::Completion
    });
    assert_eq!(
        diff::<v1::Order, Removed>(),
        vec![("kind".into(), Change::EnumValueRemoved("digital".into()))]
    );
    assert!(!allowed::<v1::Order, Removed>(Rule::Backward));
    assert!(allowed::<v1::Order, Removed>(Rule::Forward));
    assert_eq!(
        diff::<v1::Order, Added>(),
        vec![("kind".into(), Change::EnumValueAdded("subscription".into()))]
    );
    assert!(allowed::<v1::Order, Added>(Rule::Backward));
    assert!(!allowed::<v1::Order, Added>(Rule::Forward));
}

#[test]
fn documented_enum_values_are_read_as_values_too() {
    /// Kinds.
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Documented {
        /// Goods.
        Physical,
    }
    order_variant!(Order {
        order_id: String, kind: Documented, lines: Vec<v1::Line>,
        #[serde(default)] note: Option<String>, completion: v1::Completion
    });
    assert_eq!(
        diff::<v1::Order, Order>(),
        vec![("kind".into(), Change::EnumValueRemoved("digital".into()))]
    );
}

#[test]
fn a_tagged_union_is_compared_variant_by_variant() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Completion {
        All,
        First { n: String },
        Deadline,
    }
    order_variant!(Order {
        order_id: String, kind: v1::Kind, lines: Vec<v1::Line>,
        #[serde(default)] note: Option<String>, completion: Completion
    });
    let d: Vec<String> = differences(&schema::<v1::Order>(), &schema::<Order>())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        d,
        vec![
            "field `completion`: enum value `kind=deadline` added",
            "field `completion{kind=first}.n`: retyped from integer (uint) to string",
        ]
    );
}

#[test]
fn required_to_optional_and_back() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Required {
        note: String,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Optional {
        #[serde(default)]
        note: String,
    }
    assert_eq!(
        diff::<Required, Optional>(),
        vec![("note".into(), Change::BecameOptional)]
    );
    assert!(allowed::<Required, Optional>(Rule::Backward));
    assert!(!allowed::<Required, Optional>(Rule::Forward));
    assert_eq!(
        diff::<Optional, Required>(),
        vec![("note".into(), Change::BecameRequired)]
    );
    assert!(!allowed::<Optional, Required>(Rule::Backward));
    assert!(allowed::<Optional, Required>(Rule::Forward));
}

#[test]
fn null_allowed_or_refused() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Plain {
        line: v1::Line,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Nullable {
        line: Option<v1::Line>,
    }
    let d = diff::<Plain, Nullable>();
    assert!(d.contains(&("line".into(), Change::NullAllowed)), "{d:?}");
    assert!(allowed::<Plain, Nullable>(Rule::Backward));
    assert!(!allowed::<Plain, Nullable>(Rule::Forward));
    let d = diff::<Nullable, Plain>();
    assert!(d.contains(&("line".into(), Change::NullRefused)), "{d:?}");
    assert!(!allowed::<Nullable, Plain>(Rule::Backward));
}

#[test]
fn a_map_value_retyped_is_found() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Old {
        faults: std::collections::BTreeMap<String, String>,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct New {
        faults: std::collections::BTreeMap<String, u32>,
    }
    assert_eq!(
        diff::<Old, New>()[0].0,
        "faults{*}",
        "{:?}",
        diff::<Old, New>()
    );
}

mod closed {
    //! Objects that refuse fields they do not know (`deny_unknown_fields`).
    use super::*;

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Order {
        pub order_id: String,
        #[serde(default)]
        pub note: Option<String>,
    }
}

#[test]
fn an_optional_field_added_to_a_closed_type_breaks_forward() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Order {
        order_id: String,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        gift: bool,
    }
    let d = differences(&schema::<closed::Order>(), &schema::<Order>());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].to_string(),
        "field `gift`: optional field added to a type closed to unknown fields: old readers \
         refuse it"
    );
    assert_eq!(d[0].breaks(), "FORWARD");
    // As serde does: the old type refuses what the new one writes.
    let new = serde_json::json!({"order_id": "o-1", "gift": true});
    assert!(serde_json::from_value::<closed::Order>(new).is_err());
}

#[test]
fn an_optional_field_removed_from_a_closed_type_breaks_backward() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Order {
        order_id: String,
    }
    let d = differences(&schema::<closed::Order>(), &schema::<Order>());
    assert_eq!(
        d,
        vec![Difference {
            path: "note".into(),
            change: Change::OptionalField {
                added: false,
                closed: true
            }
        }]
    );
    assert_eq!(d[0].breaks(), "BACKWARD");
    let old = serde_json::json!({"order_id": "o-1", "note": "n"});
    assert!(serde_json::from_value::<Order>(old).is_err());
}

#[test]
fn required_fields_added_to_or_removed_from_a_closed_type_break_both() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct More {
        order_id: String,
        #[serde(default)]
        note: Option<String>,
        currency: String,
    }
    let d = differences(&schema::<closed::Order>(), &schema::<More>());
    assert_eq!(d[0].change, Change::RequiredFieldAdded { closed: true });
    assert_eq!(d[0].breaks(), "BACKWARD and FORWARD");
    let d = differences(&schema::<More>(), &schema::<closed::Order>());
    assert_eq!(d[0].change, Change::RequiredFieldRemoved { closed: true });
    assert_eq!(d[0].breaks(), "BACKWARD and FORWARD");
}

#[test]
fn closing_a_type_breaks_backward_and_opening_it_forward() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Open {
        order_id: String,
        #[serde(default)]
        note: Option<String>,
    }
    let d = differences(&schema::<Open>(), &schema::<closed::Order>());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].change, Change::Closed);
    assert_eq!(d[0].breaks(), "BACKWARD");
    assert!(allowed::<Open, closed::Order>(Rule::Forward));
    assert!(!allowed::<Open, closed::Order>(Rule::Backward));
    // Data of the open version may carry a field it does not name; only the closed type
    // refuses it.
    let data = serde_json::json!({"order_id": "o-1", "channel": "web"});
    assert!(serde_json::from_value::<Open>(data.clone()).is_ok());
    assert!(serde_json::from_value::<closed::Order>(data).is_err());
    let d = differences(&schema::<closed::Order>(), &schema::<Open>());
    assert_eq!(d[0].change, Change::Opened);
    assert_eq!(d[0].breaks(), "FORWARD");
}

#[test]
fn a_closed_union_variant_is_judged_as_a_closed_type() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
    enum Old {
        Credit { amount: i64 },
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
    enum New {
        Credit {
            amount: i64,
            reference: Option<String>,
        },
    }
    let d: Vec<String> = differences(&schema::<Old>(), &schema::<New>())
        .iter()
        .map(|d| format!("{d} (breaks {})", d.breaks()))
        .collect();
    assert_eq!(
        d,
        vec![
            "field `{command=credit}.reference`: optional field added to a type closed to \
             unknown fields: old readers refuse it (breaks FORWARD)"
        ]
    );
}

#[test]
fn string_and_array_constraints_are_compared() {
    let old = serde_json::json!({"type": "object", "properties": {
        "id": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    }});
    let new = serde_json::json!({"type": "object", "properties": {
        "id": {"type": "string", "minLength": 1, "pattern": "^\\S"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3, "uniqueItems": true},
    }});
    let d: Vec<String> = differences(&old, &new)
        .iter()
        .map(|d| format!("{d} (breaks {})", d.breaks()))
        .collect();
    assert_eq!(
        d,
        vec![
            "field `id`: length narrowed from 0.. to 1.. (breaks BACKWARD)",
            "field `id`: pattern `^\\S` added (breaks BACKWARD)",
            "field `tags`: number of items narrowed from 0.. to 0..=3 (breaks BACKWARD)",
            "field `tags`: items made unique (breaks BACKWARD)",
        ]
    );
    let back: Vec<&str> = differences(&new, &old).iter().map(|d| d.breaks()).collect();
    assert_eq!(back, vec!["FORWARD"; 4]);
}

#[test]
fn a_keyword_the_gate_does_not_read_breaks_both_ways() {
    let old = serde_json::json!({"type": "integer", "format": "int32"});
    let new = serde_json::json!({"type": "integer", "format": "int32", "not": {"const": 0}});
    let d = differences(&old, &new);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].to_string(),
        "field `the payload`: `not` changed from absent to {\"const\":0} (a keyword the gate \
         does not read: taken as breaking)"
    );
    assert_eq!(d[0].breaks(), "BACKWARD and FORWARD");
    // Annotations are not changes.
    let described = serde_json::json!({"type": "integer", "format": "int32", "description": "n"});
    assert_eq!(differences(&old, &described), vec![]);
}

#[test]
fn an_object_that_becomes_a_map_is_a_retype() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Old {
        faults: v1::Line,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct New {
        faults: std::collections::BTreeMap<String, String>,
    }
    let d: Vec<String> = differences(&schema::<Old>(), &schema::<New>())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        d.contains(&"field `faults`: retyped from object to map of string".to_owned()),
        "{d:?}"
    );
    // The old fields, now map entries, are compared with the map's values.
    assert!(
        d.contains(&"field `faults.quantity`: retyped from integer (uint32) to string".to_owned()),
        "{d:?}"
    );
}
