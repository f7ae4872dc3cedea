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
        vec![("gift".into(), Change::OptionalField { added: true })]
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
        vec![("currency".into(), Change::RequiredFieldAdded)]
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
        vec![("kind".into(), Change::RequiredFieldRemoved)]
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
        vec![("note".into(), Change::OptionalField { added: false })]
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
fn a_narrower_integer_is_a_retype() {
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
    assert_eq!(
        diff::<Old, New>(),
        vec![(
            "line.quantity".into(),
            Change::Retyped {
                from: "integer (uint32)".into(),
                to: "integer (uint8)".into()
            }
        )]
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
