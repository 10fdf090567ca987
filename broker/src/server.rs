//! Accepting connections, and starting and stopping the broker.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use seglog::store::LogStore;

use crate::connection;
use crate::log::log_line;
use crate::{BrokerConfig, Shared};

/// Why the broker did not start.
#[derive(Debug)]
pub enum StartError {
    /// The store did not open.
    Store(seglog::Error),
    /// The listening socket could not be made.
    Listen(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Store(e) => write!(f, "opening the store: {e}"),
            StartError::Listen(e) => write!(f, "listening: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// SIGINT and SIGTERM, caught from the moment this is made (make it
/// before starting the broker, so that a signal during the start is not
/// lost).
pub struct ShutdownSignals(signal_hook::iterator::Signals);

impl std::fmt::Debug for ShutdownSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShutdownSignals")
    }
}

impl ShutdownSignals {
    /// Installs the handlers.
    ///
    /// # Errors
    /// If the handlers cannot be installed.
    pub fn install() -> std::io::Result<Self> {
        signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ])
        .map(ShutdownSignals)
    }

    /// Blocks until one of the signals arrives (or has arrived since
    /// `install`), and returns its number.
    pub fn wait(&mut self) -> Option<i32> {
        let signal = self.0.forever().next();
        if let Some(signal) = signal {
            log_line!("signal {signal}: shutting down");
        }
        signal
    }
}

/// A running broker.
#[derive(Debug)]
pub struct Broker {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<Connection>>>,
}

/// A connection's thread, and a handle on its socket to end it at
/// shutdown.
#[derive(Debug)]
struct Connection {
    thread: JoinHandle<()>,
    socket: Option<TcpStream>,
}

impl Broker {
    /// Opens the store, binds the listening socket and starts accepting.
    ///
    /// # Errors
    /// [`StartError`] if the store does not open or the address is taken.
    pub fn start(config: BrokerConfig) -> Result<Broker, StartError> {
        let mut config = config;
        cap_connections_by_open_file_limit(&mut config);
        let store = LogStore::open(&config.dir, config.store.clone()).map_err(StartError::Store)?;
        let listener = TcpListener::bind(config.listen).map_err(StartError::Listen)?;
        let local_addr = listener.local_addr().map_err(StartError::Listen)?;
        let shared = Arc::new(Shared::new(store, config, local_addr));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let shared = shared.clone();
            let connections = connections.clone();
            std::thread::Builder::new()
                .name("accept".into())
                .spawn(move || accept_loop(&shared, listener, &connections))
                .map_err(StartError::Listen)?
        };
        log_line!(
            "listening on {local_addr}, advertised as {}:{}, store {}",
            shared.advertised_host,
            shared.advertised_port,
            shared.config.dir.display()
        );
        Ok(Broker {
            shared,
            acceptor: Some(acceptor),
            connections,
        })
    }

    /// The address the broker listens on (with the port the system chose
    /// for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The store the broker serves.
    pub fn store(&self) -> &LogStore {
        &self.shared.store
    }

    /// Client connections open now.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Stops accepting, lets each connection finish the request it is
    /// serving (up to a few seconds), then ends the connections still
    /// open (a client that does not read its response, or trickles a
    /// request) and closes the store cleanly.
    ///
    /// # Errors
    /// The store's close error.
    pub fn shutdown(mut self) -> Result<(), seglog::Error> {
        self.stop_accepting();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let connections = std::mem::take(&mut *lock(&self.connections));
        for c in &connections {
            if let (false, Some(socket)) = (c.thread.is_finished(), &c.socket) {
                // Wakes a read or a send blocked on the client.
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
        // Closing wakes requests still waiting on the store (a JoinGroup,
        // a SyncGroup); their connections then end.
        let closed = self.shared.store.close();
        for c in connections {
            let _ = c.thread.join();
        }
        log_line!("store closed");
        closed
    }

    fn stop_accepting(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.shared.local_addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.stop_accepting();
            let _ = self.shared.store.close();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener, connections: &Mutex<Vec<Connection>>) {
    for stream in listener.incoming() {
        if shared.is_shutting_down() {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log_line!("accept failed: {e}");
                // Out of file descriptors, say: do not spin.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "unknown".into());
        let open = shared.connections.load(Ordering::SeqCst);
        if open >= shared.config.max_connections {
            log_line!(
                "closing connection from {peer}: {open} connections open, max.connections is {}",
                shared.config.max_connections
            );
            continue;
        }
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let socket = stream.try_clone().ok();
        let shared2 = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("conn {peer}"))
            .spawn(move || {
                connection::serve(&shared2, stream, &peer);
                shared2.connections.fetch_sub(1, Ordering::SeqCst);
            });
        match spawned {
            Ok(thread) => {
                let mut all = lock(connections);
                all.retain(|c| !c.thread.is_finished());
                all.push(Connection { thread, socket });
            }
            Err(e) => {
                shared.connections.fetch_sub(1, Ordering::SeqCst);
                log_line!("no thread for a new connection: {e}");
            }
        }
    }
}

/// Lowers `max.connections` so that connections cannot take the file
/// descriptors the store needs (`max_open_files` segment files, plus a
/// margin for indexes being opened, checkpoints and the listener): a store
/// that cannot open a file fails its appends.
fn cap_connections_by_open_file_limit(config: &mut BrokerConfig) {
    let Some(limit) = open_file_limit() else {
        return;
    };
    let reserved = config.store.max_open_files as u64 + 128;
    let budget = usize::try_from(limit.saturating_sub(reserved))
        .unwrap_or(usize::MAX)
        .max(1);
    if budget < config.max_connections {
        log_line!(
            "max.connections lowered from {} to {budget}: the open-file limit is {limit}, and the store keeps up to {} files open",
            config.max_connections,
            config.store.max_open_files
        );
        config.max_connections = budget;
    }
}

/// The process's open-file limit (`None`: unlimited or unknown).
#[cfg(target_os = "linux")]
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(target_os = "linux"))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Raises the process's soft open-file limit to its hard limit, as servers
/// commonly do (the soft limit is often 1,024). Returns the limit now in
/// force (`None`: unlimited or unknown).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            limit.current = limit.maximum;
            let _ = setrlimit(Resource::Nofile, limit);
        }
    }
    open_file_limit()
}
