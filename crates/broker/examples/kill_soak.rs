//! Soak tool: the kill -9 test with a cycle count.
//!
//! cargo run -p ferrolog-broker --example kill_soak -- --cycles 200 \
//!     [--binary target/debug/ferrologd] [--durability always|interval:<ms>|never] [--acks all|1] [--seed N]
//!     [--partitions P] [--load-ms MIN:MAX (load before each kill)]
//!
//! Exits non-zero when any invariant broke; prints the report either way.
#![allow(clippy::unwrap_used)]

#[path = "../tests/soak/mod.rs"]
mod soak;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut config = soak::SoakConfig::bounded(PathBuf::from("target/debug/ferrologd"), 20);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value");
            return ExitCode::from(2);
        };
        let parsed = match flag.as_str() {
            "--cycles" => value.parse().map(|v| config.cycles = v).is_ok(),
            "--binary" => {
                config.binary = PathBuf::from(&value);
                true
            }
            "--durability" => {
                config.durability = value.clone();
                true
            }
            "--acks" => {
                config.acks = value.clone();
                true
            }
            "--partitions" => value.parse().map(|v| config.partitions = v).is_ok(),
            "--seed" => value.parse().map(|v| config.seed = v).is_ok(),
            "--load-ms" => match value.split_once(':').map(|(a, b)| (a.parse(), b.parse())) {
                Some((Ok(min), Ok(max))) if min <= max => {
                    (config.load_ms_min, config.load_ms_max) = (min, max);
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !parsed {
            eprintln!("bad argument {flag} {value}");
            return ExitCode::from(2);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    match runtime.block_on(soak::run(&config, dir.path())) {
        Ok(report) => {
            println!("{report}");
            for line in report.broker_errors.iter().take(10) {
                println!("  broker error: {line}");
            }
            if report.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("soak could not run: {e}");
            ExitCode::from(3)
        }
    }
}
