//! Decoding request fields.
//!
//! Every length read from the wire is checked against the bytes left in
//! the frame before anything is allocated: an element of any array takes
//! at least one byte, so a count larger than what is left cannot be a
//! real request. A few bytes claiming two billion elements are an error,
//! not an allocation.

use bytes::Bytes;

/// A request the broker could not decode; the connection is closed with a
/// log line naming it, as Kafka closes it on an invalid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The result of a decode.
pub type DecodeResult<T> = Result<T, DecodeError>;

fn err<T>(what: impl Into<String>) -> DecodeResult<T> {
    Err(DecodeError(what.into()))
}

/// Reads one request body. `flexible` selects the compact encodings and
/// tagged fields of the request's flexible versions (KIP-482).
#[derive(Debug)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
    flexible: bool,
}

impl Reader {
    /// A reader over `buf`.
    pub fn new(buf: Bytes, flexible: bool) -> Self {
        Reader {
            buf,
            pos: 0,
            flexible,
        }
    }

    /// Whether the version being read is flexible.
    pub fn flexible(&self) -> bool {
        self.flexible
    }

    /// Switches between classic and flexible encodings (a request header
    /// is read classic up to its client id).
    pub fn set_flexible(&mut self, flexible: bool) {
        self.flexible = flexible;
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> DecodeResult<&[u8]> {
        if n > self.remaining() {
            return err(format!(
                "{what}: {n} bytes needed, {} left in the request",
                self.remaining()
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array_of<const N: usize>(&mut self, what: &str) -> DecodeResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    /// An int8.
    pub fn i8(&mut self) -> DecodeResult<i8> {
        Ok(i8::from_be_bytes(self.array_of("int8")?))
    }

    /// A boolean (any non-zero byte is true, as Kafka reads it).
    pub fn bool(&mut self) -> DecodeResult<bool> {
        Ok(self.i8()? != 0)
    }

    /// An int16.
    pub fn i16(&mut self) -> DecodeResult<i16> {
        Ok(i16::from_be_bytes(self.array_of("int16")?))
    }

    /// An int32.
    pub fn i32(&mut self) -> DecodeResult<i32> {
        Ok(i32::from_be_bytes(self.array_of("int32")?))
    }

    /// An int64.
    pub fn i64(&mut self) -> DecodeResult<i64> {
        Ok(i64::from_be_bytes(self.array_of("int64")?))
    }

    /// A UUID's 16 bytes.
    pub fn uuid(&mut self) -> DecodeResult<[u8; 16]> {
        self.array_of("uuid")
    }

    /// An unsigned varint of at most 32 bits.
    pub fn uvarint(&mut self) -> DecodeResult<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.array_of::<1>("varint")?[0];
            if i == 4 && b > 0x0f {
                return err("unsigned varint longer than 32 bits");
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        err("unsigned varint longer than 5 bytes")
    }

    /// A length prefix: int16/int32 in classic versions, an unsigned
    /// varint holding length + 1 in flexible ones. `None` is null.
    fn length(&mut self, classic_i16: bool) -> DecodeResult<Option<usize>> {
        let n: i64 = if self.flexible {
            i64::from(self.uvarint()?) - 1
        } else if classic_i16 {
            i64::from(self.i16()?)
        } else {
            i64::from(self.i32()?)
        };
        match n {
            -1 => Ok(None),
            n if n < -1 => err(format!("negative length {n}")),
            n => {
                let n = n as usize;
                if n > self.remaining() {
                    return err(format!(
                        "a length of {n} with {} bytes left in the request",
                        self.remaining()
                    ));
                }
                Ok(Some(n))
            }
        }
    }

    /// A nullable string.
    pub fn nullable_string(&mut self) -> DecodeResult<Option<String>> {
        match self.length(true)? {
            None => Ok(None),
            Some(n) => {
                let bytes = self.take(n, "string")?;
                match std::str::from_utf8(bytes) {
                    Ok(s) => Ok(Some(s.to_string())),
                    Err(_) => err("a string that is not UTF-8"),
                }
            }
        }
    }

    /// A string that must not be null.
    pub fn string(&mut self) -> DecodeResult<String> {
        match self.nullable_string()? {
            Some(s) => Ok(s),
            None => err("a null string where one is required"),
        }
    }

    /// Nullable bytes, sharing the request's buffer.
    pub fn nullable_bytes(&mut self) -> DecodeResult<Option<Bytes>> {
        match self.length(false)? {
            None => Ok(None),
            Some(n) => {
                let b = self.buf.slice(self.pos..self.pos + n);
                self.pos += n;
                Ok(Some(b))
            }
        }
    }

    /// Bytes that must not be null.
    pub fn bytes(&mut self) -> DecodeResult<Bytes> {
        match self.nullable_bytes()? {
            Some(b) => Ok(b),
            None => err("null bytes where they are required"),
        }
    }

    /// A nullable array whose elements `item` reads.
    pub fn nullable_array<T>(
        &mut self,
        mut item: impl FnMut(&mut Reader) -> DecodeResult<T>,
    ) -> DecodeResult<Option<Vec<T>>> {
        let Some(n) = self.length(false)? else {
            return Ok(None);
        };
        // `length` has bounded n by the bytes left; growing from a small
        // start keeps memory proportional to what decodes.
        let mut out = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(Some(out))
    }

    /// An array; null reads as empty.
    pub fn array<T>(
        &mut self,
        item: impl FnMut(&mut Reader) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        Ok(self.nullable_array(item)?.unwrap_or_default())
    }

    /// The topics of a request that names partitions by topic name (Produce,
    /// Fetch, ListOffsets, OffsetCommit, DeleteRecords): an array of a name
    /// and an array of partitions, each read by `partition` and followed,
    /// as each topic is, by its tagged fields.
    pub fn topic_partitions<T>(
        &mut self,
        mut partition: impl FnMut(&mut Reader) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<(String, Vec<T>)>> {
        self.array(|r| {
            let name = r.string()?;
            let partitions = r.array(|r| {
                let p = partition(r)?;
                r.tagged_fields()?;
                Ok(p)
            })?;
            r.tagged_fields()?;
            Ok((name, partitions))
        })
    }

    /// Skips a tagged-field section (flexible versions only; nothing in
    /// classic ones). Returns the fields as (tag, bytes).
    pub fn tagged_fields(&mut self) -> DecodeResult<Vec<(u32, Bytes)>> {
        if !self.flexible {
            return Ok(Vec::new());
        }
        let count = self.uvarint()? as usize;
        if count > self.remaining() {
            return err(format!(
                "{count} tagged fields in {} bytes",
                self.remaining()
            ));
        }
        let mut out = Vec::with_capacity(count.min(8));
        for _ in 0..count {
            let tag = self.uvarint()?;
            let len = self.uvarint()? as usize;
            if len > self.remaining() {
                return err(format!("a tagged field of {len} bytes"));
            }
            out.push((tag, self.buf.slice(self.pos..self.pos + len)));
            self.pos += len;
        }
        Ok(out)
    }

    /// The end of the request's fields. Bytes after them are ignored, as
    /// Kafka's request parser ignores them (librdkafka's Metadata request
    /// for every topic carries a few).
    pub fn finish(&self) -> DecodeResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absurd_array_length_is_an_error_not_an_allocation() {
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]), false);
        let e = r.array(|r| r.i64()).unwrap_err();
        assert!(e.0.contains("2147483647"), "{e}");
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]), true);
        assert!(r.array(|r| r.i64()).is_err());
    }

    #[test]
    fn compact_and_classic_strings() {
        let mut r = Reader::new(Bytes::from_static(&[0, 2, b'h', b'i', 0xff, 0xff]), false);
        assert_eq!(r.string().unwrap(), "hi");
        assert_eq!(r.nullable_string().unwrap(), None);
        assert_eq!(r.remaining(), 0);
        let mut r = Reader::new(Bytes::from_static(&[3, b'h', b'i', 0]), true);
        assert_eq!(r.string().unwrap(), "hi");
        assert!(r.string().is_err(), "0 is null in a compact string");
    }

    #[test]
    fn truncated_fields_and_bad_varints_are_errors() {
        let mut r = Reader::new(Bytes::from_static(&[0, 0, 1]), false);
        assert!(r.i32().is_err());
        let mut r = Reader::new(
            Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            true,
        );
        assert!(r.uvarint().is_err());
        let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 5, 1, 2]), false);
        assert!(r.bytes().is_err());
        let mut r = Reader::new(Bytes::from_static(&[0, 2, 0xc3, 0x28]), false);
        assert!(r.string().is_err(), "not UTF-8");
    }

    #[test]
    fn tagged_fields_are_read_and_bounded() {
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 2, 7, 8]), true);
        assert_eq!(
            r.tagged_fields().unwrap(),
            vec![(0, Bytes::from_static(&[7, 8]))]
        );
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 9, 7]), true);
        assert!(r.tagged_fields().is_err());
    }
}
