//! The engine served over the harness's wire protocol (`docs/PROTOCOL.md`).
//!
//! `cargo build --release` builds the `driver` binary around [`Adapter`]; then
//! `python -m conformance --exec polyglot/rust/target/release/driver`.

use std::sync::OnceLock;

use micrograd_driver::{Engine, Op, OpError, Operands, dispatch};

use crate::{Pow, Value};

/// [`Value`] as the harness drives it: every op in every form, through the operators and
/// methods a user writes (`&a + &b`, `2.0 - &a`, `t += &b`, `a.pow(2.0)`, `2.0_f64.pow(&a)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Adapter;

/// The planted bugs compiled in, named in the hello so reports say which build they are about.
const BUGS: [(&str, bool); 2] = [
    (
        "bug-inplace-overwrites",
        cfg!(feature = "bug-inplace-overwrites"),
    ),
    (
        "bug-tanh-exp-formula",
        cfg!(feature = "bug-tanh-exp-formula"),
    ),
];

impl Engine for Adapter {
    type Value = Value;

    fn name(&self) -> &str {
        static NAME: OnceLock<String> = OnceLock::new();
        NAME.get_or_init(|| {
            let bugs: Vec<&str> = BUGS
                .iter()
                .filter(|(_, on)| *on)
                .map(|(name, _)| *name)
                .collect();
            let name = concat!("micrograd-rs ", env!("CARGO_PKG_VERSION"));
            if bugs.is_empty() {
                name.to_owned()
            } else {
                format!("{name} ({})", bugs.join(", "))
            }
        })
    }

    fn leaf(&self, x: f64) -> Value {
        Value::new(x)
    }

    fn apply(&self, op: Op, operands: Operands<'_, Value>) -> Result<Value, OpError> {
        dispatch!(op, operands; borrowed { all })
    }

    fn backward(&self, output: &Value) {
        output.backward();
    }

    fn data(&self, value: &Value) -> f64 {
        value.data()
    }

    fn grad(&self, value: &Value) -> f64 {
        value.grad()
    }
}
