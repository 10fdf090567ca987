//! `seglog-broker --dir DIR --listen HOST:PORT [--advertised HOST:PORT]
//! [--config key=value ...]`: serves a seglog store to Kafka clients until
//! SIGINT or SIGTERM, then closes the store cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use seglog_broker::{raise_open_file_limit, Broker, BrokerConfig, ShutdownSignals};

/// A single-node Kafka broker over a seglog store.
#[derive(Debug, Parser)]
#[command(name = "seglog-broker", version)]
struct Args {
    /// The store's directory (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// The HOST:PORT clients are told to connect to (default: the
    /// listening address).
    #[arg(long)]
    advertised: Option<String>,
    /// A Kafka broker setting, e.g. `num.partitions=3`; repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seglog-broker: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut config = BrokerConfig::new(args.dir, args.listen);
    if let Some(adv) = &args.advertised {
        let (host, port) = adv
            .rsplit_once(':')
            .ok_or_else(|| format!("--advertised {adv}: expected HOST:PORT"))?;
        let port = port
            .parse()
            .map_err(|_| format!("--advertised {adv}: bad port"))?;
        config.advertised = Some((host.to_string(), port));
    }
    let pairs = args
        .config
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .ok_or_else(|| format!("--config {kv}: expected KEY=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    config.apply(pairs)?;
    let mut signals =
        ShutdownSignals::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    raise_open_file_limit();
    let broker = Broker::start(config).map_err(|e| e.to_string())?;
    signals.wait();
    // A second signal ends the process at once, should the clean
    // shutdown not finish.
    std::thread::spawn(move || {
        if let Some(signal) = signals.wait() {
            eprintln!("seglog-broker: second signal {signal}: exiting without a clean close");
            std::process::exit(128 + signal);
        }
    });
    broker
        .shutdown()
        .map_err(|e| format!("closing the store: {e}"))
}
