//! SIGINT (Ctrl-C) and SIGTERM as a request to stop: `produce` stores what
//! it has read and `consume` stops between polls, and both print their
//! summary. A second signal, for a stop that hangs, exits at once (with
//! 128 + the signal's number, as a shell reports a process killed by it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use crate::CliError;

/// Whether SIGINT or SIGTERM arrived since [`StopRequest::install`].
#[derive(Debug, Clone)]
pub struct StopRequest(Arc<AtomicBool>);

impl StopRequest {
    /// Catches SIGINT and SIGTERM from now on.
    pub fn install() -> Result<Self, CliError> {
        let requested = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // The exit goes first: it acts only once the flag is set, that
            // is on the second signal.
            flag::register_conditional_shutdown(signal, 128 + signal, requested.clone())
                .and_then(|_| flag::register(signal, requested.clone()))
                .map_err(|e| {
                    CliError::Message(format!("installing the handler of signal {signal}: {e}"))
                })?;
        }
        Ok(StopRequest(requested))
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
