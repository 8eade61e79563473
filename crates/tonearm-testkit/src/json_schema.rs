//! A small JSON Schema checker for the subset tonearm's published schemas use (the control
//! API's `docs/control-api/schema.json`): `type` (one or several), `properties`, `required`,
//! `additionalProperties: false`, `items`, `enum`, `const`, `oneOf` (exactly one branch),
//! `$ref` to `#/$defs/...`, `minimum`/`maximum`, `minLength`. Anything else in a schema is an
//! error, so a schema can't silently rely on a keyword nothing checks.
//!
//! Used by the control API's tests (unit and end to end). Depends on serde_json only.

use serde_json::Value;

/// The errors of `value` against the definition `def` of `schema` (`$defs/<def>`), each with
/// the JSON pointer where it is; empty when it conforms.
pub fn check(schema: &Value, def: &str, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    match schema.pointer(&format!("/$defs/{def}")) {
        Some(s) => check_at(schema, s, value, "", &mut errors),
        None => errors.push(format!("the schema has no $defs/{def}")),
    }
    errors
}

/// Panics with every error when `value` does not conform to `$defs/<def>`.
pub fn assert_conforms(schema: &Value, def: &str, value: &Value) {
    let errors = check(schema, def, value);
    assert!(
        errors.is_empty(),
        "{value} does not match $defs/{def}:\n{}",
        errors.join("\n")
    );
}

const KNOWN: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "oneOf",
    "$ref",
    "minimum",
    "maximum",
    "minLength",
    "description",
    "title",
    "examples",
];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

fn check_at(root: &Value, s: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(obj) = s.as_object() else {
        if s.as_bool() == Some(false) {
            errors.push(format!("{at}: nothing is allowed here"));
        }
        return;
    };
    for k in obj.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errors.push(format!("{at}: the checker does not know the keyword `{k}`"));
        }
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => check_at(root, target, v, at, errors),
            None => errors.push(format!("{at}: unresolved $ref {r}")),
        }
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| type_ok(t, v)) {
            errors.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = obj.get("const") {
        if c != v {
            errors.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(Value::Array(options)) = obj.get("enum") {
        if !options.contains(v) {
            errors.push(format!(
                "{at}: {v} is not one of {}",
                Value::Array(options.clone())
            ));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
            if n < min {
                errors.push(format!("{at}: {n} < minimum {min}"));
            }
        }
        if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
            if n > max {
                errors.push(format!("{at}: {n} > maximum {max}"));
            }
        }
    }
    if let (Some(min), Some(s)) = (obj.get("minLength").and_then(Value::as_u64), v.as_str()) {
        if (s.chars().count() as u64) < min {
            errors.push(format!("{at}: shorter than {min}"));
        }
    }
    if let (Some(items), Some(a)) = (obj.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            check_at(root, items, x, &format!("{at}/{i}"), errors);
        }
    }
    if let Some(o) = v.as_object() {
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = obj.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(r) {
                    errors.push(format!("{at}: missing required `{r}`"));
                }
            }
        }
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check_at(root, ps, x, &format!("{at}/{k}"), errors),
                None => {
                    if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
                        errors.push(format!("{at}: unexpected property `{k}`"));
                    }
                }
            }
        }
    }
    if let Some(Value::Array(branches)) = obj.get("oneOf") {
        let mut matched = 0;
        let mut why = Vec::new();
        for (i, b) in branches.iter().enumerate() {
            let mut e = Vec::new();
            check_at(root, b, v, at, &mut e);
            if e.is_empty() {
                matched += 1;
            } else {
                why.push(format!("  branch {i}: {}", e.join("; ")));
            }
        }
        if matched != 1 {
            errors.push(format!(
                "{at}: matches {matched} of the oneOf branches (exactly one wanted){}",
                if matched == 0 {
                    format!("\n{}", why.join("\n"))
                } else {
                    String::new()
                }
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_subset_is_checked() {
        let schema = json!({"$defs": {
            "Thing": {"type": "object", "additionalProperties": false,
                "required": ["kind", "n"],
                "properties": {
                    "kind": {"enum": ["a", "b"]},
                    "n": {"type": "integer", "minimum": 0, "maximum": 10},
                    "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "child": {"type": ["null", "object"], "oneOf": [{"type": "null"}, {"$ref": "#/$defs/Thing"}]}
                }}
        }});
        assert_conforms(
            &schema,
            "Thing",
            &json!({"kind": "a", "n": 3, "tags": ["x"], "child": null}),
        );
        assert_conforms(
            &schema,
            "Thing",
            &json!({"kind": "b", "n": 0, "child": {"kind": "a", "n": 1}}),
        );
        for bad in [
            json!({"kind": "c", "n": 3}),
            json!({"kind": "a"}),
            json!({"kind": "a", "n": 11}),
            json!({"kind": "a", "n": 1.5}),
            json!({"kind": "a", "n": 1, "extra": true}),
            json!({"kind": "a", "n": 1, "tags": [""]}),
            json!({"kind": "a", "n": 1, "child": {"kind": "a"}}),
            json!([]),
        ] {
            assert!(!check(&schema, "Thing", &bad).is_empty(), "{bad}");
        }
        assert!(!check(&json!({"$defs": {"X": {"pattern": "x"}}}), "X", &json!("x")).is_empty());
        assert!(!check(&schema, "Nope", &json!(1)).is_empty());
    }
}
