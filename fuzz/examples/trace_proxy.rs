//! Prints what the proxy session does with one `smtp_proxy_session` input, event by event:
//! the tool for reading a crash the fuzzer found (docs/fuzzing.md).
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example trace_proxy -- FILE`

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: trace_proxy FILE   (an smtp_proxy_session input)");
        return std::process::ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    for line in aptsim_fuzz::checks::smtp_proxy_trace(&bytes) {
        println!("{line}");
    }
    std::process::ExitCode::SUCCESS
}
