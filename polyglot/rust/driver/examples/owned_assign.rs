//! A driver for an engine whose compound assignment takes only an owned `Value`: `t += b`
//! compiles, `t += &b` and `t += 2.0` do not. Its arithmetic takes owned Values and numbers on
//! either side (`v + 2.0`, `2.0 - v`).
//!
//! `cargo build --example owned_assign`, then
//! `python -m conformance --exec "polyglot/rust/target/debug/examples/owned_assign"`.

#[path = "toy/mod.rs"]
mod toy;

/// The toy engine's number operands: `Value op f64` and the reflected `f64 op Value`.
mod numbers {
    use super::toy::Value;
    use std::ops::{Add, Div, Mul, Sub};

    macro_rules! number_operands {
        ($($trait:ident $method:ident),*) => {$(
            impl $trait<f64> for Value {
                type Output = Value;
                fn $method(self, c: f64) -> Value {
                    self.$method(Value::new(c))
                }
            }
            impl $trait<Value> for f64 {
                type Output = Value;
                fn $method(self, v: Value) -> Value {
                    Value::new(self).$method(v)
                }
            }
        )*};
    }

    number_operands!(Add add, Sub sub, Mul mul, Div div);
}

// ANCHOR: adapter
use micrograd_driver::{Engine, Op, OpError, Operands, dispatch};
use toy::Value;

/// Serves the toy engine. Its `AddAssign` takes an owned `Value` only, so the in-place ops run in
/// form `vv` (`t += b.clone()`). Its users cannot write `t += 2.0`, so form `vc` is left out:
/// the harness is told `unsupported_op` rather than shown `t += Value::new(2.0)`.
pub struct Adapter;

impl Engine for Adapter {
    type Value = Value;

    fn name(&self) -> &str {
        "toy (compound assignment takes an owned Value)"
    }

    fn leaf(&self, x: f64) -> Value {
        Value::new(x)
    }

    fn apply(&self, op: Op, operands: Operands<'_, Value>) -> Result<Value, OpError> {
        dispatch!(op, operands; owned {
            add, sub, mul, div, neg, exp, tanh, relu,
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
