//! Neurons, layers and multi-layer perceptrons, as in micrograd 0.1.0's `nn.py`.
//!
//! A neuron adds its terms left to right from the bias, `b + w0*x0 + w1*x1 + ...`, one binary
//! node per term, exactly as micrograd 0.1.0 does: the same weights give the same floats.

use std::fmt;

use crate::Value;

/// One neuron: `relu(b + w . x)`, or `b + w . x` when it is linear.
#[derive(Debug, Clone)]
pub struct Neuron {
    weights: Vec<Value>,
    bias: Value,
    nonlin: bool,
}

impl Neuron {
    /// A neuron of `nin` inputs, weights drawn from `init` in order, bias 0 (micrograd's).
    pub fn new(nin: usize, nonlin: bool, init: &mut impl FnMut() -> f64) -> Neuron {
        let weights = (0..nin).map(|_| Value::new(init())).collect();
        Neuron {
            weights,
            bias: Value::new(0.0),
            nonlin,
        }
    }

    /// The neuron's output on `x`.
    ///
    /// # Panics
    ///
    /// If `x` does not hold one input per weight.
    pub fn forward(&self, x: &[Value]) -> Value {
        assert_eq!(
            x.len(),
            self.weights.len(),
            "a neuron with {} weights needs as many inputs, got {}",
            self.weights.len(),
            x.len()
        );
        let act = self
            .weights
            .iter()
            .zip(x)
            .fold(self.bias.clone(), |act, (w, xi)| act + w * xi);
        if self.nonlin { act.relu() } else { act }
    }

    /// The weights, then the bias.
    pub fn parameters(&self) -> impl Iterator<Item = &Value> {
        self.weights.iter().chain(std::iter::once(&self.bias))
    }
}

/// A layer of neurons sharing their inputs.
#[derive(Debug, Clone)]
pub struct Layer {
    neurons: Vec<Neuron>,
}

impl Layer {
    /// `nout` neurons of `nin` inputs each.
    pub fn new(nin: usize, nout: usize, nonlin: bool, init: &mut impl FnMut() -> f64) -> Layer {
        Layer {
            neurons: (0..nout).map(|_| Neuron::new(nin, nonlin, init)).collect(),
        }
    }

    /// Each neuron's output on `x`.
    pub fn forward(&self, x: &[Value]) -> Vec<Value> {
        self.neurons
            .iter()
            .map(|neuron| neuron.forward(x))
            .collect()
    }

    /// Every neuron's parameters, neuron by neuron.
    pub fn parameters(&self) -> impl Iterator<Item = &Value> {
        self.neurons.iter().flat_map(Neuron::parameters)
    }
}

/// A multi-layer perceptron: relu layers, then a linear one.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Layer>,
}

/// The weights given do not fit the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongParameterCount {
    /// How many parameters the network has.
    pub expected: usize,
    /// How many weights were given.
    pub got: usize,
}

impl fmt::Display for WrongParameterCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the network has {} parameters, got {} weights",
            self.expected, self.got
        )
    }
}

impl std::error::Error for WrongParameterCount {}

impl Mlp {
    /// `MLP(nin, nouts)`: a layer per entry of `nouts`, weights drawn from `init` in
    /// [`parameters`](Mlp::parameters) order (biases start at 0).
    pub fn new(nin: usize, nouts: &[usize], mut init: impl FnMut() -> f64) -> Mlp {
        let sizes: Vec<usize> = std::iter::once(nin).chain(nouts.iter().copied()).collect();
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, pair)| Layer::new(pair[0], pair[1], i + 1 != nouts.len(), &mut init))
            .collect();
        Mlp { layers }
    }

    /// `MLP(nin, nouts)` holding exactly `weights`, in [`parameters`](Mlp::parameters) order
    /// (biases included).
    pub fn with_parameters(
        nin: usize,
        nouts: &[usize],
        weights: &[f64],
    ) -> Result<Mlp, WrongParameterCount> {
        let mlp = Mlp::new(nin, nouts, || 0.0);
        let expected = mlp.parameters().count();
        if expected != weights.len() {
            return Err(WrongParameterCount {
                expected,
                got: weights.len(),
            });
        }
        for (parameter, &w) in mlp.parameters().zip(weights) {
            parameter.set_data(w);
        }
        Ok(mlp)
    }

    /// The last layer's outputs on `x`.
    pub fn forward(&self, x: &[Value]) -> Vec<Value> {
        self.layers
            .iter()
            .fold(x.to_vec(), |x, layer| layer.forward(&x))
    }

    /// Per layer, per neuron: its weights, then its bias (micrograd's `parameters()` order).
    pub fn parameters(&self) -> impl Iterator<Item = &Value> {
        self.layers.iter().flat_map(Layer::parameters)
    }

    /// Sets every parameter's gradient to 0.
    pub fn zero_grad(&self) {
        self.parameters().for_each(Value::zero_grad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_come_per_layer_per_neuron_weights_then_bias() {
        let weights: Vec<f64> = (0..(3 * 4 + 4 + 4 + 1)).map(f64::from).collect();
        let mlp = Mlp::with_parameters(3, &[4, 1], &weights).unwrap();
        let got: Vec<f64> = mlp.parameters().map(Value::data).collect();
        assert_eq!(got, weights);
        let error = Mlp::with_parameters(3, &[4, 1], &weights[1..]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the network has 21 parameters, got 20 weights"
        );
    }

    #[test]
    fn a_neuron_adds_left_to_right_from_the_bias() {
        let mlp = Mlp::with_parameters(2, &[1], &[1.0, 1.0, 1e16]).unwrap();
        let out = &mlp.forward(&[Value::new(1.0), Value::new(1.0)])[0];
        // (b + w0 x0) + w1 x1: 1e16 + 1 rounds back to 1e16, twice; 1e16 + (1 + 1) would not.
        assert_eq!(out.data(), 1e16);
        out.backward();
        let grads: Vec<f64> = mlp.parameters().map(Value::grad).collect();
        assert_eq!(grads, [1.0, 1.0, 1.0]);
    }

    #[test]
    fn hidden_layers_are_relu_and_the_last_is_linear() {
        let mlp = Mlp::with_parameters(1, &[1, 1], &[-1.0, 0.0, 1.0, -3.0]).unwrap();
        // relu(-1 * 2) = 0, then 1 * 0 - 3 = -3 (a relu output would have been 0).
        assert_eq!(mlp.forward(&[Value::new(2.0)])[0].data(), -3.0);
    }
}
