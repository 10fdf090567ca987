//! Encoding the response fields this crate writes itself (Fetch's).

use bytes::{BufMut, BytesMut};

/// Writes fields in a classic or flexible version's encoding.
#[derive(Debug)]
pub struct Writer {
    buf: BytesMut,
    flexible: bool,
}

impl Writer {
    /// An empty writer.
    pub fn new(flexible: bool) -> Self {
        Writer {
            buf: BytesMut::with_capacity(256),
            flexible,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the bytes written so far, leaving the writer empty.
    pub fn split(&mut self) -> BytesMut {
        self.buf.split()
    }

    /// An int8.
    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    /// An int16.
    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    /// An int32.
    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    /// An int64.
    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    /// An unsigned varint.
    pub fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// A length prefix for `n` items or bytes (`None`: null): int16 for
    /// classic strings, int32 for classic arrays and bytes, varint n + 1
    /// in flexible versions.
    fn length(&mut self, n: Option<usize>, classic_i16: bool) {
        if self.flexible {
            self.uvarint(n.map_or(0, |n| n as u32 + 1));
        } else if classic_i16 {
            self.i16(n.map_or(-1, |n| n as i16));
        } else {
            self.i32(n.map_or(-1, |n| n as i32));
        }
    }

    /// A string.
    pub fn string(&mut self, s: &str) {
        self.length(Some(s.len()), true);
        self.buf.put_slice(s.as_bytes());
    }

    /// An array's length (null for `None`); the caller writes the items.
    pub fn array_len(&mut self, n: Option<usize>) {
        self.length(n, false);
    }

    /// The length prefix of a bytes field whose `n` bytes the caller sends
    /// after it (`None`: null).
    pub fn bytes_len(&mut self, n: Option<usize>) {
        self.length(n, false);
    }

    /// An empty tagged-field section (flexible versions only).
    pub fn no_tagged_fields(&mut self) {
        if self.flexible {
            self.uvarint(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reader;

    #[test]
    fn what_the_writer_writes_the_reader_reads() {
        for flexible in [false, true] {
            let mut w = Writer::new(flexible);
            w.string("topic");
            w.array_len(Some(2));
            w.i32(7);
            w.i32(300);
            w.uvarint(300);
            w.no_tagged_fields();
            let mut r = Reader::new(w.split().freeze(), flexible);
            assert_eq!(r.string().unwrap(), "topic");
            assert_eq!(r.array(|r| r.i32()).unwrap(), vec![7, 300]);
            assert_eq!(r.uvarint().unwrap(), 300);
            assert!(r.tagged_fields().unwrap().is_empty());
            r.finish().unwrap();
        }
    }
}
