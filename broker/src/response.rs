//! A response on its way to the socket: the header, then parts that are
//! either bytes in memory or ranges of a segment file. File ranges go to
//! the socket with `sendfile(2)` where the platform has it, so record
//! batches are not copied through user space.

use std::io::{self, Write};
use std::net::TcpStream;

use bytes::Bytes;
use seglog::FileSlice;

/// One piece of a response body.
#[derive(Debug, Clone)]
pub enum Part {
    /// Encoded fields.
    Bytes(Bytes),
    /// Whole record batches in a segment file.
    File(FileSlice),
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File(f) => f.len(),
        }
    }
}

/// A response: correlation id, header version, body parts.
#[derive(Debug)]
pub struct Response {
    correlation_id: i32,
    flexible_header: bool,
    parts: Vec<Part>,
}

impl Response {
    /// A response echoing `correlation_id`; `flexible_header` selects
    /// response header v1 (with tagged fields).
    pub fn new(correlation_id: i32, flexible_header: bool, parts: Vec<Part>) -> Self {
        Response {
            correlation_id,
            flexible_header,
            parts,
        }
    }

    /// The body's parts.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Size of the frame after its length prefix.
    pub fn frame_len(&self) -> u64 {
        let header = if self.flexible_header { 5 } else { 4 };
        header + self.parts.iter().map(Part::len).sum::<u64>()
    }

    /// The whole frame in memory (tests, and platforms without sendfile
    /// use the parts one by one instead).
    ///
    /// # Errors
    /// A segment read that fails.
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(4 + self.frame_len() as usize);
        out.extend_from_slice(&self.prefix()?);
        for part in &self.parts {
            match part {
                Part::Bytes(b) => out.extend_from_slice(b),
                Part::File(f) => out.extend_from_slice(&f.to_vec().map_err(io::Error::other)?),
            }
        }
        Ok(out)
    }

    fn prefix(&self) -> io::Result<Vec<u8>> {
        let len = i32::try_from(self.frame_len())
            .map_err(|_| io::Error::other("a response larger than 2 GiB"))?;
        let mut p = Vec::with_capacity(9);
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&self.correlation_id.to_be_bytes());
        if self.flexible_header {
            p.push(0); // no tagged fields
        }
        Ok(p)
    }

    /// Writes the frame to `stream`.
    ///
    /// # Errors
    /// The socket's or the segment file's error.
    pub fn write_to(&self, stream: &mut TcpStream) -> io::Result<()> {
        // Small parts are gathered so that a response without file ranges
        // is a single write.
        let mut pending = self.prefix()?;
        for part in &self.parts {
            match part {
                Part::Bytes(b) => pending.extend_from_slice(b),
                Part::File(f) => {
                    stream.write_all(&pending)?;
                    pending.clear();
                    send_file(stream, f)?;
                }
            }
        }
        stream.write_all(&pending)?;
        stream.flush()
    }
}

/// Sends a file range to the socket.
fn send_file(stream: &mut TcpStream, slice: &FileSlice) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(file) = slice.file() {
        let mut offset = slice.position();
        let end = slice.position() + slice.len();
        while offset < end {
            let want = usize::try_from(end - offset)
                .unwrap_or(usize::MAX)
                .min(1 << 30);
            match rustix::fs::sendfile(&*stream, file, Some(&mut offset), want) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{} ended before byte {end} while being sent",
                            slice.path().display()
                        ),
                    ))
                }
                Ok(_) => {}
                Err(e) if e == rustix::io::Errno::INTR => {}
                Err(e) if e == rustix::io::Errno::AGAIN => {
                    // The socket's send timeout passed with its buffer full.
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read its fetch response",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(());
    }
    let bytes = slice.to_vec().map_err(io::Error::other)?;
    stream.write_all(&bytes)
}
