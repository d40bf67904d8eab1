//! [`Value`]: a scalar in a computation graph, and reverse-mode differentiation through it.
//!
//! Every op computes its result in float64 the way torch does, and records its operands and the
//! rule for its derivative. The rules are PyTorch's own formulas (`derivatives.yaml`), with its
//! conventions at kinks and poles, the same table as the Python reference engine
//! (`micrograd/engine.py`). Nothing panics on overflow, division by zero or a domain error:
//! results are `inf` and `NaN` where torch gives them.

use std::cell::Cell;
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use std::rc::Rc;

/// A scalar in a computation graph: its data, its gradient, and how it was made.
///
/// A `Value` is a cheap handle (an `Rc`): clones share the node, so `a.clone()` is the same
/// Value, not a copy. Operators take Values owned or borrowed and `f64` on either side; compound
/// assignment (`t += &b`) builds a new node and points `t` at it, so a Value `t` was cloned from
/// keeps its data:
///
/// ```
/// use micrograd_rs::Value;
///
/// let a = Value::new(-4.0);
/// let b = Value::new(2.0);
/// let mut t = a.clone();
/// t += &b * 3.0;
/// let y = (&t * &a).tanh() + 2.0_f64.powf(0.5) - (1.0 / &b);
/// y.backward();
/// assert_eq!(a.data(), -4.0); // `t += ...` did not touch `a`
/// assert_eq!(t.data(), 2.0);
/// // dy/da = (1 - tanh(t a)^2) (t + a dt/da) with t = a + 3b
/// assert!((a.grad() - -2.0 * (1.0 - (-8.0_f64).tanh().powi(2))).abs() < 1e-15);
/// ```
#[derive(Clone)]
pub struct Value(Rc<Node>);

struct Node {
    data: Cell<f64>,
    grad: Cell<f64>,
    /// The number of the last topological sort that visited the node (see [`next_epoch`]).
    mark: Cell<u64>,
    op: Op,
}

/// How a node was made: its op and operands. A number operand of `+ - * /` is a leaf Value, as
/// in micrograd (its gradient is computed and ignored); of `pow` it is kept as a number.
enum Op {
    Leaf,
    Add(Value, Value),
    Sub(Value, Value),
    Mul(Value, Value),
    Div(Value, Value),
    Neg(Value),
    Recip(Value),
    /// `a ** e` for a number exponent `e`.
    PowNumber(Value, f64),
    /// `a ** b`.
    Pow(Value, Value),
    /// `c ** b` for a number base `c`.
    NumberPow(f64, Value),
    Exp(Value),
    Log(Value),
    Tanh(Value),
    Relu(Value),
    Sigmoid(Value),
    Sin(Value),
    Cos(Value),
    Sqrt(Value),
    Abs(Value),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Add(..) => "+",
            Op::Sub(..) => "-",
            Op::Mul(..) => "*",
            Op::Div(..) => "/",
            Op::Neg(_) => "neg",
            Op::Recip(_) => "recip",
            Op::PowNumber(..) | Op::Pow(..) | Op::NumberPow(..) => "pow",
            Op::Exp(_) => "exp",
            Op::Log(_) => "log",
            Op::Tanh(_) => "tanh",
            Op::Relu(_) => "relu",
            Op::Sigmoid(_) => "sigmoid",
            Op::Sin(_) => "sin",
            Op::Cos(_) => "cos",
            Op::Sqrt(_) => "sqrt",
            Op::Abs(_) => "abs",
        }
    }

    fn operands(&self) -> [Option<&Value>; 2] {
        match self {
            Op::Leaf => [None, None],
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) | Op::Pow(a, b) => {
                [Some(a), Some(b)]
            }
            Op::PowNumber(a, _)
            | Op::NumberPow(_, a)
            | Op::Neg(a)
            | Op::Recip(a)
            | Op::Exp(a)
            | Op::Log(a)
            | Op::Tanh(a)
            | Op::Relu(a)
            | Op::Sigmoid(a)
            | Op::Sin(a)
            | Op::Cos(a)
            | Op::Sqrt(a)
            | Op::Abs(a) => [Some(a), None],
        }
    }

    /// Moves the operands out, leaving a leaf.
    fn take_operands(&mut self) -> [Option<Value>; 2] {
        match std::mem::replace(self, Op::Leaf) {
            Op::Leaf => [None, None],
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) | Op::Pow(a, b) => {
                [Some(a), Some(b)]
            }
            Op::PowNumber(a, _)
            | Op::NumberPow(_, a)
            | Op::Neg(a)
            | Op::Recip(a)
            | Op::Exp(a)
            | Op::Log(a)
            | Op::Tanh(a)
            | Op::Relu(a)
            | Op::Sigmoid(a)
            | Op::Sin(a)
            | Op::Cos(a)
            | Op::Sqrt(a)
            | Op::Abs(a) => [Some(a), None],
        }
    }
}

/// Tears graphs down iteratively. The derived drop would recurse once per node of a chain (a
/// node drops its operands, which drop theirs...) and overflow the stack at ~100,000 nodes;
/// here the nodes that die with this one are unlinked into a worklist instead.
impl Drop for Node {
    fn drop(&mut self) {
        let mut dying = Vec::new();
        unlink_operands(&mut self.op, &mut dying);
        while let Some(mut value) = dying.pop() {
            if let Some(node) = Rc::get_mut(&mut value.0) {
                unlink_operands(&mut node.op, &mut dying);
            }
            // `value` is dropped here as a leaf: its node's own drop has nothing left to do.
        }
    }
}

/// Takes `op`'s operands; those whose last handle this was go to `dying` (unless they are
/// leaves, which drop without recursion), the others just lose a reference.
fn unlink_operands(op: &mut Op, dying: &mut Vec<Value>) {
    for mut operand in op.take_operands().into_iter().flatten() {
        let is_last_handle_of_interior_node =
            Rc::get_mut(&mut operand.0).is_some_and(|node| !matches!(node.op, Op::Leaf));
        if is_last_handle_of_interior_node {
            dying.push(operand);
        }
    }
}

thread_local! {
    /// Counts topological sorts on this thread; a node is visited when its mark equals the count.
    /// (Values are `Rc`s, so a graph never leaves its thread.)
    static EPOCH: Cell<u64> = const { Cell::new(0) };
}

fn next_epoch() -> u64 {
    EPOCH.with(|epoch| {
        let next = epoch.get() + 1;
        epoch.set(next);
        next
    })
}

impl Value {
    /// A new leaf holding `data`, with gradient 0.
    pub fn new(data: f64) -> Value {
        Value::node(data, Op::Leaf)
    }

    fn node(data: f64, op: Op) -> Value {
        Value(Rc::new(Node {
            data: Cell::new(data),
            grad: Cell::new(0.0),
            mark: Cell::new(0),
            op,
        }))
    }

    /// The value.
    pub fn data(&self) -> f64 {
        self.0.data.get()
    }

    /// The gradient: d(output)/d(self), summed over every `backward()` call since it was zeroed.
    pub fn grad(&self) -> f64 {
        self.0.grad.get()
    }

    /// Overwrites the value in place (an optimiser step on a parameter); every handle sees it.
    pub fn set_data(&self, data: f64) {
        self.0.data.set(data);
    }

    /// Sets the gradient to 0 (before a new `backward()` on a parameter).
    pub fn zero_grad(&self) {
        self.0.grad.set(0.0);
    }

    /// Whether `self` and `other` are handles to the same node.
    pub fn ptr_eq(&self, other: &Value) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    fn accumulate(&self, x: f64) {
        self.0.grad.set(self.0.grad.get() + x);
    }

    /// `self ** exponent`, for an `f64` exponent (`x.pow(2.0)`) or a Value one (`x.pow(&y)`).
    ///
    /// torch's conventions: the derivative of `x ** 0` is 0 everywhere, `x == 0` included; the
    /// derivative with respect to a Value exponent is 0 where `x == 0` and the exponent is >= 0.
    /// `x ** 2.0` is `x * x` and `x ** 0.5` is `sqrt(x)`, as torch computes them.
    pub fn pow<E: Exponent>(&self, exponent: E) -> Value {
        exponent.raise(self)
    }

    /// `1 / self`.
    pub fn recip(&self) -> Value {
        Value::node(1.0 / self.data(), Op::Recip(self.clone()))
    }

    /// `e ** self`; overflows to `inf`.
    pub fn exp(&self) -> Value {
        Value::node(self.data().exp(), Op::Exp(self.clone()))
    }

    /// The natural logarithm: `-inf` at 0, `NaN` below.
    pub fn log(&self) -> Value {
        Value::node(self.data().ln(), Op::Log(self.clone()))
    }

    /// The hyperbolic tangent (`tanh(1000) == 1`).
    pub fn tanh(&self) -> Value {
        Value::node(tanh(self.data()), Op::Tanh(self.clone()))
    }

    /// `max(self, 0)`, keeping `-0.0` and `NaN` as they are (torch's `clamp`); its derivative
    /// at 0 is 0.
    pub fn relu(&self) -> Value {
        let x = self.data();
        Value::node(if x < 0.0 { 0.0 } else { x }, Op::Relu(self.clone()))
    }

    /// The logistic function `1 / (1 + e ** -self)`.
    pub fn sigmoid(&self) -> Value {
        Value::node(
            1.0 / (1.0 + (-self.data()).exp()),
            Op::Sigmoid(self.clone()),
        )
    }

    /// The sine (`NaN` at `±inf`).
    pub fn sin(&self) -> Value {
        Value::node(self.data().sin(), Op::Sin(self.clone()))
    }

    /// The cosine (`NaN` at `±inf`).
    pub fn cos(&self) -> Value {
        Value::node(self.data().cos(), Op::Cos(self.clone()))
    }

    /// The square root: `NaN` below 0, `-0.0` at `-0.0`; its derivative at 0 is `inf`.
    pub fn sqrt(&self) -> Value {
        Value::node(self.data().sqrt(), Op::Sqrt(self.clone()))
    }

    /// The absolute value; its derivative at 0 (and at `NaN`) is 0, as torch's `sgn`.
    pub fn abs(&self) -> Value {
        Value::node(self.data().abs(), Op::Abs(self.clone()))
    }

    /// Adds d(self)/d(leaf) into the gradient of every leaf `self` depends on, like torch's
    /// `backward(retain_graph=True)`: leaves accumulate across calls, while the gradients of
    /// interior nodes are recomputed from zero on every call. The output's own gradient is
    /// seeded with 1.
    ///
    /// Iterative: a graph of any depth is fine.
    pub fn backward(&self) {
        let root: &Node = &self.0;
        if let Op::Leaf = root.op {
            root.grad.set(root.grad.get() + 1.0); // a leaf is its own output
            return;
        }
        let (order, carried) = topological_order(root);
        // Like torch, a leaf that already holds a gradient gets this pass's total added to it
        // once, rather than each contribution in turn (which would round differently).
        let held: Vec<f64> = carried.iter().map(|leaf| leaf.grad.replace(0.0)).collect();
        for node in &order {
            node.grad.set(0.0);
        }
        root.grad.set(1.0);
        for node in order.iter().rev() {
            node.propagate();
        }
        for (leaf, before) in carried.iter().zip(held) {
            leaf.grad.set(before + leaf.grad.get());
        }
    }
}

/// The interior nodes reachable from `root`, operands before the nodes made from them, and the
/// leaves that already hold a gradient (each once). Depth-first over operands in order, with an
/// explicit stack: the same order as the Python reference engine.
fn topological_order(root: &Node) -> (Vec<&Node>, Vec<&Node>) {
    let epoch = next_epoch();
    let mut order = Vec::new();
    let mut carried = Vec::new();
    let mut stack = vec![(root, 0)];
    root.mark.set(epoch);
    while let Some(top) = stack.last_mut() {
        let (node, next) = *top;
        let Some(operand) = node.op.operands().get(next).copied().flatten() else {
            order.push(node);
            stack.pop();
            continue;
        };
        top.1 += 1;
        let operand: &Node = &operand.0;
        if operand.mark.get() == epoch {
            continue;
        }
        operand.mark.set(epoch);
        if !matches!(operand.op, Op::Leaf) {
            stack.push((operand, 0));
        } else if operand.grad.get() != 0.0 || operand.grad.get().is_nan() {
            carried.push(operand);
        }
    }
    (order, carried)
}

impl Node {
    /// Adds d(self)/d(operand) * self.grad into each operand's gradient: torch's formula for
    /// the op, evaluated in the same order.
    fn propagate(&self) {
        let g = self.grad.get();
        let y = self.data.get();
        match &self.op {
            Op::Leaf => {}
            Op::Add(a, b) => {
                a.accumulate(g);
                b.accumulate(g);
            }
            Op::Sub(a, b) => {
                a.accumulate(g);
                b.accumulate(-g);
            }
            Op::Mul(a, b) => {
                a.accumulate(g * b.data());
                b.accumulate(g * a.data());
            }
            Op::Div(a, b) => {
                let (x, z) = (a.data(), b.data());
                a.accumulate(g / z);
                b.accumulate(-g * (x / z / z));
            }
            Op::Neg(a) => a.accumulate(-g),
            Op::Recip(a) => a.accumulate(-g * (y * y)),
            Op::PowNumber(a, e) => {
                // torch: the derivative of x ** 0 is 0 everywhere, even where x ** -1 is a pole.
                if *e != 0.0 {
                    a.accumulate(g * (e * pow_number(a.data(), e - 1.0)));
                }
            }
            Op::Pow(a, b) => {
                let (x, e) = (a.data(), b.data());
                if e != 0.0 {
                    a.accumulate(g * (e * x.powf(e - 1.0)));
                }
                b.accumulate(g * exponent_partial(x, e, y));
            }
            Op::NumberPow(c, b) => b.accumulate(g * exponent_partial(*c, b.data(), y)),
            Op::Exp(a) => a.accumulate(g * y),
            Op::Log(a) => a.accumulate(g / a.data()),
            // (1 - t)(1 + t), not 1 - t*t: exact where |t| is near 1 (torch gets there with an fma).
            Op::Tanh(a) => a.accumulate(g * ((1.0 - y) * (1.0 + y))),
            Op::Relu(a) => {
                // torch's threshold_backward: nothing passes where the result is <= 0 (NaN passes).
                if y > 0.0 || y.is_nan() {
                    a.accumulate(g);
                }
            }
            Op::Sigmoid(a) => a.accumulate(g * (1.0 - y) * y),
            Op::Sin(a) => a.accumulate(g * a.data().cos()),
            Op::Cos(a) => a.accumulate(g * -a.data().sin()),
            Op::Sqrt(a) => a.accumulate(g / (2.0 * y)),
            Op::Abs(a) => a.accumulate(g * sgn(a.data())),
        }
    }
}

/// `x ** e` for a number exponent, with torch's special cases.
fn pow_number(x: f64, e: f64) -> f64 {
    if e == 2.0 {
        x * x
    } else if e == 0.5 {
        // sqrt(-inf) is NaN where pow(-inf, 0.5) is inf.
        if x >= 0.0 { x.sqrt() } else { f64::NAN }
    } else if e == -0.5 {
        if x >= 0.0 { 1.0 / x.sqrt() } else { f64::NAN }
    } else {
        x.powf(e)
    }
}

/// d(c ** e)/de = (c ** e) * ln(c), masked to 0 where c == 0 and e >= 0. torch masks the
/// partial, not the product: an infinite incoming gradient times this 0 is still NaN.
fn exponent_partial(base: f64, e: f64, result: f64) -> f64 {
    if base == 0.0 && e >= 0.0 {
        0.0
    } else {
        result * base.ln()
    }
}

/// torch's `sgn` on reals: 0 at ±0 and at NaN.
fn sgn(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn tanh(x: f64) -> f64 {
    if cfg!(feature = "bug-tanh-exp-formula") {
        // The planted bug: the textbook formula, inf / inf = NaN for x > ~355, and it loses
        // digits near 0 where e^2x - 1 cancels.
        let e = (2.0 * x).exp();
        (e - 1.0) / (e + 1.0)
    } else {
        x.tanh()
    }
}

/// An exponent [`Value::pow`] accepts: an `f64`, a `Value` or a `&Value`.
pub trait Exponent: sealed::Sealed {
    /// `base ** self` as a new node.
    #[doc(hidden)]
    fn raise(self, base: &Value) -> Value;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for super::Value {}
    impl Sealed for &super::Value {}
}

impl Exponent for f64 {
    fn raise(self, base: &Value) -> Value {
        Value::node(
            pow_number(base.data(), self),
            Op::PowNumber(base.clone(), self),
        )
    }
}

impl Exponent for &Value {
    fn raise(self, base: &Value) -> Value {
        Value::node(
            base.data().powf(self.data()),
            Op::Pow(base.clone(), self.clone()),
        )
    }
}

impl Exponent for Value {
    fn raise(self, base: &Value) -> Value {
        (&self).raise(base)
    }
}

/// A number raised to a Value: `2.0_f64.pow(&x)` (bring the trait into scope).
pub trait Pow<E> {
    /// The result.
    type Output;
    /// `self ** exponent`.
    fn pow(self, exponent: E) -> Self::Output;
}

impl Pow<&Value> for f64 {
    type Output = Value;
    fn pow(self, exponent: &Value) -> Value {
        Value::node(
            self.powf(exponent.data()),
            Op::NumberPow(self, exponent.clone()),
        )
    }
}

impl Pow<Value> for f64 {
    type Output = Value;
    fn pow(self, exponent: Value) -> Value {
        self.pow(&exponent)
    }
}

// ------------------------------------------------------------------------------------------------
// Operators
// ------------------------------------------------------------------------------------------------

fn add(a: &Value, b: &Value) -> Value {
    Value::node(a.data() + b.data(), Op::Add(a.clone(), b.clone()))
}

fn sub(a: &Value, b: &Value) -> Value {
    Value::node(a.data() - b.data(), Op::Sub(a.clone(), b.clone()))
}

fn mul(a: &Value, b: &Value) -> Value {
    Value::node(a.data() * b.data(), Op::Mul(a.clone(), b.clone()))
}

fn div(a: &Value, b: &Value) -> Value {
    Value::node(a.data() / b.data(), Op::Div(a.clone(), b.clone()))
}

/// `c / v` is `recip(v) * c`, as torch computes it: its gradient keeps the digits that
/// `(c / v) / v` would lose to underflow.
fn number_div(c: f64, v: &Value) -> Value {
    mul(&v.recip(), &Value::new(c))
}

/// `t op= rhs`: `t` becomes the new node `result(t)`; the node it pointed to is untouched.
fn assign(target: &mut Value, result: impl FnOnce(&Value) -> Value) {
    let result = result(target);
    if cfg!(feature = "bug-inplace-overwrites") {
        // The planted bug: the result overwrites the data of the node `t` shares with whatever
        // it was cloned from, and no node records the op.
        target.set_data(result.data());
    } else {
        *target = result;
    }
}

/// `Value op Value`, `Value op f64` and `f64 op Value` (the reflected op: the number is the left
/// operand), owned or borrowed, and `Value op= Value | &Value | f64`.
macro_rules! binary_operators {
    ($($trait:ident $method:ident $assign_trait:ident $assign_method:ident: $build:ident, $reflected:expr;)*) => {$(
        impl $trait<&Value> for &Value {
            type Output = Value;
            fn $method(self, rhs: &Value) -> Value {
                $build(self, rhs)
            }
        }

        impl $trait<Value> for &Value {
            type Output = Value;
            fn $method(self, rhs: Value) -> Value {
                $build(self, &rhs)
            }
        }

        impl $trait<&Value> for Value {
            type Output = Value;
            fn $method(self, rhs: &Value) -> Value {
                $build(&self, rhs)
            }
        }

        impl $trait<Value> for Value {
            type Output = Value;
            fn $method(self, rhs: Value) -> Value {
                $build(&self, &rhs)
            }
        }

        impl $trait<f64> for &Value {
            type Output = Value;
            fn $method(self, rhs: f64) -> Value {
                $build(self, &Value::new(rhs))
            }
        }

        impl $trait<f64> for Value {
            type Output = Value;
            fn $method(self, rhs: f64) -> Value {
                $build(&self, &Value::new(rhs))
            }
        }

        impl $trait<&Value> for f64 {
            type Output = Value;
            fn $method(self, rhs: &Value) -> Value {
                $reflected(self, rhs)
            }
        }

        impl $trait<Value> for f64 {
            type Output = Value;
            fn $method(self, rhs: Value) -> Value {
                $reflected(self, &rhs)
            }
        }

        impl $assign_trait<&Value> for Value {
            fn $assign_method(&mut self, rhs: &Value) {
                assign(self, |t| $build(t, rhs));
            }
        }

        impl $assign_trait<Value> for Value {
            fn $assign_method(&mut self, rhs: Value) {
                assign(self, |t| $build(t, &rhs));
            }
        }

        impl $assign_trait<f64> for Value {
            fn $assign_method(&mut self, rhs: f64) {
                assign(self, |t| $build(t, &Value::new(rhs)));
            }
        }
    )*};
}

binary_operators! {
    Add add AddAssign add_assign: add, |c, v| add(&Value::new(c), v);
    Sub sub SubAssign sub_assign: sub, |c, v| sub(&Value::new(c), v);
    Mul mul MulAssign mul_assign: mul, |c, v| mul(&Value::new(c), v);
    Div div DivAssign div_assign: div, number_div;
}

impl Neg for &Value {
    type Output = Value;
    fn neg(self) -> Value {
        Value::node(-self.data(), Op::Neg(self.clone()))
    }
}

impl Neg for Value {
    type Output = Value;
    fn neg(self) -> Value {
        -&self
    }
}

/// Adds left to right from a leaf 0.0, as Python's `sum()` does on micrograd Values.
impl Sum for Value {
    fn sum<I: Iterator<Item = Value>>(iter: I) -> Value {
        iter.fold(Value::new(0.0), |total, x| total + x)
    }
}

/// Adds left to right from a leaf 0.0, as Python's `sum()` does on micrograd Values.
impl<'a> Sum<&'a Value> for Value {
    fn sum<I: Iterator<Item = &'a Value>>(iter: I) -> Value {
        iter.fold(Value::new(0.0), |total, x| total + x)
    }
}

impl From<f64> for Value {
    fn from(data: f64) -> Value {
        Value::new(data)
    }
}

/// `Value(data=1.5, grad=0)`, as micrograd prints it.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value(data={}, grad={})", self.data(), self.grad())
    }
}

/// This node only: printing the graph would recurse through all of it.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("data", &self.data())
            .field("grad", &self.grad())
            .field("op", &self.0.op.name())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_grads(build: impl Fn(&Value, &Value) -> Value, x: f64, y: f64) -> (f64, f64, f64) {
        let (a, b) = (Value::new(x), Value::new(y));
        let out = build(&a, &b);
        out.backward();
        (out.data(), a.grad(), b.grad())
    }

    #[test]
    fn arithmetic_and_its_gradients() {
        assert_eq!(leaf_grads(|a, b| a + b, 1.5, 2.0), (3.5, 1.0, 1.0));
        assert_eq!(leaf_grads(|a, b| a - b, 1.5, 2.0), (-0.5, 1.0, -1.0));
        assert_eq!(leaf_grads(|a, b| a * b, 1.5, 2.0), (3.0, 2.0, 1.5));
        assert_eq!(leaf_grads(|a, b| a / b, 1.5, 2.0), (0.75, 0.5, -0.375));
        assert_eq!(leaf_grads(|a, _| -a, 1.5, 2.0), (-1.5, -1.0, 0.0));
        assert_eq!(leaf_grads(|a, _| 2.0 - a, 1.5, 2.0), (0.5, -1.0, 0.0));
        assert_eq!(
            leaf_grads(|a, _| 3.0 / a, 1.5, 2.0),
            (2.0, -3.0 / 2.25, 0.0)
        );
        // The very same Value on both sides gets both contributions.
        assert_eq!(leaf_grads(|a, _| a * a, 3.0, 0.0), (9.0, 6.0, 0.0));
    }

    #[test]
    fn functions_follow_torchs_conventions_at_kinks() {
        assert_eq!(leaf_grads(|a, _| a.relu(), 0.0, 0.0).1, 0.0);
        assert_eq!(
            leaf_grads(|a, _| a.relu(), -0.0, 0.0).0.to_bits(),
            (-0.0f64).to_bits()
        );
        assert!(leaf_grads(|a, _| a.relu(), f64::NAN, 0.0).0.is_nan());
        assert_eq!(leaf_grads(|a, _| a.abs(), 0.0, 0.0).1, 0.0);
        assert_eq!(leaf_grads(|a, _| a.abs(), -2.0, 0.0).1, -1.0);
        assert_eq!(leaf_grads(|a, _| a.sqrt(), 0.0, 0.0).1, f64::INFINITY);
        assert!(leaf_grads(|a, _| a.sqrt(), -1.0, 0.0).0.is_nan());
        assert!(leaf_grads(|a, _| a.sin(), f64::INFINITY, 0.0).0.is_nan());
        assert_eq!(leaf_grads(|a, _| a.cos(), 0.0, 0.0).1, 0.0); // -sin(0)
        assert_eq!(leaf_grads(|a, _| a.sin(), 0.0, 0.0).1, 1.0);
        // d/da a ** 0 is 0 everywhere; d/db a ** b is masked where a == 0 and b >= 0.
        assert_eq!(leaf_grads(|a, _| a.pow(0.0), 0.0, 0.0), (1.0, 0.0, 0.0));
        assert_eq!(leaf_grads(|a, b| a.pow(b), 0.0, 2.0), (0.0, 0.0, 0.0));
        assert_eq!(leaf_grads(|_, b| 0.0_f64.pow(b), 0.0, 0.0), (1.0, 0.0, 0.0));
        assert_eq!(leaf_grads(|a, _| a.pow(2.0), 3.0, 0.0), (9.0, 6.0, 0.0));
        assert_eq!(
            leaf_grads(|_, b| 2.0_f64.pow(b), 0.0, 3.0),
            (8.0, 0.0, 8.0 * 2f64.ln())
        );
    }

    #[test]
    fn ieee_results_instead_of_panics() {
        assert_eq!(leaf_grads(|a, _| a.exp(), 1000.0, 0.0).0, f64::INFINITY);
        assert_eq!(leaf_grads(|a, _| a.log(), 0.0, 0.0).0, f64::NEG_INFINITY);
        assert!(leaf_grads(|a, _| a.log(), -1.0, 0.0).0.is_nan());
        assert_eq!(leaf_grads(|a, b| a / b, 1.0, 0.0).0, f64::INFINITY);
        assert_eq!(
            leaf_grads(|a, _| a.sigmoid(), -1000.0, 0.0),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(
            leaf_grads(|a, _| a.pow(-1.0), -0.0, 0.0).0,
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn leaves_accumulate_across_backward_calls_and_interior_nodes_do_not() {
        let x = Value::new(2.0);
        let h = &x * &x;
        let y = &h * 3.0;
        y.backward();
        y.backward();
        assert_eq!(x.grad(), 24.0);
        assert_eq!(h.grad(), 3.0);
        assert_eq!(y.grad(), 1.0);
        let leaf = Value::new(5.0);
        leaf.backward();
        leaf.backward();
        assert_eq!(leaf.grad(), 2.0);
    }

    #[test]
    #[cfg_attr(feature = "bug-inplace-overwrites", should_panic)]
    fn compound_assignment_builds_a_new_node() {
        let a = Value::new(1.5);
        let b = Value::new(2.0);
        let mut t = a.clone();
        t += &b;
        t *= 2.0;
        t -= b.clone();
        t /= 4.0;
        t.backward();
        assert_eq!(t.data(), 1.25); // ((1.5 + 2) * 2 - 2) / 4
        assert_eq!((a.data(), a.grad(), b.grad()), (1.5, 0.5, 0.25));
        assert!(!t.ptr_eq(&a));
    }

    #[test]
    fn sums_add_left_to_right_from_zero() {
        let xs = [Value::new(1e16), Value::new(1.0), Value::new(-1e16)];
        let total: Value = xs.iter().sum();
        assert_eq!(total.data(), ((0.0 + 1e16) + 1.0) + -1e16);
        total.backward();
        assert!(xs.iter().all(|x| x.grad() == 1.0));
    }

    #[test]
    fn printing_shows_one_node() {
        let y = Value::new(1.5).tanh();
        assert_eq!(format!("{}", Value::new(1.5)), "Value(data=1.5, grad=0)");
        assert!(format!("{y:?}").contains("op: \"tanh\""));
    }
}
