//! The reference engine against torch, through the wire protocol's dispatch: every op in every
//! form, kinks and non-finite results included (`reproducers.jsonl`, written by
//! `make_reproducers.py` from torch float64).

use micrograd_driver::{assert_replay, respond};
use micrograd_rs::wire::Adapter;

#[test]
fn every_op_in_every_form_matches_torch() {
    let lines = include_str!("reproducers.jsonl");
    assert!(lines.lines().count() >= 45);
    for line in lines.lines() {
        assert_replay(&Adapter, line);
    }
}

#[test]
fn the_adapter_names_the_engine_and_claims_every_op() {
    let hello = micrograd_driver::hello(&Adapter);
    assert!(
        hello.starts_with(
            r#"{"type":"hello","protocol":1,"engine":"micrograd-rs 0.1.0","ops":["add","#
        ),
        "{hello}"
    );
    for op in ["sin", "cos", "sqrt", "abs", "iadd", "idiv"] {
        assert!(hello.contains(&format!("\"{op}\"")), "{hello}");
    }
}

#[test]
fn negative_zero_and_huge_numbers_go_over_the_wire_exactly() {
    let line = r#"{"type":"run","id":7,"nodes":[["input",-0.0],["relu",0],["input",1e300],["mul",2,2]],"output":3}"#;
    assert_eq!(
        respond(&Adapter, line),
        r#"{"type":"result","id":7,"values":[-0.0,-0.0,1e+300,"Infinity"],"grads":[0.0,null,2e+300,null]}"#
    );
}
