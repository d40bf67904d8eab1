//! The reference engine's wire-protocol driver: `python -m conformance --exec target/release/driver`.

fn main() -> std::io::Result<()> {
    micrograd_driver::serve(&micrograd_rs::wire::Adapter)
}
