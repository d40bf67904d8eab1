//! A driver for an engine whose arithmetic takes no `f64` operands at all: `v + w` compiles,
//! `v + 2.0` and `2.0 - v` do not.
//!
//! `cargo build --example no_number_operands`, then
//! `python -m conformance --exec "polyglot/rust/target/debug/examples/no_number_operands"`.

#[path = "toy/mod.rs"]
mod toy;

// ANCHOR: adapter
use micrograd_driver::{Engine, Op, OpError, Operands, dispatch};
use toy::Value;

/// Serves the toy engine. Its operators take Values only, so binary ops run in form `vv`. Its
/// users cannot write `v + 2.0` or `2.0 - v`, so forms `vc` and `cv` are left out: the harness
/// is told `unsupported_op` (and says so in its report) rather than shown `v + Value::new(2.0)`,
/// which would hide the missing operator.
pub struct Adapter;

impl Engine for Adapter {
    type Value = Value;

    fn name(&self) -> &str {
        "toy (no number operands)"
    }

    fn leaf(&self, x: f64) -> Value {
        Value::new(x)
    }

    fn apply(&self, op: Op, operands: Operands<'_, Value>) -> Result<Value, OpError> {
        dispatch!(op, operands; owned {
            add: [vv], sub: [vv], mul: [vv], div: [vv], neg, exp, tanh, relu,
            iadd: [vv], isub: [vv], imul: [vv], idiv: [vv],
        })
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

fn main() -> std::io::Result<()> {
    micrograd_driver::serve(&Adapter)
}
// ANCHOR_END: adapter
