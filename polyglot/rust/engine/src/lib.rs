//! A scalar reverse-mode autograd engine with micrograd's API, in float64 with PyTorch's
//! derivative conventions: the Rust reference engine of the conformance harness.
//!
//! ```
//! use micrograd_rs::Value;
//!
//! let a = Value::new(-4.0);
//! let b = Value::new(2.0);
//! let mut c = &a + &b;
//! let mut d = &(&a * &b) + &b.pow(3.0);
//! c += &c + 1.0;
//! c += 1.0 + &c + (-&a);
//! d += &d * 2.0 + (&b + &a).relu();
//! d += 3.0 * &d + (&b - &a).relu();
//! let e = c - d;
//! let f = e.pow(2.0);
//! let mut g = &f / 2.0;
//! g += 10.0 / f;
//! g.backward();
//!
//! assert_eq!(format!("{:.4}", g.data()), "24.7041"); // the forward pass
//! assert_eq!(format!("{:.4}", a.grad()), "138.8338"); // dg/da
//! assert_eq!(format!("{:.4}", b.grad()), "645.5773"); // dg/db
//! ```
//!
//! * [`Value`]: `Value::new`, `data()`, `grad()`, operators with Values owned or borrowed and
//!   `f64` on either side, compound assignment that builds a new node, `pow`, `exp`, `log`,
//!   `tanh`, `relu`, `sigmoid`, `sin`, `cos`, `sqrt`, `abs`, and `backward()` (iterative, leaves
//!   accumulating across calls like torch with `retain_graph=True`). Graphs of any depth are
//!   built, differentiated and dropped without recursion.
//! * [`nn`]: micrograd 0.1.0's `Neuron`, `Layer` and `MLP`.
//! * [`wire`]: the engine served over the harness's wire protocol (the `driver` binary).
//!
//! The features `bug-inplace-overwrites` and `bug-tanh-exp-formula` plant a bug each, for
//! proving that the harness rejects them; never enable them otherwise.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod engine;
pub mod nn;
pub mod wire;

pub use engine::{Exponent, Pow, Value};
