#![allow(clippy::duplicate_mod)] // each example brings its own copy of the toy engine

//! The documented adapters (`examples/`, shown in `docs/PROTOCOL.md`) serve what their engines
//! have and answer `unsupported_op` for what their users cannot write.

#[allow(dead_code)] // the example's `main`
#[path = "../examples/no_number_operands.rs"]
mod no_number_operands;
#[allow(dead_code)]
#[path = "../examples/owned_assign.rs"]
mod owned_assign;

use micrograd_driver::{Engine, assert_replay, json, replay, respond};

/// The `kind` of the answer to a one-request program, with `nodes` as on the wire.
fn answer_kind(engine: &impl Engine, nodes: &str, output: usize) -> String {
    let line = format!(r#"{{"type":"run","id":1,"nodes":{nodes},"output":{output}}}"#);
    let answer = json::parse(&respond(engine, &line)).unwrap();
    let kind = answer
        .get("kind")
        .or(answer.get("type"))
        .and_then(json::Json::as_str);
    kind.unwrap().to_owned()
}

#[test]
fn the_owned_assignment_adapter_serves_in_place_ops_on_values_only() {
    let adapter = owned_assign::Adapter;
    // t = a; t += b; t *= a: a is unchanged, d/da = b + 2a... checked by value and gradient.
    assert_replay(
        &adapter,
        r#"{"type":"run","id":0,"nodes":[["input",1.5],["input",2.0],["iadd",0,1],["imul",2,0]],"output":3,
            "expect":{"values":[1.5,2.0,3.5,5.25],"grads":[5.0,1.5,null,null],
                      "value_tolerances":[0,0,0,0],"grad_tolerances":[0,0,null,null]}}"#,
    );
    let number_on_the_right = r#"[["input",1.5],["const",2.0],["iadd",0,1]]"#;
    assert_eq!(
        answer_kind(&adapter, number_on_the_right, 2),
        "unsupported_op"
    );
    // Its arithmetic does take numbers, on either side.
    let reflected = r#"[["const",2.0],["input",0.5],["sub",0,1],["div",0,2]]"#;
    assert_eq!(answer_kind(&adapter, reflected, 3), "result");
    assert_replay(
        &adapter,
        r#"{"type":"run","id":0,"nodes":[["const",2.0],["input",0.5],["sub",0,1],["div",0,2]],"output":3,
            "expect":{"values":[null,0.5,1.5,1.3333333333333333],"grads":[null,0.8888888888888888,null,null],
                      "value_tolerances":[null,0,0,1e-15],"grad_tolerances":[null,1e-15,null,null]}}"#,
    );
}

#[test]
fn the_no_numbers_adapter_answers_unsupported_op_for_number_operands() {
    let adapter = no_number_operands::Adapter;
    for nodes in [
        r#"[["input",1.5],["const",2.0],["add",0,1]]"#,
        r#"[["const",2.0],["input",1.5],["sub",0,1]]"#,
        r#"[["input",1.5],["const",2.0],["imul",0,1]]"#,
    ] {
        assert_eq!(answer_kind(&adapter, nodes, 2), "unsupported_op", "{nodes}");
    }
    assert_replay(
        &adapter,
        r#"{"type":"run","id":0,"nodes":[["input",0.5],["input",2.0],["mul",0,1],["tanh",2]],"output":3}"#,
    );
    // A left-out form fails a replay, saying which.
    let failure = replay(
        &adapter,
        r#"{"type":"run","id":0,"nodes":[["input",1.5],["const",2.0],["add",0,1]],"output":2}"#,
    );
    let problems = failure.unwrap_err().problems;
    assert_eq!(
        problems,
        ["node 2: the engine does not implement Value + f64 (op \"add\", form vc)"]
    );
}
