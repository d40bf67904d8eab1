//! Graphs of any depth build, differentiate and drop without recursion.

use std::thread;

use micrograd_rs::Value;

/// The default stack of a spawned thread: 2 MiB. A recursive `Drop` or sort overflows it in
/// debug and release builds alike, well before a million nodes.
const STACK: usize = 2 << 20;

fn on_a_small_stack(f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_million_node_chain_builds_differentiates_and_drops_on_a_small_stack() {
    on_a_small_stack(|| {
        let x = Value::new(0.5);
        let mut y = x.clone();
        for i in 0..1_000_000 {
            y = if i % 2 == 0 { -&y } else { y.tanh() };
        }
        y.backward();
        assert!(y.data().is_finite() && y.data() < 0.5);
        assert!(x.grad() > 0.0 && x.grad() < 1.0);
        drop(y); // the whole chain dies here, from its output: the teardown under test
        assert_eq!(x.data(), 0.5);
    });
}

#[test]
fn a_chain_owning_its_only_leaf_drops_and_shared_nodes_survive() {
    on_a_small_stack(|| {
        let shared = Value::new(2.0).exp();
        let mut y = Value::new(1.0);
        for _ in 0..1_000_000 {
            y = &y + &shared;
        }
        y.backward();
        assert_eq!(shared.grad(), 1_000_000.0);
        drop(y);
        // `shared` was an operand of every node of the chain; it lives on.
        assert_eq!(shared.data(), 2.0_f64.exp());
    });
}
