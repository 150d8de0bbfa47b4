//! `ferrolog`: the command-line tool. `main` parses arguments, sets up
//! logging, runs one command and turns any failure into one line on stderr
//! and a non-zero exit.
//!
//! # Layout
//! - `args` — every command and flag (clap).
//! - `timespec` — `--from`/`--to` positions: keywords, offsets, RFC 3339 and relative times.
//! - `template` — the `consume --format` template.
//! - `output` — text/JSON printing helpers and stdout handling.
//! - `cmd/` — one module per command: produce, consume, topic, group, inspect, perf.

mod args;
mod cmd;
mod output;
mod template;
mod timespec;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match args::Cli::parse_checked() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", output::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout as clap renders them; a usage error becomes
/// one line that still names the accepted values.
fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Printing help can only fail on a closed stdout; nothing useful to add then.
            return if e.print().is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        // A bare `ferrolog topic`: the help is the useful answer, but it is still a usage error.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{}", e.render());
            return ExitCode::from(2);
        }
        _ => {}
    }
    let text = e.render().to_string();
    let line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .collect();
    let line = line.join(" ");
    eprintln!(
        "{}",
        line.strip_prefix("error: ")
            .map_or_else(|| format!("error: {line}"), |l| format!("error: {l}"))
    );
    ExitCode::from(2)
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("ferrolog={level},ferrolog_client={level}"))
    });
    // A second initialisation can only happen in tests; ignoring it is harmless.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a redirected stderr reads plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init()
        .ok();
}
