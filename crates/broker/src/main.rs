//! `ferrologd`: parse flags, set up logging, run the broker until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferrolog_broker::{BrokerConfig, Server};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// A single-binary, Kafka-compatible commit log broker.
#[derive(Debug, Parser)]
#[command(name = "ferrologd", version)]
struct Args {
    /// TOML file with every other setting (see BrokerConfig).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Kafka listener [default: 127.0.0.1:9092]; port 0 picks one (logged).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Address given to clients [default: the bound address].
    #[arg(long, value_name = "HOST:PORT")]
    advertised_listener: Option<String>,
    /// Log filter: a level (trace, debug, info, warn, error, off) and/or
    /// TARGET=LEVEL, comma-separated, e.g. warn,ferrolog_broker=debug (targets
    /// not named log at info unless a level is given).
    #[arg(long, default_value = DEFAULT_LOG_LEVEL, env = "FERROLOG_LOG")]
    log_level: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = match log_filter(&args.log_level) {
        Ok(filter) => filter,
        Err(e) => {
            // No logger yet, and none should start: a usage error like clap's.
            eprintln!(
                "error: invalid --log-level (or FERROLOG_LOG) {:?}: {e}",
                args.log_level
            );
            return ExitCode::from(2);
        }
    };
    // Colour only on a terminal, so log files and tests read plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = ferrolog_storage::error::chain_line(e.as_ref());
            // The one line that says why the broker stopped is shown whatever
            // the filter: with this target filtered out (`off`, or
            // `ferrologd=off`) it goes to stderr instead.
            if tracing::enabled!(tracing::Level::ERROR) {
                tracing::error!("{line}");
            } else {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The `--log-level` filter, refused rather than replaced when it would not
/// do what it says: a syntax error, or a bare word that is not a level
/// (tracing reads `lol` as a target to trace, so every other line, the
/// listen address included, would vanish). A target is named as TARGET=LEVEL.
/// A filter that names no level for everything else (`ferrolog_broker=debug`)
/// keeps the default `info` for it: tracing would silence every other
/// target, recovery's warnings and the reason a start failed among them.
fn log_filter(spec: &str) -> Result<EnvFilter, String> {
    if spec.trim().is_empty() {
        return Err("the filter is empty".into());
    }
    // Bare words (no `TARGET=`, no `[span]`) must each be a level.
    let bare: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.contains(['=', '[']))
        .collect();
    if let Some(word) = bare.iter().find(|d| d.parse::<LevelFilter>().is_err()) {
        return Err(format!(
            "{word:?} is not a level (trace, debug, info, warn, error, off); name a target as TARGET=LEVEL"
        ));
    }
    let spec = if !bare.is_empty() {
        spec.to_owned()
    } else {
        format!("{DEFAULT_LOG_LEVEL},{spec}")
    };
    EnvFilter::try_new(spec).map_err(|e| e.to_string())
}

/// The level of every target a `--log-level` does not name.
const DEFAULT_LOG_LEVEL: &str = "info";

fn run(args: Args) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => BrokerConfig::from_file(path)?,
        None => BrokerConfig::default(),
    };
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(advertised) = args.advertised_listener {
        config.advertised_listener = Some(advertised);
    }
    if !ferrolog_broker::freed_memory::keep_for_reuse() {
        tracing::debug!("malloc not tuned: freed request buffers go back to the kernel");
    }
    match ferrolog_broker::open_files::raise_to_hard_limit() {
        Ok(Some(raised)) => {
            tracing::info!(
                from = raised.from,
                to = raised.to,
                "raised the open-file limit"
            )
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = Server::bind(config).await?;
        server.run(shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the broker");
                if let Err(e) = ctrl_c.await {
                    tracing::error!(error = %e, "cannot listen for SIGINT");
                }
            }
        }
    }
    #[cfg(not(unix))]
    if let Err(e) = ctrl_c.await {
        tracing::error!(error = %e, "cannot listen for SIGINT");
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters_are_levels_or_target_equals_level() {
        for good in [
            "info",
            "WARN",
            "warn,ferrolog_broker=debug",
            "ferrolog_storage=trace",
            "off",
        ] {
            assert!(log_filter(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            " ",
            "lol",
            "info,lol",
            "nonsense=[",
            "ferrolog_broker=loud",
        ] {
            assert!(log_filter(bad).is_err(), "{bad}");
        }
    }
}
