//! One client connection: read a request frame, answer it, repeat.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::api::{self, Outcome, Refusal};
use crate::log::log_line;
use crate::Shared;

/// How often a blocked read looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(200);
/// The most a frame's buffer grows by per read.
const CHUNK: usize = 64 * 1024;
/// How long a client may take to read a response before it is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `stream` until the client leaves, sends something that ends the
/// connection, or the broker shuts down; then closes the connection (the
/// broker keeps a handle on the socket for its shutdown, so dropping this
/// one would not).
pub fn serve(shared: &Shared, mut stream: TcpStream, peer: &str) {
    serve_requests(shared, &mut stream, peer);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn serve_requests(shared: &Shared, stream: &mut TcpStream, peer: &str) {
    let setup = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(POLL)))
        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)));
    if let Err(e) = setup {
        log_line!("connection from {peer}: {e}");
        return;
    }
    let host = peer.rsplit_once(':').map_or(peer, |(h, _)| h).to_string();
    loop {
        let frame = match read_frame(shared, stream) {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(reason) => {
                log_line!("closing connection from {peer}: {reason}");
                return;
            }
        };
        match api::handle_from(shared, frame, &host, Some(stream)) {
            Ok(Outcome::Respond(response)) => {
                if let Err(e) = response.write_to(stream) {
                    log_line!("closing connection from {peer}: writing a response: {e}");
                    return;
                }
            }
            Ok(Outcome::Silent) => {}
            Ok(Outcome::Close(reason)) | Err(Refusal::Close(reason)) => {
                log_line!("closing connection from {peer}: {reason}");
                return;
            }
        }
        // A client that sends request after request never lets a read time
        // out, so the shutdown flag is also looked at between requests.
        if shared.is_shutting_down() {
            return;
        }
    }
}

/// Reads one request frame. `Ok(None)` when the client closed the
/// connection between requests, it stayed idle past
/// `connections.max.idle.ms`, or the broker is shutting down.
fn read_frame(shared: &Shared, stream: &mut TcpStream) -> Result<Option<Bytes>, String> {
    let idle_since = Instant::now();
    let mut size = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match stream.read(&mut size[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err("the client disconnected in the middle of a request".into()),
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) => {
                if shared.is_shutting_down() {
                    return Ok(None);
                }
                if idle_since.elapsed() >= shared.config.connections_max_idle {
                    // A client stalled in the middle of a frame length is
                    // dropped too, not only one that sent nothing.
                    return Err(if got == 0 {
                        "idle for longer than connections.max.idle.ms".into()
                    } else {
                        "a request that did not arrive within connections.max.idle.ms".into()
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A client that goes away between requests often resets.
            Err(e) if got == 0 && e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(format!("reading: {e}")),
        }
    }
    let size = i32::from_be_bytes(size);
    let max = shared.config.socket_request_max_bytes;
    if size < 0 || size as usize > max {
        return Err(format!(
            "a request frame of {size} bytes (socket.request.max.bytes is {max})"
        ));
    }
    let size = size as usize;
    // Grown as bytes arrive, so a client that announces a large frame and
    // sends little of it holds little memory. The deadline and the
    // shutdown flag are looked at after every read, so a client trickling
    // bytes cannot hold the connection past either.
    let mut body = Vec::with_capacity(size.min(CHUNK));
    let started = Instant::now();
    while body.len() < size {
        let start = body.len();
        body.resize(start + (size - start).min(CHUNK), 0);
        match stream.read(&mut body[start..]) {
            Ok(0) => return Err("the client disconnected in the middle of a request".into()),
            Ok(n) => body.truncate(start + n),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                body.truncate(start);
            }
            Err(e) => return Err(format!("reading: {e}")),
        }
        if shared.is_shutting_down() {
            return Ok(None);
        }
        if body.len() < size && started.elapsed() >= shared.config.connections_max_idle {
            return Err("a request that did not arrive within connections.max.idle.ms".into());
        }
    }
    Ok(Some(Bytes::from(body)))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
