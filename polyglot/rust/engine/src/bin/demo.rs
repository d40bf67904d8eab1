//! micrograd's moons demo on the Rust engine, for side-by-side timing with the Python engines.
//!
//! Reads the spec `benchmarks/demo_child.py` reads, on stdin:
//! `{"loop": "notebook", "X": [[x0, x1], ...], "y": [-1 | 1, ...], "weights": [...], "steps": N,
//! "alpha": 1e-4, "hidden": [16, 16]}` (weights in micrograd's `parameters()` order), runs
//! micrograd's demo.ipynb loop (`MLP(2, hidden + [1])`, SVM hinge loss + alpha * L2, full-batch
//! SGD with lr = 1 - 0.9 k / steps) and prints the report `demo_child.py` prints, as one JSON
//! object: `loop`, `engine_file`, `python` (here the Rust compiler), `gc_enabled` (false),
//! `wall_s`, `cpu_s`, `rss_before_kib`, `peak_rss_kib`, `gc_collections` ([0, 0, 0]), `losses`,
//! `accuracies`. Exit status 2 with a message on stderr when the spec is wrong.

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use micrograd_driver::json::{self, Json};
use micrograd_rs::Value;
use micrograd_rs::nn::Mlp;

/// The demo's inputs.
struct Spec {
    loop_name: String,
    x: Vec<[f64; 2]>,
    y: Vec<f64>,
    weights: Vec<f64>,
    steps: usize,
    alpha: f64,
    hidden: Vec<usize>,
}

fn main() -> ExitCode {
    match run() {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<Json, String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let spec = read_spec(&json::parse(&text).map_err(|e| format!("the spec is not JSON: {e}"))?)?;
    let nouts: Vec<usize> = spec.hidden.iter().copied().chain([1]).collect();
    let model = Mlp::with_parameters(2, &nouts, &spec.weights).map_err(|e| e.to_string())?;

    let rss_before = peak_rss_kib();
    let cpu_start = cpu_seconds();
    let wall_start = Instant::now();
    let (losses, accuracies) = notebook_loop(&model, &spec);
    let wall = wall_start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;

    let numbers = |xs: &[f64]| Json::Array(xs.iter().map(|&x| Json::from(x)).collect());
    let report = vec![
        ("loop", Json::from(spec.loop_name.as_str())),
        (
            "engine_file",
            Json::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/engine.rs")),
        ),
        (
            "python",
            Json::from(concat!("rust ", env!("MICROGRAD_RUSTC_VERSION"))),
        ),
        ("gc_enabled", Json::from(false)),
        ("wall_s", Json::from(wall)),
        ("cpu_s", Json::from(cpu)),
        ("rss_before_kib", Json::from(rss_before)),
        ("peak_rss_kib", Json::from(peak_rss_kib())),
        ("gc_collections", Json::Array(vec![Json::from(0u64); 3])),
        ("losses", numbers(&losses)),
        ("accuracies", numbers(&accuracies)),
    ];
    Ok(Json::Object(
        report.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    ))
}

/// demo.ipynb's `loss()` and optimisation loop, operation for operation.
fn notebook_loop(model: &Mlp, spec: &Spec) -> (Vec<f64>, Vec<f64>) {
    let mut losses = Vec::with_capacity(spec.steps);
    let mut accuracies = Vec::with_capacity(spec.steps);
    let n = spec.y.len() as f64;
    for k in 0..spec.steps {
        let scores: Vec<Value> = spec
            .x
            .iter()
            .map(|row| {
                let inputs = row.map(Value::new);
                model.forward(&inputs).swap_remove(0)
            })
            .collect();
        // (1 + -yi * scorei).relu(): a number times a Value, then a number plus a Value.
        let margins = spec
            .y
            .iter()
            .zip(&scores)
            .map(|(&yi, score)| (1.0 + -yi * score).relu());
        let data_loss = margins.sum::<Value>() * (1.0 / n);
        let reg_loss = spec.alpha * model.parameters().map(|p| p * p).sum::<Value>();
        let total_loss = data_loss + reg_loss;
        let correct = spec
            .y
            .iter()
            .zip(&scores)
            .filter(|&(&yi, s)| (yi > 0.0) == (s.data() > 0.0))
            .count();

        model.zero_grad();
        total_loss.backward();
        let learning_rate = 1.0 - 0.9 * k as f64 / spec.steps as f64;
        for p in model.parameters() {
            p.set_data(p.data() - learning_rate * p.grad());
        }
        losses.push(total_loss.data());
        accuracies.push(correct as f64 / n);
    }
    (losses, accuracies)
}

fn read_spec(spec: &Json) -> Result<Spec, String> {
    let field = |key: &str| {
        spec.get(key)
            .ok_or_else(|| format!("the spec has no \"{key}\""))
    };
    let number = |value: &Json, what: &str| {
        value
            .as_wire_f64()
            .ok_or_else(|| format!("{what} must be a number, got {value}"))
    };
    let list = |key: &str| {
        field(key)?.as_array().ok_or_else(|| {
            format!(
                "\"{key}\" must be a list, got {}",
                spec.get(key).map_or(String::new(), Json::to_string)
            )
        })
    };
    let count = |value: &Json, what: &str| {
        value
            .as_i64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| format!("{what} must be a non-negative integer, got {value}"))
    };

    let loop_name = field("loop")?.as_str().unwrap_or_default().to_owned();
    if loop_name != "notebook" {
        return Err(format!(
            "\"loop\" must be \"notebook\" (the Rust demo runs micrograd's notebook loop), got {}",
            field("loop")?
        ));
    }
    let x = list("X")?
        .iter()
        .enumerate()
        .map(|(i, row)| match row.as_array() {
            Some([x0, x1]) => Ok([
                number(x0, &format!("X[{i}][0]"))?,
                number(x1, &format!("X[{i}][1]"))?,
            ]),
            _ => Err(format!("X[{i}] must be a list of 2 numbers, got {row}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let y = list("y")?
        .iter()
        .enumerate()
        .map(|(i, v)| number(v, &format!("y[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if x.len() != y.len() || x.is_empty() {
        return Err(format!(
            "\"X\" and \"y\" must hold the same number of points (at least 1), got {} and {}",
            x.len(),
            y.len()
        ));
    }
    let weights = list("weights")?
        .iter()
        .enumerate()
        .map(|(i, v)| number(v, &format!("weights[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let hidden = match spec.get("hidden") {
        None => vec![16, 16],
        Some(_) => list("hidden")?
            .iter()
            .enumerate()
            .map(|(i, v)| count(v, &format!("hidden[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Spec {
        loop_name,
        x,
        y,
        weights,
        steps: count(field("steps")?, "\"steps\"")?,
        alpha: number(field("alpha")?, "\"alpha\"")?,
        hidden,
    })
}

/// The peak resident set size so far, in KiB (Linux's `VmHWM`; 0 where there is no `/proc`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The process's CPU time (user + system), in seconds, from `/proc/self/stat` (clock ticks of
/// 1/100 s: Linux's `USER_HZ` on every mainstream architecture); 0 where there is no `/proc`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the ')'.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}
