//! seglog-broker: a single-node Kafka broker over a seglog store.
//!
//! It serves Kafka's wire protocol with blocking I/O, a thread per
//! connection, so that Kafka's own clients produce to, fetch from, commit
//! offsets in and rebalance groups over a [`LogStore`]. Fetched record
//! batches go from the segment files to the socket with `sendfile(2)`.
//!
//! ```no_run
//! use seglog_broker::{Broker, BrokerConfig, ShutdownSignals};
//!
//! let mut signals = ShutdownSignals::install()?;
//! let config = BrokerConfig::new("/var/lib/seglog", "127.0.0.1:9092".parse()?);
//! let broker = Broker::start(config)?;
//! println!("listening on {}", broker.local_addr());
//! signals.wait();
//! broker.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod codec;
mod config;
mod connection;
pub mod errors;
mod log;
pub mod response;
mod server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize};

pub use config::BrokerConfig;
pub use server::{raise_open_file_limit, Broker, ShutdownSignals, StartError};

use seglog::store::LogStore;

/// What every connection shares: the store and the broker's settings.
#[derive(Debug)]
pub struct Shared {
    /// The store.
    pub store: LogStore,
    /// The settings.
    pub config: BrokerConfig,
    /// The host clients are told to connect to.
    pub advertised_host: String,
    /// The port clients are told to connect to.
    pub advertised_port: u16,
    /// The address the broker listens on.
    pub local_addr: SocketAddr,
    /// Set when the broker is shutting down.
    pub shutdown: AtomicBool,
    /// Connections open now.
    pub connections: AtomicUsize,
}

impl Shared {
    /// The state of a broker serving `store` with `config`, listening on
    /// `local_addr` (which it advertises unless `config.advertised` says
    /// otherwise). [`Broker::start`] makes one over the store it opens;
    /// one made over any store (an in-memory one, say) serves requests
    /// through [`api::handle`] without a socket, as the fuzz target of the
    /// request path does.
    pub fn new(store: LogStore, config: BrokerConfig, local_addr: SocketAddr) -> Shared {
        let (advertised_host, advertised_port) = config
            .advertised
            .clone()
            .unwrap_or_else(|| (local_addr.ip().to_string(), local_addr.port()));
        Shared {
            store,
            config,
            advertised_host,
            advertised_port,
            local_addr,
            shutdown: Default::default(),
            connections: Default::default(),
        }
    }

    /// The cluster id Metadata reports: stable for a directory.
    pub fn cluster_id(&self) -> String {
        "seglog-single-node".to_string()
    }

    /// Whether the broker is shutting down.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(std::sync::atomic::Ordering::SeqCst)
    }
}
