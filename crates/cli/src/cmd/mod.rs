//! One module per command; `run` dispatches and connects when a broker is needed.

use std::process::ExitCode;

use ferrolog_client::produce::Acks;
use ferrolog_client::{Client, ClientConfig, Compression};

use crate::args::{AcksArg, Cli, Command, CompressionArg, Global};

mod consume;
mod group;
mod inspect;
mod perf;
mod produce;
mod topic;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        // Offline: never touches the network.
        Command::Inspect(args) => inspect::run(&global, &args),
        // Waits for an unreachable broker within its delivery timeout.
        Command::Produce(args) => produce::run(&global, args).await,
        Command::Consume(args) => consume::run(&global, &connect(&global).await?, args).await,
        Command::Topic(command) => topic::run(&global, &connect(&global).await?, command).await,
        Command::Group(command) => group::run(&global, &connect(&global).await?, command).await,
        Command::Perf(command) => perf::run(&global, command).await,
    }
}

pub async fn connect(global: &Global) -> anyhow::Result<Client> {
    // The client's error already names the address and the cause.
    Ok(Client::connect(client_config(global)?).await?)
}

pub fn client_config(global: &Global) -> anyhow::Result<ClientConfig> {
    let config = ClientConfig::new(global.bootstrap.clone());
    if config.bootstrap.is_empty() {
        anyhow::bail!("--bootstrap-server is empty; expected HOST:PORT");
    }
    Ok(config)
}

pub fn acks(a: AcksArg) -> Acks {
    match a {
        AcksArg::Zero => Acks::None,
        AcksArg::One => Acks::Leader,
        AcksArg::All => Acks::All,
    }
}

pub fn compression(c: CompressionArg) -> Compression {
    match c {
        CompressionArg::None => Compression::None,
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Snappy => Compression::Snappy,
        CompressionArg::Lz4 => Compression::Lz4,
        CompressionArg::Zstd => Compression::Zstd,
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
