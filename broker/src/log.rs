//! The broker's log lines, on standard error.

/// Prints one log line with a UTC timestamp (seconds since the epoch, with
/// milliseconds, so lines sort and compare without a time zone).
macro_rules! log_line {
    ($($arg:tt)*) => {{
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        eprintln!(
            "[{}.{:03}] {}",
            now.as_secs(),
            now.subsec_millis(),
            format_args!($($arg)*)
        );
    }};
}

pub(crate) use log_line;
