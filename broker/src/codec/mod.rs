//! The wire codec's request side: reading request fields with every length
//! bounded by the frame. Responses are encoded with `kafka-protocol`, except
//! Fetch's, whose records go from the segment files to the socket.

mod read;
mod write;

pub use read::{DecodeError, DecodeResult, Reader};
pub use write::Writer;
