//! The driver crate vendored as a module instead of used as a dependency: `src/lib.rs` copied
//! into a project as `micrograd_driver.rs`. `dispatch!` names `Op`, `OpError` and `Operands`
//! through the crate root, so they are imported there.

#[allow(dead_code)] // what this driver does not call, `replay` say
#[path = "../src/lib.rs"]
mod micrograd_driver;
#[path = "toy/mod.rs"]
mod toy;

use micrograd_driver::{Engine, Op, OpError, Operands};
use toy::Value;

/// Serves the toy engine's `Value op Value` arithmetic.
struct Adapter;

impl Engine for Adapter {
    type Value = Value;

    fn name(&self) -> &str {
        "toy (vendored driver)"
    }

    fn leaf(&self, x: f64) -> Value {
        Value::new(x)
    }

    fn apply(&self, op: Op, operands: Operands<'_, Value>) -> Result<Value, OpError> {
        crate::dispatch!(op, operands; owned { add: [vv], mul: [vv], exp, tanh, relu })
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
