//! A toy engine for the examples: a scalar `Value` with owned `Value op Value` arithmetic, a few
//! methods, and compound assignment taking an owned `Value` only. Each example adds what its
//! engine has beyond that. Small graphs only: its `Drop` recurses, like most hobby engines.

use std::cell::Cell;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use std::rc::Rc;

/// A scalar in a computation graph.
#[derive(Clone)]
pub struct Value(Rc<Node>);

struct Node {
    data: f64,
    grad: Cell<f64>,
    /// Each operand with d(this node)/d(operand), computed when the node is made.
    operands: Vec<(Value, f64)>,
}

impl Value {
    /// A new leaf.
    pub fn new(data: f64) -> Value {
        Value::made_of(data, Vec::new())
    }

    fn made_of(data: f64, operands: Vec<(Value, f64)>) -> Value {
        Value(Rc::new(Node {
            data,
            grad: Cell::new(0.0),
            operands,
        }))
    }

    /// The value.
    pub fn data(&self) -> f64 {
        self.0.data
    }

    /// The gradient.
    pub fn grad(&self) -> f64 {
        self.0.grad.get()
    }

    /// `e ** self`.
    pub fn exp(self) -> Value {
        let y = self.data().exp();
        Value::made_of(y, vec![(self, y)])
    }

    /// The hyperbolic tangent.
    pub fn tanh(self) -> Value {
        let t = self.data().tanh();
        Value::made_of(t, vec![(self, (1.0 - t) * (1.0 + t))])
    }

    /// `max(self, 0)`; its derivative at 0 is 0.
    pub fn relu(self) -> Value {
        let x = self.data();
        let slope = if x > 0.0 { 1.0 } else { 0.0 };
        Value::made_of(if x < 0.0 { 0.0 } else { x }, vec![(self, slope)])
    }

    /// Adds d(self)/d(leaf) into every leaf's gradient (interior gradients start from 0).
    pub fn backward(&self) {
        // Iterative depth-first post-order: operands before the nodes made from them.
        let mut order: Vec<&Node> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![(&*self.0, 0)];
        seen.insert(Rc::as_ptr(&self.0));
        while let Some((node, next)) = stack.pop() {
            match node.operands.get(next) {
                Some((operand, _)) => {
                    stack.push((node, next + 1));
                    if seen.insert(Rc::as_ptr(&operand.0)) {
                        stack.push((&*operand.0, 0));
                    }
                }
                None => order.push(node),
            }
        }
        for node in &order {
            if !node.operands.is_empty() {
                node.grad.set(0.0);
            }
        }
        self.0.grad.set(1.0);
        for node in order.iter().rev() {
            for (operand, partial) in &node.operands {
                operand
                    .0
                    .grad
                    .set(operand.grad() + node.grad.get() * partial);
            }
        }
    }
}

impl Add for Value {
    type Output = Value;
    fn add(self, b: Value) -> Value {
        Value::made_of(self.data() + b.data(), vec![(self, 1.0), (b, 1.0)])
    }
}

impl Sub for Value {
    type Output = Value;
    fn sub(self, b: Value) -> Value {
        Value::made_of(self.data() - b.data(), vec![(self, 1.0), (b, -1.0)])
    }
}

impl Mul for Value {
    type Output = Value;
    fn mul(self, b: Value) -> Value {
        let (x, y) = (self.data(), b.data());
        Value::made_of(x * y, vec![(self, y), (b, x)])
    }
}

impl Div for Value {
    type Output = Value;
    fn div(self, b: Value) -> Value {
        let (x, y) = (self.data(), b.data());
        Value::made_of(x / y, vec![(self, 1.0 / y), (b, -(x / y) / y)])
    }
}

impl Neg for Value {
    type Output = Value;
    fn neg(self) -> Value {
        let x = self.data();
        Value::made_of(-x, vec![(self, -1.0)])
    }
}

/// Compound assignment: `t += b` makes a new node (with an owned `Value` on the right only).
macro_rules! compound_assignment {
    ($($trait:ident $method:ident $op:tt),*) => {$(
        impl $trait for Value {
            fn $method(&mut self, b: Value) {
                *self = self.clone() $op b;
            }
        }
    )*};
}

compound_assignment!(AddAssign add_assign +, SubAssign sub_assign -, MulAssign mul_assign *, DivAssign div_assign /);
