//! The estimated cost of a CRD's `x-kubernetes-validations` rules, checked at the CRD's creation
//! and update as kube-apiserver checks it: every rule's worst-case cost, times the number of
//! times it may run in one object (the cardinality of the node that declares it), must stay
//! within 10,000,000 (`StaticEstimatedCostLimit`), and the sum over the whole schema within
//! 100,000,000 (`StaticEstimatedCRDCostLimit`). Sizes come from `maxItems`, `maxProperties` and
//! `maxLength`, or, where a bound is missing, from what fits in a 3 MiB request.
//!
//! Faithful: the limits, the messages (`estimated rule cost exceeds budget by factor of …`, and
//! for the total `x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema
//! exceeds budget by factor of …`, with each rule that contributed named), the field paths, the
//! cardinality of a rule under lists and maps, the size estimates from the request bound
//! (`(3 MiB - 2) / (minimum element size + 1)` items, `(3 MiB - 2) / (minimum value size + 4)`
//! properties, `3 MiB - 2` characters, 32 for a duration or date-time). Simplified: the cost of
//! one evaluation is cel-go's model in outline, not to the unit: 1 per variable, field selection
//! and function call, 0 per constant, 10/30 per list/map literal, a string function or string
//! comparison `1 + ⌈0.1 × length⌉` (a regular expression's match that times
//! `⌈0.25 × pattern length⌉`), a comprehension (`all`, `exists`, `map`, `filter`, …) its range's
//! size times the cost of its step; types are not checked, so a value whose size is not known
//! from the schema is taken at the largest a request can hold.

use kube::core::cel::cel::Program;
use kube::core::cel::cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, LiteralValue, MapExpr, StructExpr,
};
use serde_json::Value;

/// kube-apiserver's `StaticEstimatedCostLimit`: one rule, times its cardinality.
pub const RULE_COST_LIMIT: u64 = 10_000_000;
/// kube-apiserver's `StaticEstimatedCRDCostLimit`: every rule of one version's schema.
pub const CRD_COST_LIMIT: u64 = 100_000_000;
/// The largest request body kube-apiserver accepts, which bounds every unbounded size.
const MAX_REQUEST_BYTES: u64 = 3 * 1024 * 1024;

const STRING_TRAVERSAL: f64 = 0.1;
const REGEX_LENGTH: f64 = 0.25;
const LIST_CREATE: u64 = 10;
const MAP_CREATE: u64 = 30;

/// One rule's estimated cost in one object: its own cost times its node's cardinality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCost {
    /// `<schema path>.properties[spec].x-kubernetes-validations[0].rule`
    pub field: String,
    pub cost: u64,
}

/// A rule or schema over the limits: the field and kube-apiserver's `Forbidden` detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostError {
    pub field: String,
    pub message: String,
}

/// Every rule of `schema` (an `openAPIV3Schema` at field path `path`) with its cost.
pub fn rule_costs(schema: &Value, path: &str) -> Vec<RuleCost> {
    let mut out = Vec::new();
    walk(schema, path, 1, &mut out);
    out
}

/// kube-apiserver's cost errors for `schema` at field path `path`: each rule over the per-rule
/// limit, and, when the total is over the per-CRD limit, each rule that contributed and the
/// schema itself.
pub fn check(schema: &Value, path: &str) -> Vec<CostError> {
    let costs = rule_costs(schema, path);
    let mut errors: Vec<CostError> = costs
        .iter()
        .filter(|r| r.cost > RULE_COST_LIMIT)
        .map(|r| CostError {
            field: r.field.clone(),
            message: budget_message("estimated rule cost", r.cost, RULE_COST_LIMIT),
        })
        .collect();
    let total = costs.iter().fold(0u64, |sum, r| sum.saturating_add(r.cost));
    if total > CRD_COST_LIMIT {
        // kube-apiserver names the most expensive rules, those that make up the excess.
        let mut expensive: Vec<&RuleCost> = costs.iter().collect();
        expensive.sort_by_key(|r| std::cmp::Reverse(r.cost));
        let mut named = 0u64;
        for rule in expensive {
            if total.saturating_sub(named) <= CRD_COST_LIMIT {
                break;
            }
            named = named.saturating_add(rule.cost);
            errors.push(CostError {
                field: rule.field.clone(),
                message: "contributed to estimated rule cost total exceeding cost limit for \
                          entire OpenAPIv3 schema"
                    .into(),
            });
        }
        errors.push(CostError {
            field: path.to_owned(),
            message: budget_message(
                "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema",
                total,
                CRD_COST_LIMIT,
            ),
        });
    }
    errors
}

/// kube-apiserver's `getCostErrorMessage`.
pub fn budget_message(what: &str, cost: u64, limit: u64) -> String {
    let factor = cost as f64 / limit as f64;
    let factor = if factor > 100.0 {
        "more than 100x".to_owned()
    } else if factor < 1.5 {
        format!("{factor:.6}x")
    } else {
        format!("{factor:.1}x")
    };
    format!(
        "{what} exceeds budget by factor of {factor} (try simplifying the rule, or adding \
         maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
}

fn walk(node: &Value, path: &str, cardinality: u64, out: &mut Vec<RuleCost>) {
    for (i, rule) in node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(text) = rule.get("rule").and_then(Value::as_str) else {
            continue;
        };
        // A rule that does not compile is refused by the schema's own check.
        let Ok(program) = Program::compile(text) else {
            continue;
        };
        let own = Estimator::default()
            .with("self", Shape::Node(node))
            .with("oldSelf", Shape::Node(node))
            .cost(&program.expression().expr)
            .cost;
        out.push(RuleCost {
            field: format!("{path}.x-kubernetes-validations[{i}].rule"),
            cost: own.saturating_mul(cardinality),
        });
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            walk(
                child,
                &format!("{path}.properties[{name}]"),
                cardinality,
                out,
            );
        }
    }
    if let Some(items) = node.get("items").filter(|i| i.is_object()) {
        let n = cardinality.saturating_mul(max_size(node));
        walk(items, &format!("{path}.items"), n, out);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        let n = cardinality.saturating_mul(max_size(node));
        walk(values, &format!("{path}.additionalProperties"), n, out);
    }
}

/// The fewest bytes a value of this schema takes in JSON (kube's `estimateMinSizeJSON`).
fn min_size(node: &Value) -> u64 {
    if node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return 1;
    }
    match node.get("type").and_then(Value::as_str) {
        Some("boolean") => 4,
        Some("integer" | "number") => 1,
        // `""`, `[]`, `{}`
        _ => 2,
    }
}

/// The most elements (of an array or map) or characters (of a string) a value of this schema
/// may hold: its bound, else what fits in one request.
fn max_size(node: &Value) -> u64 {
    let bound = |key: &str| node.get(key).and_then(Value::as_u64);
    match node.get("type").and_then(Value::as_str) {
        Some("array") => bound("maxItems").unwrap_or_else(|| {
            let items = node.get("items").map_or(2, min_size);
            (MAX_REQUEST_BYTES - 2) / (items + 1)
        }),
        Some("object")
            if node
                .get("additionalProperties")
                .is_some_and(Value::is_object) =>
        {
            bound("maxProperties").unwrap_or_else(|| {
                let values = node.get("additionalProperties").map_or(2, min_size);
                // `"":` before each value and `,` after it.
                (MAX_REQUEST_BYTES - 2) / (values + 4)
            })
        }
        Some("object") => node
            .get("properties")
            .and_then(Value::as_object)
            .map_or(1, |p| p.len() as u64),
        Some("string") => {
            bound("maxLength").unwrap_or_else(|| match node.get("format").and_then(Value::as_str) {
                Some("duration" | "date-time") => 32,
                Some("date") => 12,
                _ => MAX_REQUEST_BYTES - 2,
            })
        }
        _ => 1,
    }
}

/// What an expression's value is known to be: a node of the schema, or a value of a known
/// largest size (characters or elements).
#[derive(Clone, Copy, Debug)]
enum Shape<'a> {
    Node(&'a Value),
    Sized(u64),
}

impl<'a> Shape<'a> {
    fn size(self) -> u64 {
        match self {
            Shape::Node(node) => max_size(node),
            Shape::Sized(n) => n,
        }
    }

    /// The value of field (or map key) `name`.
    fn select(self, name: &str) -> Shape<'a> {
        let Shape::Node(node) = self else {
            return Shape::Sized(MAX_REQUEST_BYTES);
        };
        if let Some(child) = node.get("properties").and_then(|p| p.get(name)) {
            return Shape::Node(child);
        }
        match node.get("additionalProperties").filter(|v| v.is_object()) {
            Some(values) => Shape::Node(values),
            None => Shape::Sized(MAX_REQUEST_BYTES),
        }
    }

    /// What a comprehension over this value binds its variable to: an element, or a key.
    fn element(self) -> Shape<'a> {
        match self {
            Shape::Node(node) => match node.get("items").filter(|i| i.is_object()) {
                Some(items) => Shape::Node(items),
                // A map's keys: strings of any length a request allows.
                None => Shape::Sized(MAX_REQUEST_BYTES - 2),
            },
            Shape::Sized(_) => Shape::Sized(MAX_REQUEST_BYTES),
        }
    }
}

struct Estimate<'a> {
    cost: u64,
    shape: Shape<'a>,
}

#[derive(Clone, Default)]
struct Estimator<'a> {
    variables: Vec<(String, Shape<'a>)>,
}

fn traversal(size: u64) -> u64 {
    1 + (size as f64 * STRING_TRAVERSAL).ceil() as u64
}

impl<'a> Estimator<'a> {
    fn with(mut self, name: &str, shape: Shape<'a>) -> Self {
        self.variables.push((name.to_owned(), shape));
        self
    }

    fn lookup(&self, name: &str) -> Shape<'a> {
        self.variables
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(Shape::Sized(MAX_REQUEST_BYTES), |(_, s)| *s)
    }

    fn cost(&self, expr: &Expr) -> Estimate<'a> {
        match expr {
            Expr::Literal(literal) => Estimate {
                cost: 0,
                shape: Shape::Sized(match literal {
                    LiteralValue::String(s) => s.inner().chars().count() as u64,
                    _ => 1,
                }),
            },
            Expr::Ident(name) => Estimate {
                cost: 1,
                shape: self.lookup(name),
            },
            Expr::Select(select) => {
                let operand = self.cost(&select.operand.expr);
                Estimate {
                    cost: operand.cost.saturating_add(1),
                    shape: operand.shape.select(&select.field),
                }
            }
            Expr::List(list) => {
                let cost = list.elements.iter().fold(LIST_CREATE, |sum, e| {
                    sum.saturating_add(self.cost(&e.expr).cost)
                });
                Estimate {
                    cost,
                    shape: Shape::Sized(list.elements.len() as u64),
                }
            }
            Expr::Map(MapExpr { entries: map }) | Expr::Struct(StructExpr { entries: map, .. }) => {
                let cost = map.iter().fold(MAP_CREATE, |sum, entry| {
                    let inner = match &entry.expr {
                        EntryExpr::MapEntry(e) => self
                            .cost(&e.key.expr)
                            .cost
                            .saturating_add(self.cost(&e.value.expr).cost),
                        EntryExpr::StructField(f) => self.cost(&f.value.expr).cost,
                    };
                    sum.saturating_add(inner)
                });
                Estimate {
                    cost,
                    shape: Shape::Sized(map.len() as u64),
                }
            }
            Expr::Comprehension(c) => self.comprehension(c),
            Expr::Call(call) => self.call(call),
            Expr::Unspecified => Estimate {
                cost: 0,
                shape: Shape::Sized(1),
            },
        }
    }

    /// A comprehension (`all`, `exists`, `map`, `filter`, …): its range, then each step once per
    /// element of the range's largest size.
    fn comprehension(&self, c: &ComprehensionExpr) -> Estimate<'a> {
        let range = self.cost(&c.iter_range.expr);
        let size = range.shape.size();
        let mut inner = self.clone().with(&c.iter_var, range.shape.element());
        if let Some(second) = &c.iter_var2 {
            inner = inner.with(second, range.shape.element());
        }
        // The accumulator of `all`/`exists` is a boolean; of `map`/`filter` a list
        // whose size is the range's, which only the result's shape carries on.
        let inner = inner.with(&c.accu_var, Shape::Sized(1));
        let step = inner
            .cost(&c.loop_cond.expr)
            .cost
            .saturating_add(inner.cost(&c.loop_step.expr).cost);
        let cost = range
            .cost
            .saturating_add(self.cost(&c.accu_init.expr).cost)
            .saturating_add(size.saturating_mul(step))
            .saturating_add(inner.cost(&c.result.expr).cost);
        Estimate {
            cost,
            shape: Shape::Sized(size),
        }
    }

    /// A call: its operands, then the function's own cost on the value it works on.
    fn call(&self, call: &CallExpr) -> Estimate<'a> {
        let target = call.target.as_ref().map(|t| self.cost(&t.expr));
        let args: Vec<Estimate<'a>> = call.args.iter().map(|a| self.cost(&a.expr)).collect();
        let operands = target
            .iter()
            .chain(&args)
            .fold(0u64, |sum, e| sum.saturating_add(e.cost));
        // The value the function works on: the receiver, else the first argument.
        let subject = target.as_ref().or(args.first()).map(|e| e.shape);
        let (own, shape) = function_cost(call.func_name.as_str(), subject, &args);
        Estimate {
            cost: operands.saturating_add(own),
            shape,
        }
    }
}

/// A function's own cost and the shape of its result, from the value it works on (`subject`)
/// and its arguments.
fn function_cost<'a>(
    name: &str,
    subject: Option<Shape<'a>>,
    args: &[Estimate<'a>],
) -> (u64, Shape<'a>) {
    let subject_size = subject.map_or(1, Shape::size);
    match name {
        "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => {
            let largest = args.iter().map(|a| a.shape.size()).max().unwrap_or(1);
            (traversal(largest), Shape::Sized(1))
        }
        "startsWith" | "endsWith" => {
            let prefix = args.first().map_or(1, |a| a.shape.size());
            (traversal(prefix), Shape::Sized(1))
        }
        "matches" => {
            let pattern = args.last().map_or(1, |a| a.shape.size());
            let regex = ((pattern as f64 * REGEX_LENGTH).ceil() as u64).max(1);
            (
                traversal(subject_size).saturating_mul(regex),
                Shape::Sized(1),
            )
        }
        "@in" => {
            // A list is searched; a map is looked up.
            let container = args.get(1).map(|a| a.shape);
            let searched = match container {
                Some(Shape::Node(n)) if n.get("items").is_some() => max_size(n),
                Some(Shape::Sized(n)) => n,
                _ => 1,
            };
            (searched.max(1), Shape::Sized(1))
        }
        "size" | "has" | "_[_]" | "_&&_" | "_||_" | "!_" | "_?_:_" | "-_" => {
            let shape = match (name, subject) {
                ("_[_]", Some(s)) => s.element(),
                _ => Shape::Sized(1),
            };
            (1, shape)
        }
        "_+_" => (traversal(subject_size), Shape::Sized(subject_size)),
        // String functions of CEL and of Kubernetes' CEL libraries, and the
        // parsers of strings: a pass over the string.
        "contains" | "lowerAscii" | "upperAscii" | "trim" | "split" | "replace" | "indexOf"
        | "lastIndexOf" | "substring" | "charAt" | "join" | "find" | "findAll" | "format"
        | "quote" | "reverse" | "url" | "isURL" | "quantity" | "isQuantity" | "duration"
        | "timestamp" | "ip" | "isIP" | "cidr" | "isCIDR" | "semver" | "isSemver" | "string"
        | "bytes" | "int" | "double" => (traversal(subject_size), Shape::Sized(subject_size)),
        // The comprehensions' own helpers, arithmetic, conversions of scalars.
        _ => (1, Shape::Sized(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(list: Value, rule: &str) -> Value {
        let mut list = list;
        list["x-kubernetes-validations"] = json!([{ "rule": rule }]);
        json!({ "type": "object", "properties": { "names": list } })
    }

    #[test]
    fn the_size_of_an_unbounded_value_is_what_fits_in_a_request() {
        let list = json!({ "type": "array", "items": { "type": "string" } });
        assert_eq!(max_size(&list), (MAX_REQUEST_BYTES - 2) / 3);
        let map = json!({ "type": "object", "additionalProperties": { "type": "integer" } });
        assert_eq!(max_size(&map), (MAX_REQUEST_BYTES - 2) / 5);
        assert_eq!(
            max_size(&json!({ "type": "string" })),
            MAX_REQUEST_BYTES - 2
        );
        assert_eq!(
            max_size(&json!({ "type": "string", "format": "date-time" })),
            32
        );
        assert_eq!(max_size(&json!({ "type": "string", "maxLength": 63 })), 63);
    }

    #[test]
    fn an_iteration_costs_its_range_times_its_step_and_bounds_make_it_cheap() {
        let rule = "self.all(n, n.matches('^[a-z]+$'))";
        let unbounded = strings(
            json!({ "type": "array", "items": { "type": "string" } }),
            rule,
        );
        let costs = rule_costs(&unbounded, "s");
        assert_eq!(costs.len(), 1);
        assert_eq!(
            costs[0].field,
            "s.properties[names].x-kubernetes-validations[0].rule"
        );
        assert!(costs[0].cost > 100 * RULE_COST_LIMIT, "{costs:?}");

        let bounded = strings(
            json!({ "type": "array", "maxItems": 16,
                    "items": { "type": "string", "maxLength": 63 } }),
            rule,
        );
        let cost = rule_costs(&bounded, "s")[0].cost;
        assert!(cost < 10_000, "{cost}");
        assert!(check(&bounded, "s").is_empty());
    }

    #[test]
    fn a_rule_on_list_items_runs_once_per_item() {
        let schema = json!({ "type": "object", "properties": { "names": {
            "type": "array", "maxItems": 1000,
            "items": { "type": "string", "maxLength": 10,
                       "x-kubernetes-validations": [{ "rule": "self.startsWith('a')" }] }
        } } });
        let once = Estimator::default()
            .with("self", Shape::Sized(10))
            .cost(
                &Program::compile("self.startsWith('a')")
                    .unwrap()
                    .expression()
                    .expr,
            )
            .cost;
        let costs = rule_costs(&schema, "s");
        assert_eq!(
            costs[0].field,
            "s.properties[names].items.x-kubernetes-validations[0].rule"
        );
        assert_eq!(costs[0].cost, once * 1000);
    }

    #[test]
    fn over_the_rule_limit_is_refused_with_kube_apiservers_message() {
        let schema = strings(
            json!({ "type": "array", "items": { "type": "string" } }),
            "self.all(a, self.exists(b, a == b))",
        );
        let errors = check(&schema, "spec.versions[0].schema.openAPIV3Schema");
        assert_eq!(
            errors[0].field,
            "spec.versions[0].schema.openAPIV3Schema.properties[names].x-kubernetes-validations[0].rule"
        );
        assert_eq!(
            errors[0].message,
            "estimated rule cost exceeds budget by factor of more than 100x (try simplifying the \
             rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and \
             strings are declared)"
        );
    }

    #[test]
    fn the_total_of_rules_each_within_the_limit_may_exceed_the_schemas() {
        // Each rule about 6.2 million; twenty of them 124 million.
        let list = json!({ "type": "array", "maxItems": 60_000,
                           "items": { "type": "string", "maxLength": 1000 },
                           "x-kubernetes-validations": [{ "rule": "self.all(s, s.contains('x'))" }] });
        let properties: serde_json::Map<String, Value> = (0..20)
            .map(|i| (format!("p{i:02}"), list.clone()))
            .collect();
        let schema = json!({ "type": "object", "properties": properties });
        let costs = rule_costs(&schema, "s");
        assert!(costs.iter().all(|c| c.cost <= RULE_COST_LIMIT), "{costs:?}");
        let errors = check(&schema, "s");
        let last = errors.last().unwrap();
        assert_eq!(last.field, "s");
        assert!(
            last.message.starts_with(
                "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema \
                 exceeds budget by factor of 1."
            ),
            "{last:?}"
        );
        assert!(errors.len() > 2);
        assert!(errors[..errors.len() - 1].iter().all(|e| e.message
            == "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema"));
    }

    #[test]
    fn the_factor_is_written_as_kube_apiserver_writes_it() {
        assert!(budget_message("c", 12, 10).contains("factor of 1.200000x"));
        assert!(budget_message("c", 25, 10).contains("factor of 2.5x"));
        assert!(budget_message("c", 1001, 10).contains("factor of more than 100x"));
    }
}
