//! Serve a micrograd-style scalar autograd engine to the conformance harness.
//!
//! The harness (`python -m conformance --exec COMMAND`) checks an engine in any language over a
//! JSON-lines wire protocol (`docs/PROTOCOL.md`, version 1). This crate is the Rust end of it:
//! implement [`Engine`] for your `Value` type, let [`dispatch!`] map the harness's ops onto your
//! operators, and call [`serve`] from `main`:
//!
//! ```
//! # mod toy {
//! #     //! A stand-in engine: values only, no gradients.
//! #     #[derive(Clone)]
//! #     pub struct Value(pub f64);
//! #     impl Value {
//! #         pub fn new(x: f64) -> Self { Value(x) }
//! #         pub fn data(&self) -> f64 { self.0 }
//! #         pub fn grad(&self) -> f64 { 0.0 }
//! #         pub fn backward(&self) {}
//! #         pub fn tanh(&self) -> Value { Value(self.0.tanh()) }
//! #     }
//! #     impl std::ops::Add<&Value> for &Value { type Output = Value; fn add(self, b: &Value) -> Value { Value(self.0 + b.0) } }
//! #     impl std::ops::Add<f64> for &Value { type Output = Value; fn add(self, b: f64) -> Value { Value(self.0 + b) } }
//! #     impl std::ops::Add<&Value> for f64 { type Output = Value; fn add(self, b: &Value) -> Value { Value(self + b.0) } }
//! # }
//! use micrograd_driver::{Engine, Op, OpError, Operands, dispatch};
//! use toy::Value;
//!
//! /// Serves the toy engine: `add` in all three forms and `tanh`; every other op or form is
//! /// answered `unsupported_op`.
//! struct Toy;
//!
//! impl Engine for Toy {
//!     type Value = Value;
//!     fn name(&self) -> &str {
//!         "toy 0.1"
//!     }
//!     fn leaf(&self, x: f64) -> Value {
//!         Value::new(x)
//!     }
//!     fn apply(&self, op: Op, operands: Operands<'_, Value>) -> Result<Value, OpError> {
//!         dispatch!(op, operands; borrowed { add, tanh })
//!     }
//!     fn backward(&self, output: &Value) {
//!         output.backward()
//!     }
//!     fn data(&self, value: &Value) -> f64 {
//!         value.data()
//!     }
//!     fn grad(&self, value: &Value) -> f64 {
//!         value.grad()
//!     }
//! }
//!
//! // In a binary: `fn main() -> std::io::Result<()> { micrograd_driver::serve(&Toy) }`.
//! let answer = micrograd_driver::respond(
//!     &Toy,
//!     r#"{"type":"run","id":3,"nodes":[["input",1.5],["const",2.0],["add",1,0]],"output":2,"backward_passes":1}"#,
//! );
//! assert_eq!(answer, r#"{"type":"result","id":3,"values":[1.5,null,3.5],"grads":[0.0,null,null]}"#);
//! ```
//!
//! Then build it and point the harness at it:
//! `python -m conformance --exec "target/release/my-driver" --profile quick`.
//!
//! What the crate takes care of: the hello message; reading requests with a complete JSON reader
//! ([`json`], unknown keys ignored); answering `invalid_request` for malformed requests,
//! `unsupported_op` for ops and operand forms the engine leaves out, and `engine_error` for
//! engine failures, panics included (caught with [`std::panic::catch_unwind`], so the release
//! profile must keep `panic = "unwind"`); writing floats so they read back exactly
//! ([`json::write_f64`]); flushing after every message. [`assert_replay`] replays a failing
//! program (one "reproducer line" of the harness) in a `cargo test`.
//!
//! # Vendoring
//!
//! The crate is this one file and has no dependencies. To vendor it instead of depending on it,
//! copy it to `src/micrograd_driver.rs` and declare it at your crate root together with the
//! names [`dispatch!`] refers to through the crate root:
//!
//! ```text
//! #[allow(dead_code)] // the parts you do not call
//! mod micrograd_driver;
//! use micrograd_driver::{Op, OpError, Operands};
//! ```
//!
//! (`examples/vendored.rs` builds exactly that.)

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufRead, BufWriter, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use json::Json;

/// The version of `docs/PROTOCOL.md` this crate speaks (sent in the hello message).
pub const PROTOCOL_VERSION: u32 = 1;

// ------------------------------------------------------------------------------------------------
// The op table
// ------------------------------------------------------------------------------------------------

/// An operation of the harness's op table (`conformance/ops.py`), as named on the wire.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `a + b` (forms `vv`, `vc`, `cv`).
    Add,
    /// `a - b` (forms `vv`, `vc`, `cv`).
    Sub,
    /// `a * b` (forms `vv`, `vc`, `cv`).
    Mul,
    /// `a / b` (forms `vv`, `vc`, `cv`).
    Div,
    /// `a ** b`, spelled `a.pow(b)` (forms `vv`, `vc`, `cv`).
    Pow,
    /// `-a`.
    Neg,
    /// `a.exp()`.
    Exp,
    /// `a.log()`, the natural logarithm.
    Log,
    /// `a.tanh()`.
    Tanh,
    /// `a.relu()`.
    Relu,
    /// `a.sigmoid()`, `1 / (1 + exp(-a))`.
    Sigmoid,
    /// `a.sin()`.
    Sin,
    /// `a.cos()`.
    Cos,
    /// `a.sqrt()`.
    Sqrt,
    /// `a.abs()`.
    Abs,
    /// `let mut t = a.clone(); t += b` (forms `vv`, `vc`); must leave `a` as it was.
    IAdd,
    /// `let mut t = a.clone(); t -= b` (forms `vv`, `vc`).
    ISub,
    /// `let mut t = a.clone(); t *= b` (forms `vv`, `vc`).
    IMul,
    /// `let mut t = a.clone(); t /= b` (forms `vv`, `vc`).
    IDiv,
}

/// The operand kinds of an op application, in order: `v` a Value, `c` a plain `f64` constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// A unary op on a Value.
    V,
    /// Value op Value.
    VV,
    /// Value op number (`v + 2.0`).
    VC,
    /// Number op Value (`2.0 - v`): the reflected op, `impl Sub<Value> for f64`.
    CV,
}

impl Op {
    /// Every op, in the order of the harness's table.
    pub const ALL: [Op; 19] = [
        Op::Add,
        Op::Sub,
        Op::Mul,
        Op::Div,
        Op::Pow,
        Op::Neg,
        Op::Exp,
        Op::Log,
        Op::Tanh,
        Op::Relu,
        Op::Sigmoid,
        Op::Sin,
        Op::Cos,
        Op::Sqrt,
        Op::Abs,
        Op::IAdd,
        Op::ISub,
        Op::IMul,
        Op::IDiv,
    ];

    /// The op's name on the wire (`"add"`, `"iadd"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::Div => "div",
            Op::Pow => "pow",
            Op::Neg => "neg",
            Op::Exp => "exp",
            Op::Log => "log",
            Op::Tanh => "tanh",
            Op::Relu => "relu",
            Op::Sigmoid => "sigmoid",
            Op::Sin => "sin",
            Op::Cos => "cos",
            Op::Sqrt => "sqrt",
            Op::Abs => "abs",
            Op::IAdd => "iadd",
            Op::ISub => "isub",
            Op::IMul => "imul",
            Op::IDiv => "idiv",
        }
    }

    /// The op called `name` on the wire, if there is one.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// How many operands the op takes (1 or 2).
    pub fn arity(self) -> usize {
        if self.forms() == [Form::V] { 1 } else { 2 }
    }

    /// The operand forms the protocol defines for the op.
    pub fn forms(self) -> &'static [Form] {
        match self {
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow => &[Form::VV, Form::VC, Form::CV],
            Op::IAdd | Op::ISub | Op::IMul | Op::IDiv => &[Form::VV, Form::VC],
            _ => &[Form::V],
        }
    }

    /// How a Rust user spells the op in `form`, for messages: `f64 - Value`, `Value += f64`.
    pub fn spelling(self, form: Form) -> String {
        let symbol = match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::IAdd => "+=",
            Op::ISub => "-=",
            Op::IMul => "*=",
            Op::IDiv => "/=",
            Op::Neg => return "-Value".to_owned(),
            Op::Pow => {
                return match form {
                    Form::VC => "Value.pow(f64)",
                    Form::CV => "f64.pow(Value)",
                    _ => "Value.pow(Value)",
                }
                .to_owned();
            }
            _ => return format!("Value.{}()", self.name()),
        };
        match form {
            Form::VC => format!("Value {symbol} f64"),
            Form::CV => format!("f64 {symbol} Value"),
            _ => format!("Value {symbol} Value"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Form {
    /// The form's name as the harness writes it (`"v"`, `"vv"`, `"vc"`, `"cv"`).
    pub fn name(self) -> &'static str {
        match self {
            Form::V => "v",
            Form::VV => "vv",
            Form::VC => "vc",
            Form::CV => "cv",
        }
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operands of one op application: borrowed Values and plain numbers, in the order given.
///
/// In `VV` both references may be the very same Value (`["mul", 3, 3]` is `v3 * v3`).
#[derive(Debug)]
pub enum Operands<'a, V> {
    /// The operand of a unary op.
    V(&'a V),
    /// Value op Value.
    VV(&'a V, &'a V),
    /// Value op number.
    VC(&'a V, f64),
    /// Number op Value: the reflected op.
    CV(f64, &'a V),
}

// Written out: a derive would require `V: Clone`, but only references are copied.
impl<V> Clone for Operands<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Operands<'_, V> {}

impl<V> Operands<'_, V> {
    /// The operands' form.
    pub fn form(&self) -> Form {
        match self {
            Operands::V(_) => Form::V,
            Operands::VV(..) => Form::VV,
            Operands::VC(..) => Form::VC,
            Operands::CV(..) => Form::CV,
        }
    }
}

/// Why an op application produced no Value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The engine has no such op or operand form: answered `unsupported_op`. Use it for what the
    /// engine's *users* cannot write either (no `AddAssign<f64>`: `t += 2.0` does not compile),
    /// rather than emulating the form.
    Unsupported,
    /// The engine failed: answered `engine_error` with this message.
    Failed {
        /// What went wrong, for humans.
        message: String,
        /// The name of the error type, shown in the report (optional).
        exception: Option<String>,
    },
}

impl OpError {
    /// An engine failure with a message and no error type.
    pub fn failed(message: impl Into<String>) -> Self {
        OpError::Failed {
            message: message.into(),
            exception: None,
        }
    }
}

/// Any error converts into [`OpError::Failed`], so `?` works in [`Engine::apply`].
impl<E: std::error::Error> From<E> for OpError {
    fn from(error: E) -> Self {
        OpError::Failed {
            message: error.to_string(),
            exception: Some(std::any::type_name::<E>().to_owned()),
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Unsupported => f.write_str("unsupported op or operand form"),
            OpError::Failed { message, .. } => f.write_str(message),
        }
    }
}

/// An autograd engine as the harness drives it: make leaves, apply ops, run `backward()`, read
/// `data` and `grad`.
///
/// Implement it on a unit struct (the adapter) for your `Value` type. Each request builds a fresh
/// graph; its Values are dropped when the answer has been computed, in creation order, as a
/// user's program drops them (so a recursive `Drop` on a deep graph shows up as a crash).
/// Panics anywhere in these methods are caught and answered `engine_error`.
pub trait Engine {
    /// The engine's scalar type.
    type Value;

    /// A non-empty name for the harness's reports: the engine's name and version, say.
    fn name(&self) -> &str;

    /// The ops claimed in the hello message. Claiming an op is not a promise for every form
    /// ([`apply`](Engine::apply) may still answer [`OpError::Unsupported`]); the default claims
    /// every op of [`Op::ALL`], and the harness learns what is missing by asking.
    fn ops(&self) -> &[Op] {
        &Op::ALL
    }

    /// A new leaf Value holding `x` (`Value::new(x)`); its gradient is checked.
    fn leaf(&self, x: f64) -> Self::Value;

    /// Applies `op` to `operands`, usually through [`dispatch!`].
    fn apply(&self, op: Op, operands: Operands<'_, Self::Value>) -> Result<Self::Value, OpError>;

    /// One `backward()` call on `output` (called `backward_passes` times, without zeroing).
    fn backward(&self, output: &Self::Value);

    /// The Value's `data`.
    fn data(&self, value: &Self::Value) -> f64;

    /// The Value's `grad`; asked of the program's input leaves only (the harness checks no
    /// other gradient), after the backward passes.
    fn grad(&self, value: &Self::Value) -> f64;
}

/// Maps the op table onto a type's operators and methods: the body of [`Engine::apply`].
///
/// ```text
/// dispatch!(op, operands; MODE { OP, OP: [FORM, ...], ... })
/// dispatch!(op, operands; MODE { all })
/// ```
///
/// `MODE` is `borrowed` (operands by reference: `&a + &b`, `&a * 2.0`, `2.0 - &a`, `-&a`,
/// `a.exp()`, `t += &b`) or `owned` (cloned Values: `a.clone() + b.clone()`, `a.clone() * 2.0`,
/// `2.0 - a.clone()`, `-a.clone()`, `a.clone().exp()`, `t += b.clone()`): drive whichever your
/// users write. An op listed without forms gets all of its forms; `all` lists every op. Ops and
/// forms left out answer `unsupported_op`, and no code is generated for them, so a `Value`
/// without `AddAssign<f64>` compiles with `iadd: [vv]`. Spellings, for Value operands `a`, `b`
/// and a number `c`:
///
/// * `add sub mul div`: `a + b` (`vv`), `a + c` (`vc`), `c + a` (`cv`, the reflected op: it
///   needs `impl Add<Value> for f64`, or `Add<&Value>` when borrowed; operands are never swapped);
/// * `pow`: `a.pow(b)`, `a.pow(c)`, and for `cv` `c.pow(a)`, a method on `f64` from an extension
///   trait of your engine that must be in scope (leave `cv` out if there is none);
/// * `neg`: `-a`; `exp log tanh relu sigmoid sin cos sqrt abs`: `a.exp()` and so on;
/// * `iadd isub imul idiv` (`vv`, `vc`): `let mut t = a.clone(); t += b; t`: a correct engine
///   leaves `a` as it was.
///
/// For anything else (a fallible op, a different name), match that case first and fall back:
///
/// ```text
/// match (op, operands) {
///     (Op::Pow, Operands::CV(c, a)) => Ok(Value::exp_base(c, a)),
///     _ => dispatch!(op, operands; borrowed { all }),
/// }
/// ```
///
/// The expansion names `Op`, `Operands` and `OpError` through `$crate`.
#[macro_export]
macro_rules! dispatch {
    ($op:expr, $operands:expr; $mode:ident { all $(,)? }) => {
        $crate::dispatch!($op, $operands; $mode {
            add, sub, mul, div, pow, neg, exp, log, tanh, relu, sigmoid, sin, cos, sqrt, abs,
            iadd, isub, imul, idiv
        })
    };
    ($op:expr, $operands:expr; $mode:ident {
        $($name:ident $(: [$($form:ident),* $(,)?])?),* $(,)?
    }) => {
        $crate::__dispatch!(@expand ($op, $operands) $mode [] $($name [$($($form)*)?])*)
    };
}

/// The machinery of [`dispatch!`]; not a public interface.
#[doc(hidden)]
#[macro_export]
macro_rules! __dispatch {
    // An op listed without forms gets all of them.
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] $name [@default $name] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default add] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] add [vv vc cv] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default sub] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] sub [vv vc cv] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default mul] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] mul [vv vc cv] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default div] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] div [vv vc cv] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default pow] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] pow [vv vc cv] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default iadd] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] iadd [vv vc] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default isub] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] isub [vv vc] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default imul] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] imul [vv vc] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default idiv] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] idiv [vv vc] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [@default $other:ident] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)*] $name [v] $($rest)*)
    };
    (@expand $ctx:tt $mode:ident [$($pairs:tt)*] $name:ident [$($form:ident)+] $($rest:tt)*) => {
        $crate::__dispatch!(@expand $ctx $mode [$($pairs)* $(($name $form))+] $($rest)*)
    };
    // Every (op, form) pair is listed: one match arm each.
    (@expand ($op:expr, $operands:expr) $mode:ident [$(($name:ident $form:ident))*]) => {
        match ($op, $operands) {
            $(
                ($crate::__dispatch!(@op $name), $crate::__dispatch!(@pattern $form a b)) => {
                    $crate::__dispatch!(@call $mode $name $form a b)
                }
            )*
            _ => ::core::result::Result::Err($crate::OpError::Unsupported),
        }
    };

    (@op add) => { $crate::Op::Add };
    (@op sub) => { $crate::Op::Sub };
    (@op mul) => { $crate::Op::Mul };
    (@op div) => { $crate::Op::Div };
    (@op pow) => { $crate::Op::Pow };
    (@op neg) => { $crate::Op::Neg };
    (@op exp) => { $crate::Op::Exp };
    (@op log) => { $crate::Op::Log };
    (@op tanh) => { $crate::Op::Tanh };
    (@op relu) => { $crate::Op::Relu };
    (@op sigmoid) => { $crate::Op::Sigmoid };
    (@op sin) => { $crate::Op::Sin };
    (@op cos) => { $crate::Op::Cos };
    (@op sqrt) => { $crate::Op::Sqrt };
    (@op abs) => { $crate::Op::Abs };
    (@op iadd) => { $crate::Op::IAdd };
    (@op isub) => { $crate::Op::ISub };
    (@op imul) => { $crate::Op::IMul };
    (@op idiv) => { $crate::Op::IDiv };
    (@op $other:ident) => {
        ::core::compile_error!(::core::concat!(
            "dispatch!: no op is named `", ::core::stringify!($other), "`; the ops are add, sub, ",
            "mul, div, pow, neg, exp, log, tanh, relu, sigmoid, sin, cos, sqrt, abs, iadd, isub, ",
            "imul, idiv"
        ))
    };

    (@pattern v $a:ident $b:ident) => { $crate::Operands::V($a) };
    (@pattern vv $a:ident $b:ident) => { $crate::Operands::VV($a, $b) };
    (@pattern vc $a:ident $b:ident) => { $crate::Operands::VC($a, $b) };
    (@pattern cv $a:ident $b:ident) => { $crate::Operands::CV($a, $b) };
    (@pattern $other:ident $a:ident $b:ident) => {
        ::core::compile_error!(::core::concat!(
            "dispatch!: no operand form is named `", ::core::stringify!($other),
            "`; the forms are v, vv, vc, cv"
        ))
    };

    (@call $mode:ident add $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@binary $mode + $form $a $b) };
    (@call $mode:ident sub $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@binary $mode - $form $a $b) };
    (@call $mode:ident mul $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@binary $mode * $form $a $b) };
    (@call $mode:ident div $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@binary $mode / $form $a $b) };
    (@call $mode:ident pow $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@pow $mode $form $a $b) };
    (@call $mode:ident iadd $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@assign $mode += $form $a $b) };
    (@call $mode:ident isub $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@assign $mode -= $form $a $b) };
    (@call $mode:ident imul $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@assign $mode *= $form $a $b) };
    (@call $mode:ident idiv $form:ident $a:ident $b:ident) => { $crate::__dispatch!(@assign $mode /= $form $a $b) };
    (@call borrowed neg v $a:ident $b:ident) => { ::core::result::Result::Ok(-$a) };
    (@call owned neg v $a:ident $b:ident) => {
        ::core::result::Result::Ok(-::core::clone::Clone::clone($a))
    };
    (@call borrowed $name:ident v $a:ident $b:ident) => { ::core::result::Result::Ok($a.$name()) };
    (@call owned $name:ident v $a:ident $b:ident) => {
        ::core::result::Result::Ok(::core::clone::Clone::clone($a).$name())
    };
    (@call $mode:ident $name:ident $form:ident $a:ident $b:ident) => {
        ::core::compile_error!(::core::concat!(
            "dispatch!: `", ::core::stringify!($name), "` has no operand form `",
            ::core::stringify!($form), "` in mode `", ::core::stringify!($mode),
            "` (modes: borrowed, owned; unary ops take v, add/sub/mul/div/pow vv/vc/cv, ",
            "iadd/isub/imul/idiv vv/vc)"
        ))
    };

    (@binary borrowed $op:tt vv $a:ident $b:ident) => { ::core::result::Result::Ok($a $op $b) };
    (@binary borrowed $op:tt vc $a:ident $b:ident) => { ::core::result::Result::Ok($a $op $b) };
    (@binary borrowed $op:tt cv $a:ident $b:ident) => { ::core::result::Result::Ok($a $op $b) };
    (@binary owned $op:tt vv $a:ident $b:ident) => {
        ::core::result::Result::Ok(::core::clone::Clone::clone($a) $op ::core::clone::Clone::clone($b))
    };
    (@binary owned $op:tt vc $a:ident $b:ident) => {
        ::core::result::Result::Ok(::core::clone::Clone::clone($a) $op $b)
    };
    (@binary owned $op:tt cv $a:ident $b:ident) => {
        ::core::result::Result::Ok($a $op ::core::clone::Clone::clone($b))
    };

    (@pow borrowed vv $a:ident $b:ident) => { ::core::result::Result::Ok($a.pow($b)) };
    (@pow borrowed vc $a:ident $b:ident) => { ::core::result::Result::Ok($a.pow($b)) };
    (@pow borrowed cv $a:ident $b:ident) => { ::core::result::Result::Ok($a.pow($b)) };
    (@pow owned vv $a:ident $b:ident) => {
        ::core::result::Result::Ok(::core::clone::Clone::clone($a).pow(::core::clone::Clone::clone($b)))
    };
    (@pow owned vc $a:ident $b:ident) => {
        ::core::result::Result::Ok(::core::clone::Clone::clone($a).pow($b))
    };
    (@pow owned cv $a:ident $b:ident) => {
        ::core::result::Result::Ok($a.pow(::core::clone::Clone::clone($b)))
    };

    (@assign borrowed $op:tt vv $a:ident $b:ident) => {{
        let mut t = ::core::clone::Clone::clone($a);
        t $op $b;
        ::core::result::Result::Ok(t)
    }};
    (@assign borrowed $op:tt vc $a:ident $b:ident) => {{
        let mut t = ::core::clone::Clone::clone($a);
        t $op $b;
        ::core::result::Result::Ok(t)
    }};
    (@assign owned $op:tt vv $a:ident $b:ident) => {{
        let mut t = ::core::clone::Clone::clone($a);
        t $op ::core::clone::Clone::clone($b);
        ::core::result::Result::Ok(t)
    }};
    (@assign owned $op:tt vc $a:ident $b:ident) => {{
        let mut t = ::core::clone::Clone::clone($a);
        t $op $b;
        ::core::result::Result::Ok(t)
    }};
    (@pow $mode:ident $form:ident $a:ident $b:ident) => {
        $crate::__dispatch!(@binary $mode pow $form $a $b)
    };
    (@$kind:ident $mode:ident $op:tt $form:ident $a:ident $b:ident) => {
        ::core::compile_error!(::core::concat!(
            "dispatch!: no operand form `", ::core::stringify!($form), "` for `",
            ::core::stringify!($op), "` in mode `", ::core::stringify!($mode),
            "` (modes: borrowed, owned; add/sub/mul/div/pow take vv/vc/cv, ",
            "iadd/isub/imul/idiv vv/vc)"
        ))
    };
}

// ------------------------------------------------------------------------------------------------
// Serving
// ------------------------------------------------------------------------------------------------

/// Serves `engine` on stdin/stdout until stdin ends: the hello, then one answer per request.
///
/// Returns an error only when stdin or stdout fail (the harness went away, say). Nothing else
/// may write to stdout meanwhile: the engine's own output belongs on stderr.
pub fn serve<E: Engine + ?Sized>(engine: &E) -> io::Result<()> {
    // stdout is a LineWriter; the BufWriter gathers a whole message (a 100,000-node answer is
    // megabytes) into few writes, and serve_io flushes it after each message.
    let output = BufWriter::new(io::stdout().lock());
    serve_io(engine, io::stdin().lock(), output)
}

/// [`serve`] on any reader and writer: writes the hello, then answers each request line of
/// `input` on `output` (blank lines are skipped), flushing after every message.
pub fn serve_io<E, R, W>(engine: &E, mut input: R, mut output: W) -> io::Result<()>
where
    E: Engine + ?Sized,
    R: BufRead,
    W: Write,
{
    send(&mut output, &hello(engine))?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let answer = match std::str::from_utf8(&line) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => respond(engine, text),
            Err(error) => error_line(
                None,
                "invalid_request",
                None,
                &format!("the request is not UTF-8: {error}"),
                None,
            ),
        };
        send(&mut output, &answer)?;
    }
}

fn send(output: &mut impl Write, message: &str) -> io::Result<()> {
    output.write_all(message.as_bytes())?;
    output.write_all(b"\n")?;
    output.flush()
}

/// The hello message (without its newline): protocol version, engine name, claimed ops.
pub fn hello<E: Engine + ?Sized>(engine: &E) -> String {
    let ops = engine
        .ops()
        .iter()
        .map(|op| Json::from(op.name()))
        .collect();
    let message = Json::Object(vec![
        ("type".to_owned(), Json::from("hello")),
        (
            "protocol".to_owned(),
            Json::from(u64::from(PROTOCOL_VERSION)),
        ),
        ("engine".to_owned(), Json::from(engine.name())),
        ("ops".to_owned(), Json::Array(ops)),
    ]);
    message.to_string()
}

/// The answer (without its newline) to one request line: a `result` or an `error` message.
pub fn respond<E: Engine + ?Sized>(engine: &E, line: &str) -> String {
    let request = match json::parse(line) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("the request is not JSON: {error}");
            return error_line(None, "invalid_request", None, &message, None);
        }
    };
    let (id, program) = read_request(&request, engine.ops());
    let Some(id) = id else {
        let problem = match program {
            Err(Rejection::Invalid(message)) => message,
            _ => format!(
                "\"id\" must be an integer, got {}",
                describe(request.get("id"))
            ),
        };
        return error_line(None, "invalid_request", None, &problem, None);
    };
    let program = match program {
        Ok(program) => program,
        Err(Rejection::Invalid(message)) => {
            return error_line(Some(id), "invalid_request", None, &message, None);
        }
        Err(Rejection::Unsupported { op, message }) => {
            return error_line(Some(id), "unsupported_op", Some(&op), &message, None);
        }
    };
    match run(engine, &program) {
        Ok(evaluation) => result_line(id, &evaluation),
        Err(Failure::Unsupported { node, op, form }) => {
            let message = format!(
                "{} does not implement {} (op \"{op}\", form {form}, node {node})",
                engine.name(),
                op.spelling(form)
            );
            error_line(Some(id), "unsupported_op", Some(op.name()), &message, None)
        }
        Err(Failure::Engine { message, exception }) => error_line(
            Some(id),
            "engine_error",
            None,
            &message,
            exception.as_deref(),
        ),
    }
}

fn result_line(id: i64, evaluation: &Evaluation) -> String {
    let column = |numbers: &[Option<f64>]| {
        Json::Array(
            numbers
                .iter()
                .map(|x| x.map_or(Json::Null, Json::from))
                .collect(),
        )
    };
    Json::Object(vec![
        ("type".to_owned(), Json::from("result")),
        ("id".to_owned(), Json::from(id)),
        ("values".to_owned(), column(&evaluation.values)),
        ("grads".to_owned(), column(&evaluation.grads)),
    ])
    .to_string()
}

fn error_line(
    id: Option<i64>,
    kind: &str,
    op: Option<&str>,
    message: &str,
    exception: Option<&str>,
) -> String {
    let mut fields = vec![
        ("type".to_owned(), Json::from("error")),
        ("id".to_owned(), id.map_or(Json::Null, Json::from)),
        ("kind".to_owned(), Json::from(kind)),
    ];
    if let Some(op) = op {
        fields.push(("op".to_owned(), Json::from(op)));
    }
    if let Some(exception) = exception {
        fields.push(("exception".to_owned(), Json::from(exception)));
    }
    fields.push(("message".to_owned(), Json::from(message)));
    Json::Object(fields).to_string()
}

// ------------------------------------------------------------------------------------------------
// Requests: reading and validating
// ------------------------------------------------------------------------------------------------

/// A validated `run` request.
#[derive(Debug)]
struct Program {
    nodes: Vec<Node>,
    output: usize,
    passes: u64,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Input(f64),
    Const(f64),
    Apply { op: Op, a: usize, b: Option<usize> },
}

#[derive(Debug)]
enum Rejection {
    Invalid(String),
    Unsupported { op: String, message: String },
}

/// The request's id (if it has a usable one) and its program (or why it cannot be run).
fn read_request(request: &Json, claimed: &[Op]) -> (Option<i64>, Result<Program, Rejection>) {
    let Json::Object(_) = request else {
        let message = format!(
            "the request must be a JSON object, got {}",
            describe(Some(request))
        );
        return (None, Err(Rejection::Invalid(message)));
    };
    let id = request.get("id").and_then(Json::as_i64);
    let program = match request.get("type") {
        Some(Json::String(kind)) if kind == "run" => read_program(request, claimed),
        other => Err(Rejection::Invalid(format!(
            "\"type\" must be \"run\", got {}",
            describe(other)
        ))),
    };
    (id, program)
}

fn read_program(request: &Json, claimed: &[Op]) -> Result<Program, Rejection> {
    let invalid = |message: String| Err(Rejection::Invalid(message));
    let raw_nodes = match request.get("nodes") {
        Some(Json::Array(nodes)) if !nodes.is_empty() => nodes,
        other => {
            return invalid(format!(
                "\"nodes\" must be a non-empty list, got {}",
                describe(other)
            ));
        }
    };
    let mut nodes = Vec::with_capacity(raw_nodes.len());
    for (i, raw) in raw_nodes.iter().enumerate() {
        let node = read_node(i, raw, &nodes, claimed)?;
        nodes.push(node);
    }
    let output = match request.get("output").and_then(Json::as_i64) {
        Some(k) if usize::try_from(k).is_ok_and(|k| k < nodes.len()) => k as usize,
        _ => {
            return invalid(format!(
                "\"output\" must be the index of a node (0 to {}), got {}",
                nodes.len() - 1,
                describe(request.get("output"))
            ));
        }
    };
    if let Node::Const(_) = nodes[output] {
        return invalid(format!(
            "\"output\" is node {output}, a constant; it must be a Value node"
        ));
    }
    let passes = match request.get("backward_passes") {
        None => 1,
        Some(raw) => match raw.as_i64() {
            Some(n) if n >= 1 => n as u64,
            _ => {
                return invalid(format!(
                    "\"backward_passes\" must be an integer >= 1, got {}",
                    describe(Some(raw))
                ));
            }
        },
    };
    Ok(Program {
        nodes,
        output,
        passes,
    })
}

fn read_node(i: usize, raw: &Json, earlier: &[Node], claimed: &[Op]) -> Result<Node, Rejection> {
    let invalid = |message: String| Err(Rejection::Invalid(message));
    let (name, args) = match raw {
        Json::Array(items) => match items.split_first() {
            Some((Json::String(name), args)) => (name.as_str(), args),
            _ => {
                return invalid(format!(
                    "node {i} must be a list [op, ...] starting with an op name, got {}",
                    describe(Some(raw))
                ));
            }
        },
        _ => {
            return invalid(format!(
                "node {i} must be a list [op, ...], got {}",
                describe(Some(raw))
            ));
        }
    };
    if name == "input" || name == "const" {
        let [value] = args else {
            return invalid(format!(
                "node {i} must be [\"{name}\", number], got {}",
                describe(Some(raw))
            ));
        };
        let Some(x) = value.as_wire_f64() else {
            return invalid(format!(
                "node {i}'s value must be a number or \"NaN\"/\"Infinity\"/\"-Infinity\", got {}",
                describe(Some(value))
            ));
        };
        return Ok(if name == "input" {
            Node::Input(x)
        } else {
            Node::Const(x)
        });
    }
    let Some(op) = Op::from_name(name).filter(|op| claimed.contains(op)) else {
        return Err(Rejection::Unsupported {
            op: name.to_owned(),
            message: match Op::from_name(name) {
                Some(_) => format!("this driver does not claim the op \"{name}\" in its hello"),
                None => format!("this driver serves no op named \"{name}\""),
            },
        });
    };
    if args.len() != op.arity() {
        return invalid(format!(
            "node {i} (\"{op}\") takes {} operand(s), got {}",
            op.arity(),
            args.len()
        ));
    }
    let mut indices = [0usize; 2];
    let mut is_const = [false; 2];
    for (k, arg) in args.iter().enumerate() {
        let index = arg
            .as_i64()
            .and_then(|j| usize::try_from(j).ok())
            .filter(|&j| j < i);
        let Some(index) = index else {
            let range = if i == 0 {
                "none exists".to_owned()
            } else {
                format!("0 to {}", i - 1)
            };
            return invalid(format!(
                "operand {k} of node {i} (\"{op}\") must be the index of an earlier node ({range}), got {}",
                describe(Some(arg))
            ));
        };
        indices[k] = index;
        is_const[k] = matches!(earlier[index], Node::Const(_));
    }
    let form = match (op.arity(), is_const) {
        (1, [false, _]) => Form::V,
        (2, [false, false]) => Form::VV,
        (2, [false, true]) => Form::VC,
        (2, [true, false]) => Form::CV,
        (1, _) => {
            return invalid(format!(
                "node {i} (\"{op}\") has a constant operand; it applies to a Value"
            ));
        }
        _ => {
            return invalid(format!(
                "node {i} (\"{op}\") has two constant operands; one must be a Value"
            ));
        }
    };
    if !op.forms().contains(&form) {
        let forms: Vec<&str> = op.forms().iter().map(|f| f.name()).collect();
        return invalid(format!(
            "node {i} (\"{op}\") has operands of form {form}; \"{op}\" takes {}",
            forms.join(", ")
        ));
    }
    let b = (op.arity() == 2).then_some(indices[1]);
    Ok(Node::Apply {
        op,
        a: indices[0],
        b,
    })
}

/// A short description of a JSON value (or its absence) for messages.
fn describe(value: Option<&Json>) -> String {
    match value {
        None => "nothing (the field is missing)".to_owned(),
        Some(value) => {
            let text = value.to_string();
            if text.chars().count() <= 60 {
                text
            } else {
                let head: String = text.chars().take(57).collect();
                format!("{head}...")
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Running a program on the engine
// ------------------------------------------------------------------------------------------------

/// What the engine computed: per node, the value and gradient (`None` for constants).
#[derive(Debug)]
struct Evaluation {
    values: Vec<Option<f64>>,
    grads: Vec<Option<f64>>,
}

#[derive(Debug)]
enum Failure {
    Unsupported {
        node: usize,
        op: Op,
        form: Form,
    },
    Engine {
        message: String,
        exception: Option<String>,
    },
}

enum Slot<V> {
    Value(V),
    Const(f64),
}

/// Runs `program` on the engine; a panic anywhere is an engine failure.
fn run<E: Engine + ?Sized>(engine: &E, program: &Program) -> Result<Evaluation, Failure> {
    install_panic_hook();
    // The engine's state after a panic is never looked at again: the graph is dropped (inside the
    // guarded closure) and the next request builds a new one.
    match panic::catch_unwind(AssertUnwindSafe(|| evaluate(engine, program))) {
        Ok(outcome) => outcome,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
            let location = LAST_PANIC_LOCATION.with(|cell| cell.borrow_mut().take());
            let message = match location {
                Some(location) => format!("the engine panicked at {location}: {text}"),
                None => format!("the engine panicked: {text}"),
            };
            Err(Failure::Engine {
                message,
                exception: Some("panic".to_owned()),
            })
        }
    }
}

fn evaluate<E: Engine + ?Sized>(engine: &E, program: &Program) -> Result<Evaluation, Failure> {
    // Dropped before the answer is written (a crash in an engine's Drop is then this request's),
    // in creation order, so the output's handle goes last and takes the graph with it, as in a
    // user's program; dropping in reverse order would hide a recursive Drop.
    let mut slots: Vec<Slot<E::Value>> = Vec::with_capacity(program.nodes.len());
    for (i, node) in program.nodes.iter().enumerate() {
        let slot = match *node {
            Node::Input(x) => Slot::Value(engine.leaf(x)),
            Node::Const(x) => Slot::Const(x),
            Node::Apply { op, a, b } => {
                let operands = match (&slots[a], b.map(|b| &slots[b])) {
                    (Slot::Value(a), None) => Operands::V(a),
                    (Slot::Value(a), Some(Slot::Value(b))) => Operands::VV(a, b),
                    (Slot::Value(a), Some(Slot::Const(c))) => Operands::VC(a, *c),
                    (Slot::Const(c), Some(Slot::Value(b))) => Operands::CV(*c, b),
                    // read_node admits no other combination.
                    _ => unreachable!("node {i}: operand kinds were validated"),
                };
                let form = operands.form();
                match engine.apply(op, operands) {
                    Ok(value) => Slot::Value(value),
                    Err(OpError::Unsupported) => {
                        return Err(Failure::Unsupported { node: i, op, form });
                    }
                    Err(OpError::Failed { message, exception }) => {
                        let message = format!("node {i} ({}): {message}", op.spelling(form));
                        return Err(Failure::Engine { message, exception });
                    }
                }
            }
        };
        slots.push(slot);
    }
    if let Slot::Value(output) = &slots[program.output] {
        for _ in 0..program.passes {
            engine.backward(output);
        }
    }
    let values = slots
        .iter()
        .map(|slot| match slot {
            Slot::Value(v) => Some(engine.data(v)),
            Slot::Const(_) => None,
        })
        .collect();
    // The harness reads the gradients of the inputs only (docs/PROTOCOL.md): an engine whose
    // only way to a gradient is costly (a Debug dump of the graph) pays it for the leaves alone.
    let grads = slots
        .iter()
        .zip(&program.nodes)
        .map(|(slot, node)| match (slot, node) {
            (Slot::Value(v), Node::Input(_)) => Some(engine.grad(v)),
            _ => None,
        })
        .collect();
    Ok(Evaluation { values, grads })
}

thread_local! {
    /// Where the current thread last panicked, recorded by the panic hook for the answer.
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records each panic's location for the `engine_error` message, then runs the hook that was
/// there before (std's prints the panic to stderr, never stdout; under `cargo test` it is
/// captured with the test's output).
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let location = info.location().map(ToString::to_string);
            LAST_PANIC_LOCATION.with(|cell| *cell.borrow_mut() = location);
            previous(info);
        }));
    });
}

// ------------------------------------------------------------------------------------------------
// Replaying reproducer lines
// ------------------------------------------------------------------------------------------------

/// Why a replayed program failed: every mismatch, and the program in Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFailure {
    /// The engine's name.
    pub engine: String,
    /// One line per problem: `grad of v0: expected 2.0, got 1.0 (|diff| 1 > tolerance 1e-15)`.
    pub problems: Vec<String>,
    /// The program as Rust statements (empty when the line could not be read).
    pub program: Vec<String>,
}

impl fmt::Display for ReplayFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        writeln!(f, "replaying a program on {}: {count} {noun}", self.engine)?;
        for problem in &self.problems {
            writeln!(f, "  {problem}")?;
        }
        if !self.program.is_empty() {
            writeln!(f, "the program:")?;
            for line in &self.program {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ReplayFailure {}

/// Replays a reproducer line on `engine` and panics with a readable list of every mismatch.
///
/// The line is a protocol `run` request, optionally with the harness's `expect` field (see
/// [`replay`]); the program runs through the same dispatch as [`serve`]:
///
/// ```should_panic
/// # use micrograd_driver::{Engine, Op, OpError, Operands};
/// # #[derive(Clone)] struct V(f64);
/// # struct Doubler;
/// # impl Engine for Doubler {
/// #     type Value = V;
/// #     fn name(&self) -> &str { "doubler" }
/// #     fn leaf(&self, x: f64) -> V { V(x) }
/// #     fn apply(&self, _: Op, _: Operands<'_, V>) -> Result<V, OpError> { Err(OpError::Unsupported) }
/// #     fn backward(&self, _: &V) {}
/// #     fn data(&self, v: &V) -> f64 { v.0 }
/// #     fn grad(&self, _: &V) -> f64 { 1.0 }
/// # }
/// // Panics: "grad of v0: expected 2.0, got 1.0 (|diff| 1 > tolerance 0)".
/// micrograd_driver::assert_replay(
///     &Doubler,
///     r#"{"type":"run","id":0,"nodes":[["input",1.5]],"output":0,"backward_passes":2,"expect":{"values":[1.5],"grads":[2.0],"value_tolerances":[0.0],"grad_tolerances":[0.0]}}"#,
/// );
/// ```
#[track_caller]
pub fn assert_replay<E: Engine + ?Sized>(engine: &E, line: &str) {
    if let Err(failure) = replay(engine, line) {
        panic!("{failure}");
    }
}

/// Replays a reproducer line on `engine`: `Ok` when every expectation holds.
///
/// The line is exactly a protocol `run` request (any `id`) plus an optional field `expect` that
/// drivers ignore: `{"values": [...], "grads": [...], "value_tolerances": [...],
/// "grad_tolerances": [...]}`, one entry per node (`null` where not checked; non-finite numbers as
/// `"NaN"`, `"Infinity"`, `"-Infinity"`). A number passes when the expected one is NaN and the
/// engine's is NaN, when the expected one is infinite and the engine's equals it, or else when the
/// engine's is finite and within the tolerance (an absolute difference; a missing tolerance is 0).
/// Without `expect`, every Value's data and every input's gradient must be finite.
pub fn replay<E: Engine + ?Sized>(engine: &E, line: &str) -> Result<(), ReplayFailure> {
    let fail = |problems: Vec<String>, program: Vec<String>| {
        Err(ReplayFailure {
            engine: engine.name().to_owned(),
            problems,
            program,
        })
    };
    let request = match json::parse(line.trim()) {
        Ok(request) => request,
        Err(error) => return fail(vec![format!("the line is not JSON: {error}")], Vec::new()),
    };
    let program = match read_request(&request, engine.ops()).1 {
        Ok(program) => program,
        Err(Rejection::Invalid(message) | Rejection::Unsupported { message, .. }) => {
            return fail(
                vec![format!("the line is not a runnable request: {message}")],
                Vec::new(),
            );
        }
    };
    let source = render(&program);
    let expect = match request.get("expect") {
        None | Some(Json::Null) => None,
        Some(raw) => match Expect::read(raw, program.nodes.len()) {
            Ok(expect) => Some(expect),
            Err(problem) => return fail(vec![problem], source),
        },
    };
    let evaluation = match run(engine, &program) {
        Ok(evaluation) => evaluation,
        Err(Failure::Unsupported { node, op, form }) => {
            let problem = format!(
                "node {node}: the engine does not implement {} (op \"{op}\", form {form})",
                op.spelling(form)
            );
            return fail(vec![problem], source);
        }
        Err(Failure::Engine { message, .. }) => {
            return fail(vec![format!("the engine failed: {message}")], source);
        }
    };
    let mut problems = Vec::new();
    for (i, node) in program.nodes.iter().enumerate() {
        let constant = match node {
            Node::Const(c) => Some(*c),
            _ => None,
        };
        let got_value = evaluation.values[i].or(constant);
        match &expect {
            Some(expect) => {
                let columns = [
                    ("value", &expect.values, &expect.value_tolerances, got_value),
                    (
                        "grad",
                        &expect.grads,
                        &expect.grad_tolerances,
                        evaluation.grads[i],
                    ),
                ];
                for (what, expected, tolerances, got) in columns {
                    if let Some(expected) = expected[i] {
                        let tolerance = tolerances[i].unwrap_or(0.0);
                        if let Some(problem) = compare(expected, got, tolerance) {
                            problems.push(format!("{what} of v{i}: {problem}"));
                        }
                    }
                }
            }
            None if constant.is_none() => {
                let mut columns = vec![("value", got_value)];
                if let Node::Input(_) = node {
                    columns.push(("grad", evaluation.grads[i]));
                }
                for (what, got) in columns {
                    if let Some(x) = got.filter(|x| !x.is_finite()) {
                        problems.push(format!(
                            "{what} of v{i}: got {}, expected a finite number (the line has no \"expect\")",
                            shown(x)
                        ));
                    }
                }
            }
            None => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        fail(problems, source)
    }
}

/// The `expect` field of a reproducer line.
struct Expect {
    values: Vec<Option<f64>>,
    grads: Vec<Option<f64>>,
    value_tolerances: Vec<Option<f64>>,
    grad_tolerances: Vec<Option<f64>>,
}

impl Expect {
    fn read(raw: &Json, n: usize) -> Result<Expect, String> {
        if !matches!(raw, Json::Object(_)) {
            return Err(format!(
                "\"expect\" must be an object, got {}",
                describe(Some(raw))
            ));
        }
        let column = |key: &str| -> Result<Vec<Option<f64>>, String> {
            let Some(raw) = raw.get(key) else {
                return Ok(vec![None; n]);
            };
            let Json::Array(items) = raw else {
                return Err(format!(
                    "expect.{key} must be a list, got {}",
                    describe(Some(raw))
                ));
            };
            if items.len() != n {
                return Err(format!(
                    "expect.{key} has {} entries, expected {n} (one per node)",
                    items.len()
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Json::Null => Ok(None),
                    _ => item.as_wire_f64().map(Some).ok_or_else(|| {
                        format!(
                            "expect.{key}[{i}] must be a number, null, or \"NaN\"/\"Infinity\"/\"-Infinity\", got {}",
                            describe(Some(item))
                        )
                    }),
                })
                .collect()
        };
        Ok(Expect {
            values: column("values")?,
            grads: column("grads")?,
            value_tolerances: column("value_tolerances")?,
            grad_tolerances: column("grad_tolerances")?,
        })
    }
}

/// Why `got` does not pass for `expected` within `tolerance`, if it does not.
fn compare(expected: f64, got: Option<f64>, tolerance: f64) -> Option<String> {
    let Some(got) = got else {
        return Some(format!(
            "expected {}, got nothing (a constant has no gradient)",
            shown(expected)
        ));
    };
    if expected.is_nan() {
        return (!got.is_nan()).then(|| format!("expected NaN, got {}", shown(got)));
    }
    if expected.is_infinite() {
        return (got != expected)
            .then(|| format!("expected {}, got {}", shown(expected), shown(got)));
    }
    if !got.is_finite() {
        return Some(format!(
            "expected {}, got {} (not finite)",
            shown(expected),
            shown(got)
        ));
    }
    let diff = (got - expected).abs();
    (diff > tolerance).then(|| {
        format!(
            "expected {}, got {} (|diff| {} > tolerance {})",
            shown(expected),
            shown(got),
            short(diff),
            short(tolerance)
        )
    })
}

/// A float as the protocol writes it, without the quotes around NaN and the infinities.
fn shown(x: f64) -> String {
    json::format_f64(x).trim_matches('"').to_owned()
}

/// `x` with 6 significant digits at most, like C's `%g`: `1`, `0.5`, `1e-15`.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let scientific = format!("{x:.5e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-5..6).contains(&exponent) {
        // Positional: the rounded value, shortest digits (`{}` writes no exponent).
        let rounded: f64 = format!("{mantissa}e{exponent}").parse().unwrap_or(x);
        format!("{rounded}")
    } else {
        format!("{mantissa}e{exponent}")
    }
}

/// The program as Rust statements (borrowed operators, as the seed API writes them).
fn render(program: &Program) -> Vec<String> {
    let operand = |j: usize| match program.nodes[j] {
        Node::Const(c) => literal(c),
        _ => format!("&v{j}"),
    };
    let mut lines = Vec::with_capacity(program.nodes.len() + 1);
    for (i, node) in program.nodes.iter().enumerate() {
        let (op, a, b) = match *node {
            Node::Input(x) => {
                lines.push(format!("let v{i} = Value::new({});", literal(x)));
                continue;
            }
            Node::Const(_) => continue,
            Node::Apply { op, a, b } => (op, a, b),
        };
        let (x, y) = (operand(a), b.map(operand).unwrap_or_default());
        let receiver = match program.nodes[a] {
            // `2.0.pow(..)` does not compile: a literal receiver needs its type.
            Node::Const(c) if c.is_finite() => format!("({}_f64)", literal(c)),
            Node::Const(c) => literal(c),
            _ => format!("v{a}"),
        };
        let expression = match op {
            Op::Add => format!("{x} + {y}"),
            Op::Sub => format!("{x} - {y}"),
            Op::Mul => format!("{x} * {y}"),
            Op::Div => format!("{x} / {y}"),
            Op::Pow => format!("{receiver}.pow({y})"),
            Op::Neg => format!("-{x}"),
            Op::IAdd | Op::ISub | Op::IMul | Op::IDiv => {
                let symbol = match op {
                    Op::IAdd => "+=",
                    Op::ISub => "-=",
                    Op::IMul => "*=",
                    _ => "/=",
                };
                lines.push(format!("let mut v{i} = {receiver}.clone();"));
                lines.push(format!("v{i} {symbol} {y};"));
                continue;
            }
            _ => format!("{receiver}.{op}()"),
        };
        lines.push(format!("let v{i} = {expression};"));
    }
    let passes = match program.passes {
        1 => String::new(),
        n => format!(" // {n} times"),
    };
    lines.push(format!("v{}.backward();{passes}", program.output));
    lines
}

/// A float as a Rust literal.
fn literal(x: f64) -> String {
    if x.is_nan() {
        "f64::NAN".to_owned()
    } else if x.is_infinite() {
        (if x > 0.0 {
            "f64::INFINITY"
        } else {
            "f64::NEG_INFINITY"
        })
        .to_owned()
    } else {
        json::format_f64(x)
    }
}

// ------------------------------------------------------------------------------------------------
// JSON
// ------------------------------------------------------------------------------------------------

pub mod json {
    //! A complete JSON reader (RFC 8259) and the writers the protocol needs.
    //!
    //! Floats are written so that they read back as the same `f64`, in the shortest such form:
    //! `0.1`, `1e+300`, `5e-324`, `-0.0` (never `-0`, which most readers take for the integer 0);
    //! NaN and the infinities as the protocol's strings `"NaN"`, `"Infinity"`, `"-Infinity"`.

    use std::fmt::{self, Write as _};

    /// Nesting deeper than this is rejected (requests nest 3 deep), bounding the reader's stack.
    pub const MAX_DEPTH: usize = 256;

    /// A JSON value. Objects keep their members in order; [`Json::get`] finds the last member
    /// with a key, as most readers do with duplicates.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Json {
        /// `null`.
        Null,
        /// `true` or `false`.
        Bool(bool),
        /// A number, kept as written.
        Number(Number),
        /// A string.
        String(String),
        /// A list.
        Array(Vec<Json>),
        /// An object's members, in order.
        Object(Vec<(String, Json)>),
    }

    /// A JSON number kept as its text, so integers beyond 2^53 (ids) stay exact.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Number(String);

    impl Number {
        /// The number as written.
        pub fn as_str(&self) -> &str {
            &self.0
        }

        /// The nearest `f64` (correctly rounded; beyond the range it is infinite).
        pub fn as_f64(&self) -> f64 {
            // The text is a valid JSON number, which is valid Rust float syntax: this never fails.
            self.0.parse().unwrap_or(f64::NAN)
        }

        /// The number as an `i64` if it is an integer in range (`7`, or `7.0`, `7e0`).
        pub fn as_i64(&self) -> Option<i64> {
            if let Ok(n) = self.0.parse::<i64>() {
                return Some(n);
            }
            let x = self.as_f64();
            // i64::MAX rounds up to 2^63 as a float, so the bound is exclusive.
            let in_range = x >= -(2f64.powi(63)) && x < 2f64.powi(63);
            (x.fract() == 0.0 && in_range).then_some(x as i64)
        }
    }

    impl Json {
        /// The value of the member `key` of an object (the last one, if repeated).
        pub fn get(&self, key: &str) -> Option<&Json> {
            match self {
                Json::Object(members) => {
                    members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
                }
                _ => None,
            }
        }

        /// An integer (see [`Number::as_i64`]).
        pub fn as_i64(&self) -> Option<i64> {
            match self {
                Json::Number(n) => n.as_i64(),
                _ => None,
            }
        }

        /// A number as the protocol writes it: a JSON number, or one of the strings `"NaN"`,
        /// `"Infinity"`, `"-Infinity"`.
        pub fn as_wire_f64(&self) -> Option<f64> {
            match self {
                Json::Number(n) => Some(n.as_f64()),
                Json::String(s) => match s.as_str() {
                    "NaN" => Some(f64::NAN),
                    "Infinity" => Some(f64::INFINITY),
                    "-Infinity" => Some(f64::NEG_INFINITY),
                    _ => None,
                },
                _ => None,
            }
        }

        /// The string, if it is one.
        pub fn as_str(&self) -> Option<&str> {
            match self {
                Json::String(s) => Some(s),
                _ => None,
            }
        }

        /// The items, if it is a list.
        pub fn as_array(&self) -> Option<&[Json]> {
            match self {
                Json::Array(items) => Some(items),
                _ => None,
            }
        }
    }

    /// A float as the protocol writes it: a number, or `"NaN"`/`"Infinity"`/`"-Infinity"`.
    impl From<f64> for Json {
        fn from(x: f64) -> Self {
            if x.is_finite() {
                Json::Number(Number(format_f64(x)))
            } else {
                Json::String(format_f64(x).trim_matches('"').to_owned())
            }
        }
    }

    impl From<i64> for Json {
        fn from(n: i64) -> Self {
            Json::Number(Number(n.to_string()))
        }
    }

    impl From<u64> for Json {
        fn from(n: u64) -> Self {
            Json::Number(Number(n.to_string()))
        }
    }

    impl From<bool> for Json {
        fn from(b: bool) -> Self {
            Json::Bool(b)
        }
    }

    impl From<&str> for Json {
        fn from(s: &str) -> Self {
            Json::String(s.to_owned())
        }
    }

    impl From<String> for Json {
        fn from(s: String) -> Self {
            Json::String(s)
        }
    }

    impl From<Vec<Json>> for Json {
        fn from(items: Vec<Json>) -> Self {
            Json::Array(items)
        }
    }

    /// Compact JSON: no spaces, one line.
    impl fmt::Display for Json {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut out = String::new();
            write_json(&mut out, self);
            f.write_str(&out)
        }
    }

    fn write_json(out: &mut String, value: &Json) {
        match value {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&n.0),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json(out, item);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (key, item)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    write_json(out, item);
                }
                out.push('}');
            }
        }
    }

    /// Appends `s` as a JSON string literal.
    pub fn write_string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 => {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// `x` as the protocol writes it (see [`write_f64`]).
    pub fn format_f64(x: f64) -> String {
        let mut out = String::new();
        write_f64(&mut out, x);
        out
    }

    /// Appends `x` so that a JSON reader gets the same `f64` back.
    ///
    /// The shortest digits that round-trip (Rust's float formatting guarantees that), written like
    /// Python's `repr`: positional when the decimal exponent is in `-4..16` and always with a
    /// fraction or an exponent (`3.0`, `0.0001`, `1e+16`, `1.5e-05`), so that every reader keeps
    /// a float a float. `{}` alone would write `1e300` as 301 digits and `-0.0` as `-0`.
    /// NaN and the infinities become the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
    pub fn write_f64(out: &mut String, x: f64) {
        if x.is_nan() {
            out.push_str("\"NaN\"");
            return;
        }
        if x.is_infinite() {
            out.push_str(if x > 0.0 {
                "\"Infinity\""
            } else {
                "\"-Infinity\""
            });
            return;
        }
        if x.is_sign_negative() {
            out.push('-');
        }
        if x == 0.0 {
            out.push_str("0.0");
            return;
        }
        // `{:e}` gives the shortest round-trip digits as `d.ddde<exponent>`.
        let scientific = format!("{:e}", x.abs());
        let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        if (-4..16).contains(&exponent) {
            if exponent < 0 {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
                out.push_str(&digits);
            } else {
                let point = exponent as usize + 1;
                if digits.len() > point {
                    out.push_str(&digits[..point]);
                    out.push('.');
                    out.push_str(&digits[point..]);
                } else {
                    out.push_str(&digits);
                    out.extend(std::iter::repeat_n('0', point - digits.len()));
                    out.push_str(".0");
                }
            }
        } else {
            out.push_str(&digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            let sign = if exponent < 0 { '-' } else { '+' };
            // Two digits at least, as Python writes them (1e-05).
            let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
        }
    }

    /// Why a text is not JSON, and where.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ParseError {
        /// The byte offset at which reading stopped.
        pub offset: usize,
        /// What was expected there.
        pub message: String,
    }

    impl fmt::Display for ParseError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} at byte {}", self.message, self.offset)
        }
    }

    impl std::error::Error for ParseError {}

    /// Reads one JSON value that spans all of `text` (whitespace around it allowed).
    pub fn parse(text: &str) -> Result<Json, ParseError> {
        let mut parser = Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        };
        let value = parser.value(0)?;
        parser.skip_whitespace();
        if parser.pos < parser.bytes.len() {
            return Err(parser.error("unexpected text after the JSON value"));
        }
        Ok(value)
    }

    struct Parser<'a> {
        text: &'a str,
        bytes: &'a [u8],
        pos: usize,
    }

    impl Parser<'_> {
        fn error(&self, message: &str) -> ParseError {
            let found = match self.text[self.pos..].chars().next() {
                None => "the end of the text".to_owned(),
                Some(c) => format!("{c:?}"),
            };
            ParseError {
                offset: self.pos,
                message: format!("{message}, found {found}"),
            }
        }

        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.pos).copied()
        }

        fn skip_whitespace(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.pos += 1;
            }
        }

        fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
            if depth > MAX_DEPTH {
                return Err(self.error(&format!("nesting deeper than {MAX_DEPTH} levels")));
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b'{') => self.object(depth),
                Some(b'[') => self.array(depth),
                Some(b'"') => self.string().map(Json::String),
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(b't') => self.literal("true", Json::Bool(true)),
                Some(b'f') => self.literal("false", Json::Bool(false)),
                Some(b'n') => self.literal("null", Json::Null),
                _ => Err(self.error("expected a JSON value")),
            }
        }

        fn literal(&mut self, word: &str, value: Json) -> Result<Json, ParseError> {
            if self.text[self.pos..].starts_with(word) {
                self.pos += word.len();
                Ok(value)
            } else {
                Err(self.error(&format!("expected `{word}`")))
            }
        }

        fn array(&mut self, depth: usize) -> Result<Json, ParseError> {
            self.pos += 1;
            let mut items = Vec::new();
            self.skip_whitespace();
            if self.peek() == Some(b']') {
                self.pos += 1;
                return Ok(Json::Array(items));
            }
            loop {
                items.push(self.value(depth + 1)?);
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        return Ok(Json::Array(items));
                    }
                    _ => return Err(self.error("expected ',' or ']' after a list item")),
                }
            }
        }

        fn object(&mut self, depth: usize) -> Result<Json, ParseError> {
            self.pos += 1;
            let mut members = Vec::new();
            self.skip_whitespace();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Json::Object(members));
            }
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return Err(self.error("expected a string key"));
                }
                let key = self.string()?;
                self.skip_whitespace();
                if self.peek() != Some(b':') {
                    return Err(self.error("expected ':' after an object key"));
                }
                self.pos += 1;
                members.push((key, self.value(depth + 1)?));
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        return Ok(Json::Object(members));
                    }
                    _ => return Err(self.error("expected ',' or '}' after an object member")),
                }
            }
        }

        fn number(&mut self) -> Result<Json, ParseError> {
            let start = self.pos;
            let digits = |parser: &mut Self| {
                let from = parser.pos;
                while let Some(b'0'..=b'9') = parser.peek() {
                    parser.pos += 1;
                }
                parser.pos > from
            };
            if self.peek() == Some(b'-') {
                self.pos += 1;
            }
            if self.peek() == Some(b'0') {
                self.pos += 1;
            } else if !digits(self) {
                return Err(self.error("expected a digit"));
            }
            if self.peek() == Some(b'.') {
                self.pos += 1;
                if !digits(self) {
                    return Err(self.error("expected a digit after the decimal point"));
                }
            }
            if let Some(b'e' | b'E') = self.peek() {
                self.pos += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.pos += 1;
                }
                if !digits(self) {
                    return Err(self.error("expected a digit in the exponent"));
                }
            }
            Ok(Json::Number(Number(self.text[start..self.pos].to_owned())))
        }

        fn string(&mut self) -> Result<String, ParseError> {
            self.pos += 1;
            let mut out = String::new();
            loop {
                let run_start = self.pos;
                while let Some(b) = self.peek() {
                    if b == b'"' || b == b'\\' || b < 0x20 {
                        break;
                    }
                    self.pos += 1;
                }
                // The run ends at an ASCII byte (or the end), so it is whole UTF-8.
                out.push_str(&self.text[run_start..self.pos]);
                match self.peek() {
                    Some(b'"') => {
                        self.pos += 1;
                        return Ok(out);
                    }
                    Some(b'\\') => {
                        self.pos += 1;
                        let escaped = match self.peek() {
                            Some(b'"') => '"',
                            Some(b'\\') => '\\',
                            Some(b'/') => '/',
                            Some(b'b') => '\u{8}',
                            Some(b'f') => '\u{c}',
                            Some(b'n') => '\n',
                            Some(b'r') => '\r',
                            Some(b't') => '\t',
                            Some(b'u') => {
                                self.pos += 1;
                                out.push(self.unicode_escape()?);
                                continue;
                            }
                            _ => return Err(self.error("expected an escape character after '\\'")),
                        };
                        self.pos += 1;
                        out.push(escaped);
                    }
                    Some(_) => {
                        return Err(
                            self.error("expected control characters in a string to be escaped")
                        );
                    }
                    None => return Err(self.error("expected '\"' to end the string")),
                }
            }
        }

        /// The character of a `\uXXXX` escape (just after the `u`), joining a surrogate pair;
        /// a lone surrogate, which no `char` can hold, becomes U+FFFD.
        fn unicode_escape(&mut self) -> Result<char, ParseError> {
            let high = self.hex4()?;
            if (0xD800..0xDC00).contains(&high) && self.text[self.pos..].starts_with("\\u") {
                let save = self.pos;
                self.pos += 2;
                let low = self.hex4()?;
                if (0xDC00..0xE000).contains(&low) {
                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    return Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                self.pos = save;
            }
            Ok(char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER))
        }

        fn hex4(&mut self) -> Result<u32, ParseError> {
            let hex = self
                .text
                .get(self.pos..self.pos + 4)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(hex) = hex else {
                return Err(self.error("expected 4 hex digits after '\\u'"));
            };
            self.pos += 4;
            Ok(u32::from_str_radix(hex, 16).unwrap_or(0xFFFD))
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::json::{self, Json};
    use super::*;

    // --- the JSON reader ------------------------------------------------------------------------

    #[test]
    fn the_reader_reads_every_kind_of_value() {
        let value = json::parse(
            r#" {"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "d"}, "e": [], "f": {}} "#,
        )
        .unwrap();
        let a = value.get("a").and_then(Json::as_array).unwrap();
        assert_eq!(a[0].as_i64(), Some(1));
        assert_eq!(a[1].as_wire_f64(), Some(-2500.0));
        assert_eq!(a[2].as_i64(), Some(0));
        assert_eq!(a[3..], [Json::Bool(true), Json::Bool(false), Json::Null]);
        assert_eq!(
            value
                .get("b")
                .and_then(|b| b.get("c"))
                .and_then(Json::as_str),
            Some("d")
        );
        assert_eq!(value.get("e"), Some(&Json::Array(vec![])));
        assert_eq!(value.get("f"), Some(&Json::Object(vec![])));
        assert_eq!(value.get("missing"), None);
    }

    #[test]
    fn the_reader_decodes_escapes_and_surrogate_pairs() {
        let text = r#""q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00 lone \ud800 end""#;
        let value = json::parse(text).unwrap();
        assert_eq!(
            value.as_str(),
            Some("q\" b\\ s/ \u{8}\u{c}\n\r\t é 😀 lone \u{fffd} end")
        );
        assert_eq!(
            json::parse("\"héllo ✓\"").unwrap().as_str(),
            Some("héllo ✓")
        );
    }

    #[test]
    fn the_reader_keeps_big_integers_exact_and_the_last_duplicate_key() {
        let value = json::parse(r#"{"id": 9007199254740993, "id2": 7.0, "k": 1, "k": 2}"#).unwrap();
        assert_eq!(
            value.get("id").and_then(Json::as_i64),
            Some(9_007_199_254_740_993)
        );
        assert_eq!(value.get("id2").and_then(Json::as_i64), Some(7));
        assert_eq!(value.get("k").and_then(Json::as_i64), Some(2));
        assert_eq!(json::parse("1.5").unwrap().as_i64(), None);
        assert_eq!(
            json::parse("1e400").unwrap().as_wire_f64(),
            Some(f64::INFINITY)
        );
    }

    #[test]
    fn the_reader_rejects_what_is_not_json_and_says_where() {
        let cases = [
            ("", 0, "expected a JSON value"),
            ("[1, 2", 5, "expected ',' or ']'"),
            ("[1 2]", 3, "expected ',' or ']'"),
            ("{\"a\" 1}", 5, "expected ':'"),
            ("{a: 1}", 1, "expected a string key"),
            ("01", 1, "unexpected text"),
            ("-", 1, "expected a digit"),
            ("1.", 2, "expected a digit after the decimal point"),
            ("1e", 2, "expected a digit in the exponent"),
            ("+1", 0, "expected a JSON value"),
            ("NaN", 0, "expected a JSON value"),
            ("\"a\nb\"", 2, "control character"),
            ("\"\\x\"", 2, "escape character"),
            ("\"\\u12\"", 3, "4 hex digits"),
            ("\"abc", 4, "to end the string"),
            ("tru", 0, "expected `true`"),
            ("[] []", 3, "unexpected text"),
        ];
        for (text, offset, clue) in cases {
            let error = json::parse(text).expect_err(text);
            assert_eq!(error.offset, offset, "{text:?}: {error}");
            assert!(error.message.contains(clue), "{text:?}: {error}");
        }
    }

    #[test]
    fn the_reader_bounds_its_nesting() {
        let deep = "[".repeat(json::MAX_DEPTH + 2) + &"]".repeat(json::MAX_DEPTH + 2);
        assert!(
            json::parse(&deep)
                .unwrap_err()
                .message
                .contains("nesting deeper")
        );
        let fine = "[".repeat(json::MAX_DEPTH) + &"]".repeat(json::MAX_DEPTH);
        assert!(json::parse(&fine).is_ok());
    }

    #[test]
    fn the_writer_escapes_strings_so_they_read_back() {
        let text = "quote \" backslash \\ newline \n tab \t bell \u{7} é 😀";
        let written = Json::from(text).to_string();
        assert!(!written.contains('\n'), "{written}");
        assert_eq!(json::parse(&written).unwrap().as_str(), Some(text));
    }

    // --- the float writer -----------------------------------------------------------------------

    fn round_trip(x: f64) {
        let written = json::format_f64(x);
        let back = json::parse(&written).unwrap().as_wire_f64().unwrap();
        assert!(
            back.to_bits() == x.to_bits() || (x.is_nan() && back.is_nan()),
            "{x:e} was written {written} and read back as {back:e}"
        );
        if x.is_finite() {
            assert!(
                written.contains(['.', 'e']),
                "{written} would read back as an integer"
            );
        }
    }

    #[test]
    fn floats_are_written_in_the_shortest_form_like_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e300, "1e+300"),
            (1e-300, "1e-300"),
            (5e-324, "5e-324"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (0.30000000000000004, "0.30000000000000004"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ];
        for (x, expected) in cases {
            assert_eq!(json::format_f64(x), expected);
            round_trip(x);
        }
    }

    #[test]
    fn floats_round_trip_exactly_across_the_whole_range() {
        // xorshift64*: every bit pattern is equally likely, so subnormals, huge and tiny
        // exponents and both signs all come up.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..200_000 {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            round_trip(f64::from_bits(state.wrapping_mul(0x2545_F491_4F6C_DD1D)));
        }
        for bits in (0..2000).chain([u64::MAX >> 12, 1 << 52, (1 << 52) - 1]) {
            round_trip(f64::from_bits(bits)); // subnormals and the smallest normals
            round_trip(-f64::from_bits(bits));
        }
        for exponent in -324..=308 {
            for mantissa in [1.0, 1.5, 2.2250738585072014, 9.999999999999999] {
                round_trip(format!("{mantissa}e{exponent}").parse().unwrap());
            }
        }
    }

    // --- dispatch and serving -------------------------------------------------------------------

    /// A Value that records how it was made, to see which operator the dispatch called.
    #[derive(Clone, Debug, PartialEq)]
    struct Traced(String, f64);

    macro_rules! traced_binary {
        ($($trait:ident $method:ident $symbol:literal),*) => {$(
            impl std::ops::$trait<&Traced> for &Traced {
                type Output = Traced;
                fn $method(self, b: &Traced) -> Traced {
                    Traced(format!("(&{} {} &{})", self.0, $symbol, b.0), (self.1).$method(b.1))
                }
            }
            impl std::ops::$trait<f64> for &Traced {
                type Output = Traced;
                fn $method(self, c: f64) -> Traced {
                    Traced(format!("(&{} {} {c:?})", self.0, $symbol), (self.1).$method(c))
                }
            }
            impl std::ops::$trait<&Traced> for f64 {
                type Output = Traced;
                fn $method(self, b: &Traced) -> Traced {
                    Traced(format!("({self:?} {} &{})", $symbol, b.0), self.$method(b.1))
                }
            }
            impl std::ops::$trait for Traced {
                type Output = Traced;
                fn $method(self, b: Traced) -> Traced {
                    Traced(format!("({} {} {})", self.0, $symbol, b.0), (self.1).$method(b.1))
                }
            }
        )*};
    }
    traced_binary!(Add add "+", Sub sub "-", Mul mul "*", Div div "/");

    impl std::ops::AddAssign<&Traced> for Traced {
        fn add_assign(&mut self, b: &Traced) {
            *self = Traced(format!("({} += &{})", self.0, b.0), self.1 + b.1);
        }
    }
    impl std::ops::SubAssign<f64> for Traced {
        fn sub_assign(&mut self, c: f64) {
            *self = Traced(format!("({} -= {c:?})", self.0), self.1 - c);
        }
    }
    impl std::ops::Neg for &Traced {
        type Output = Traced;
        fn neg(self) -> Traced {
            Traced(format!("(-&{})", self.0), -self.1)
        }
    }
    impl Traced {
        fn exp(&self) -> Traced {
            Traced(format!("{}.exp()", self.0), self.1.exp())
        }
        fn pow(&self, e: f64) -> Traced {
            Traced(format!("{}.pow({e:?})", self.0), self.1.powf(e))
        }
        fn tanh(self) -> Traced {
            Traced(format!("{}.tanh()", self.0), self.1.tanh())
        }
        fn log(&self) -> Traced {
            if self.1 < 0.0 {
                panic!("log of a negative number: {}", self.1);
            }
            Traced(format!("{}.log()", self.0), self.1.ln())
        }
    }

    struct Tracer;

    impl Engine for Tracer {
        type Value = Traced;
        fn name(&self) -> &str {
            "tracer"
        }
        fn leaf(&self, x: f64) -> Traced {
            Traced(format!("{x:?}"), x)
        }
        fn apply(&self, op: Op, operands: Operands<'_, Traced>) -> Result<Traced, OpError> {
            match (op, operands) {
                (Op::Mul, Operands::VV(a, b)) => {
                    dispatch!(op, Operands::VV(a, b); owned { mul: [vv] })
                }
                (Op::Tanh, _) => dispatch!(op, operands; owned { tanh }),
                (Op::Sqrt, Operands::V(a)) if a.1 < 0.0 => {
                    Err(OpError::failed(format!("sqrt of {} is not real", a.1)))
                }
                _ => dispatch!(op, operands; borrowed {
                    add, sub: [vv, cv], mul: [vc, cv], div: [cv], neg, exp, log, pow: [vc],
                    iadd: [vv], isub: [vc],
                }),
            }
        }
        fn backward(&self, _: &Traced) {}
        fn data(&self, value: &Traced) -> f64 {
            value.1
        }
        fn grad(&self, value: &Traced) -> f64 {
            value.0.len() as f64
        }
    }

    fn request(nodes: &str) -> String {
        format!(r#"{{"type":"run","id":5,"nodes":{nodes},"output":2}}"#)
    }

    #[test]
    fn each_form_calls_the_operator_a_user_would_write() {
        let (a, b) = (Traced("a".into(), 1.5), Traced("b".into(), 2.0));
        let cases = [
            (Op::Add, Operands::VV(&a, &b), "(&a + &b)"),
            (Op::Add, Operands::VC(&a, 2.0), "(&a + 2.0)"),
            (Op::Add, Operands::CV(2.0, &b), "(2.0 + &b)"),
            (Op::Sub, Operands::CV(2.0, &b), "(2.0 - &b)"),
            (Op::Div, Operands::CV(2.0, &b), "(2.0 / &b)"),
            (Op::Mul, Operands::VV(&a, &b), "(a * b)"),
            (Op::Mul, Operands::VV(&b, &b), "(b * b)"),
            (Op::IAdd, Operands::VV(&a, &b), "(a += &b)"),
            (Op::ISub, Operands::VC(&a, 2.0), "(a -= 2.0)"),
            (Op::Pow, Operands::VC(&a, 3.0), "a.pow(3.0)"),
            (Op::Neg, Operands::V(&b), "(-&b)"),
            (Op::Exp, Operands::V(&a), "a.exp()"),
            (Op::Tanh, Operands::V(&b), "b.tanh()"),
        ];
        for (op, operands, expected) in cases {
            let form = operands.form();
            let value = Tracer.apply(op, operands).unwrap();
            assert_eq!(value.0, expected, "{op} {form}");
        }
        // In-place forms work on a copy: the left operand is unchanged.
        assert_eq!(a, Traced("a".into(), 1.5));
        let unsupported = [
            (Op::Sub, Operands::VC(&a, 2.0)),
            (Op::Relu, Operands::V(&a)),
        ];
        for (op, operands) in unsupported {
            assert_eq!(
                Tracer.apply(op, operands),
                Err(OpError::Unsupported),
                "{op}"
            );
        }
    }

    #[test]
    fn a_result_has_a_value_per_value_node_and_a_gradient_per_input() {
        let answer = respond(
            &Tracer,
            &request(r#"[["input",1.5],["const",-0.0],["add",0,1]]"#),
        );
        assert_eq!(
            answer,
            r#"{"type":"result","id":5,"values":[1.5,null,1.5],"grads":[3.0,null,null]}"#
        );
    }

    #[test]
    fn forms_left_out_are_answered_unsupported_op_naming_the_op() {
        for (nodes, op, spelling) in [
            (
                r#"[["input",1.5],["const",2.0],["sub",0,1]]"#,
                "sub",
                "Value - f64",
            ),
            (
                r#"[["input",1.5],["const",2.0],["iadd",0,1]]"#,
                "iadd",
                "Value += f64",
            ),
            (
                r#"[["input",1.5],["input",2.0],["pow",0,1]]"#,
                "pow",
                "Value.pow(Value)",
            ),
            (
                r#"[["input",1.5],["input",2.0],["relu",1]]"#,
                "relu",
                "Value.relu()",
            ),
            (
                r#"[["input",1.5],["input",2.0],["frobnicate",0,1]]"#,
                "frobnicate",
                "no op named",
            ),
        ] {
            let answer = json::parse(&respond(&Tracer, &request(nodes))).unwrap();
            assert_eq!(
                answer.get("kind").and_then(Json::as_str),
                Some("unsupported_op"),
                "{nodes}"
            );
            assert_eq!(answer.get("op").and_then(Json::as_str), Some(op));
            assert_eq!(answer.get("id").and_then(Json::as_i64), Some(5));
            let message = answer.get("message").and_then(Json::as_str).unwrap();
            assert!(message.contains(spelling), "{message}");
        }
    }

    #[test]
    fn bad_requests_are_answered_invalid_request_naming_the_problem() {
        let cases = [
            ("not json", None, "not JSON"),
            ("[1, 2]", None, "must be a JSON object"),
            (
                r#"{"type":"run","nodes":[["input",1]],"output":0}"#,
                None,
                "\"id\" must be an integer",
            ),
            (
                r#"{"type":"hello","id":4}"#,
                Some(4),
                "\"type\" must be \"run\"",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[],"output":0}"#,
                Some(4),
                "non-empty list",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["input","x"]],"output":0}"#,
                Some(4),
                "node 0's value",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[[1]],"output":0}"#,
                Some(4),
                "starting with an op name",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["input",1],["exp",1]],"output":1}"#,
                Some(4),
                "earlier node (0 to 0), got 1",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["input",1],["add",0]],"output":1}"#,
                Some(4),
                "takes 2 operand(s), got 1",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["const",1],["exp",0]],"output":1}"#,
                Some(4),
                "constant operand",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["const",1],["add",0,0]],"output":1}"#,
                Some(4),
                "two constant operands",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["const",1],["input",2],["iadd",0,1]],"output":2}"#,
                Some(4),
                "takes vv, vc",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["input",1]],"output":3}"#,
                Some(4),
                "\"output\" must be the index of a node (0 to 0), got 3",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["input",1],["const",1]],"output":1}"#,
                Some(4),
                "a constant",
            ),
            (
                r#"{"type":"run","id":4,"nodes":[["input",1]],"output":0,"backward_passes":0}"#,
                Some(4),
                ">= 1, got 0",
            ),
        ];
        for (line, id, clue) in cases {
            let answer = json::parse(&respond(&Tracer, line)).unwrap();
            assert_eq!(
                answer.get("type").and_then(Json::as_str),
                Some("error"),
                "{line}"
            );
            assert_eq!(
                answer.get("kind").and_then(Json::as_str),
                Some("invalid_request"),
                "{line}"
            );
            assert_eq!(answer.get("id").and_then(Json::as_i64), id, "{line}");
            let message = answer.get("message").and_then(Json::as_str).unwrap();
            assert!(message.contains(clue), "{line}: {message}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_non_finite_inputs_accepted() {
        let line = r#"{"future":{"x":[1,{"y":null}]},"type":"run","backward_passes":1,"id":9,
            "nodes":[["input","-Infinity"],["input",2.0],["add",0,1]],"output":2,"expect":7}"#
            .replace('\n', "");
        let answer = respond(&Tracer, &line);
        assert!(
            answer.starts_with(r#"{"type":"result","id":9,"values":["-Infinity",2.0,"-Infinity"]"#),
            "{answer}"
        );
    }

    #[test]
    fn engine_failures_and_panics_are_answered_engine_error() {
        let failed = respond(
            &Tracer,
            &request(r#"[["input",-1.0],["input",2.0],["sqrt",0]]"#),
        );
        let failed = json::parse(&failed).unwrap();
        assert_eq!(
            failed.get("kind").and_then(Json::as_str),
            Some("engine_error")
        );
        let message = failed.get("message").and_then(Json::as_str).unwrap();
        assert!(
            message.contains("node 2 (Value.sqrt()): sqrt of -1 is not real"),
            "{message}"
        );

        let panicked = respond(
            &Tracer,
            &request(r#"[["input",-1.0],["input",2.0],["log",0]]"#),
        );
        let panicked = json::parse(&panicked).unwrap();
        assert_eq!(
            panicked.get("kind").and_then(Json::as_str),
            Some("engine_error")
        );
        assert_eq!(
            panicked.get("exception").and_then(Json::as_str),
            Some("panic")
        );
        let message = panicked.get("message").and_then(Json::as_str).unwrap();
        assert!(
            message.contains("panicked at") && message.contains("lib.rs"),
            "{message}"
        );
        assert!(
            message.contains("log of a negative number: -1"),
            "{message}"
        );
    }

    #[test]
    fn serving_says_hello_answers_each_line_skips_blank_ones_and_ends_at_eof() {
        let input = format!(
            "{}\n\n   \n{}\n{}",
            request(r#"[["input",1.5],["const",2.0],["add",0,1]]"#),
            request(r#"[["input",1.5],["const",2.0],["relu",0]]"#),
            "garbage"
        );
        let mut output = Vec::new();
        serve_io(&Tracer, input.as_bytes(), &mut output).unwrap();
        let text = String::from_utf8(output).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let hello = json::parse(lines[0]).unwrap();
        assert_eq!(hello.get("type").and_then(Json::as_str), Some("hello"));
        assert_eq!(hello.get("protocol").and_then(Json::as_i64), Some(1));
        assert_eq!(hello.get("engine").and_then(Json::as_str), Some("tracer"));
        let ops: Vec<&str> = hello
            .get("ops")
            .and_then(Json::as_array)
            .unwrap()
            .iter()
            .filter_map(Json::as_str)
            .collect();
        assert_eq!(ops.len(), 19);
        assert!(
            ["sin", "cos", "sqrt", "abs", "idiv"]
                .iter()
                .all(|op| ops.contains(op))
        );
        assert!(lines[1].contains(r#""type":"result""#));
        assert!(lines[2].contains(r#""kind":"unsupported_op""#));
        assert!(
            lines[3].contains(r#""kind":"invalid_request""#) && lines[3].contains(r#""id":null"#)
        );
    }

    #[test]
    fn invalid_utf8_is_an_invalid_request_and_serving_goes_on() {
        let mut input = b"\xff\xfe\n".to_vec();
        input.extend_from_slice(request(r#"[["input",1.5],["const",2.0],["add",0,1]]"#).as_bytes());
        let mut output = Vec::new();
        serve_io(&Tracer, &input[..], &mut output).unwrap();
        let text = String::from_utf8(output).unwrap();
        assert!(text.lines().nth(1).unwrap().contains("not UTF-8"), "{text}");
        assert!(
            text.lines().nth(2).unwrap().contains(r#""type":"result""#),
            "{text}"
        );
    }

    // --- replay ---------------------------------------------------------------------------------

    const LINE: &str = r#"{"type":"run","id":0,"nodes":[["input",1.5],["const",2.0],["mul",0,1]],"output":2,"backward_passes":1"#;

    #[test]
    fn a_replay_passes_within_tolerance_and_lists_every_mismatch_otherwise() {
        // Tracer's "gradient" is the length of the trace: 3.0 for the input "1.5".
        let passing = format!(
            r#"{LINE},"expect":{{"values":[1.5,null,3.0],"grads":[3.0,null,null],"value_tolerances":[0.0,null,1e-15],"grad_tolerances":[0.0,null,null]}}}}"#
        );
        assert_replay(&Tracer, &passing);
        let failing = format!(
            r#"{LINE},"expect":{{"values":[1.5,null,"NaN"],"grads":[2.0,null,null],"value_tolerances":[0.0,null,0.0],"grad_tolerances":[1e-15,null,null]}}}}"#
        );
        let failure = replay(&Tracer, &failing).unwrap_err();
        assert_eq!(
            failure.problems,
            [
                "grad of v0: expected 2.0, got 3.0 (|diff| 1 > tolerance 1e-15)",
                "value of v2: expected NaN, got 3.0",
            ]
        );
        assert_eq!(
            failure.program,
            [
                "let v0 = Value::new(1.5);",
                "let v2 = &v0 * 2.0;",
                "v2.backward();"
            ]
        );
        let text = failure.to_string();
        assert!(
            text.starts_with("replaying a program on tracer: 2 problems\n"),
            "{text}"
        );
    }

    #[test]
    fn a_replay_checks_infinities_exactly_and_finiteness_without_expect() {
        assert_eq!(compare(f64::INFINITY, Some(f64::INFINITY), 0.0), None);
        assert_eq!(
            compare(f64::INFINITY, Some(f64::MAX), 1e308).unwrap(),
            "expected Infinity, got 1.7976931348623157e+308"
        );
        assert_eq!(
            compare(1.0, Some(f64::NAN), 1e308).unwrap(),
            "expected 1.0, got NaN (not finite)"
        );
        assert_eq!(compare(f64::NAN, Some(f64::NAN), 0.0), None);
        assert_eq!(compare(1.0, Some(1.0 + 1e-12), 1e-9), None);
        assert_replay(&Tracer, &format!("{LINE}}}"));
        let overflow = r#"{"type":"run","id":0,"nodes":[["input",1000.0],["exp",0]],"output":1}"#;
        let failure = replay(&Tracer, overflow).unwrap_err();
        assert_eq!(
            failure.problems,
            ["value of v1: got Infinity, expected a finite number (the line has no \"expect\")"]
        );
    }

    #[test]
    fn a_replay_reports_unreadable_lines_and_engine_failures() {
        let failure = replay(&Tracer, "{").unwrap_err();
        assert!(
            failure.problems[0].starts_with("the line is not JSON"),
            "{failure}"
        );
        let short = format!(r#"{LINE},"expect":{{"values":[1.5]}}}}"#);
        assert_eq!(
            replay(&Tracer, &short).unwrap_err().problems,
            ["expect.values has 1 entries, expected 3 (one per node)"]
        );
        let unsupported = r#"{"type":"run","id":0,"nodes":[["input",1.5],["relu",0]],"output":1}"#;
        let failure = replay(&Tracer, unsupported).unwrap_err();
        assert_eq!(
            failure.problems,
            ["node 1: the engine does not implement Value.relu() (op \"relu\", form v)"]
        );
    }

    #[test]
    fn short_numbers_read_like_printf_g() {
        assert_eq!(short(1.0), "1");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(1e-15), "1e-15");
        assert_eq!(short(3.0000000000000004e-16), "3e-16");
        assert_eq!(short(123456789.0), "1.23457e8");
        assert_eq!(short(0.000123), "0.000123");
    }
}
