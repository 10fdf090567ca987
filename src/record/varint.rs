//! Zig-zag base-128 varints as Kafka uses them inside records.
//!
//! A signed value is zig-zag mapped (`(n << 1) ^ (n >> bits-1)`) so small
//! magnitudes of either sign encode short, then written little-endian in
//! 7-bit groups with the high bit meaning "more follows". An `int` takes at
//! most 5 bytes and a `long` at most 10; longer encodings are rejected.

use super::DecodeError;

/// Bytes needed to encode `v` as a varint.
#[inline]
pub(crate) fn varint_len(v: i32) -> usize {
    unsigned_len(u64::from(zigzag32(v)))
}

/// Bytes needed to encode `v` as a varlong.
#[inline]
pub(crate) fn varlong_len(v: i64) -> usize {
    unsigned_len(zigzag64(v))
}

#[inline]
fn unsigned_len(u: u64) -> usize {
    // One byte per started group of 7 significant bits, at least one:
    // ceil(bits / 7) computed as (index of the top bit * 9 + 73) / 64,
    // without a division or a branch.
    let top_bit = 63 - (u | 1).leading_zeros() as usize;
    (top_bit * 9 + 73) / 64
}

#[inline]
fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

#[inline]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Writes into a slice sized beforehand, so no write checks capacity.
pub(crate) struct SliceWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> SliceWriter<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        SliceWriter { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        self.buf[self.pos] = b;
        self.pos += 1;
    }

    #[inline]
    fn unsigned(&mut self, mut u: u64) {
        if u < 0x80 {
            self.byte(u as u8);
            return;
        }
        while u >= 0x80 {
            self.byte((u as u8) | 0x80);
            u >>= 7;
        }
        self.byte(u as u8);
    }

    /// Writes `v` as a varint.
    #[inline]
    pub(crate) fn varint(&mut self, v: i32) {
        self.unsigned(u64::from(zigzag32(v)));
    }

    /// Writes `v` as a varlong.
    #[inline]
    pub(crate) fn varlong(&mut self, v: i64) {
        self.unsigned(zigzag64(v));
    }
}

/// Reads a varint at `*pos`, advancing it. `data` is the whole buffer, so
/// errors carry a position within it.
#[inline]
pub(crate) fn get_varint(data: &[u8], pos: &mut usize) -> Result<i32, DecodeError> {
    let u = match data.get(*pos) {
        // One-byte values (most lengths and deltas) need no loop.
        Some(&b) if b < 0x80 => {
            *pos += 1;
            u32::from(b)
        }
        // Kafka ignores junk above bit 31 of the fifth byte.
        _ => get_unsigned(data, pos, 5, "varint")? as u32,
    };
    Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
}

/// Reads a varlong at `*pos`, advancing it.
#[inline]
pub(crate) fn get_varlong(data: &[u8], pos: &mut usize) -> Result<i64, DecodeError> {
    let u = match data.get(*pos) {
        Some(&b) if b < 0x80 => {
            *pos += 1;
            u64::from(b)
        }
        _ => get_unsigned(data, pos, 10, "varlong")?,
    };
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[inline(never)]
fn get_unsigned(
    data: &[u8],
    pos: &mut usize,
    max_bytes: usize,
    what: &'static str,
) -> Result<u64, DecodeError> {
    let start = *pos;
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let Some(&byte) = data.get(start + i) else {
            return Err(DecodeError::new(
                start,
                format!("{what} runs past the end of the data"),
            ));
        };
        // The tenth byte of a varlong only has room for one bit; anything
        // above is shifted out, as Kafka's decoder does.
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *pos = start + i + 1;
            return Ok(value);
        }
    }
    Err(DecodeError::new(
        start,
        format!("{what} is longer than {max_bytes} bytes"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc32(v: i32) -> Vec<u8> {
        let mut out = vec![0; varint_len(v)];
        let mut w = SliceWriter::new(&mut out);
        w.varint(v);
        assert_eq!(w.position(), out.len());
        out
    }

    fn enc64(v: i64) -> Vec<u8> {
        let mut out = vec![0; varlong_len(v)];
        let mut w = SliceWriter::new(&mut out);
        w.varlong(v);
        assert_eq!(w.position(), out.len());
        out
    }

    #[test]
    fn kafka_varint_vectors() {
        let vectors: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
            (8191, &[0xfe, 0x7f]),
            (-8192, &[0xff, 0x7f]),
            (8192, &[0x80, 0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, bytes) in vectors {
            assert_eq!(enc32(v), bytes, "encoding {v}");
            assert_eq!(varint_len(v), bytes.len(), "length of {v}");
            let mut pos = 0;
            assert_eq!(get_varint(bytes, &mut pos).unwrap(), v);
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn kafka_varlong_vectors() {
        let vectors: &[(i64, &[u8])] = &[
            (17_179_869_184, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            (-17_179_869_185, &[0x81, 0x80, 0x80, 0x80, 0x80, 0x01]),
            (0, &[0x00]),
            (-1, &[0x01]),
        ];
        for &(v, bytes) in vectors {
            assert_eq!(enc64(v), bytes, "encoding {v}");
            assert_eq!(varlong_len(v), bytes.len());
            let mut pos = 0;
            assert_eq!(get_varlong(bytes, &mut pos).unwrap(), v);
        }
        for v in [i64::MIN, i64::MAX, i64::MIN + 1, 1 << 62] {
            let bytes = enc64(v);
            assert_eq!(bytes.len(), varlong_len(v));
            let mut pos = 0;
            assert_eq!(get_varlong(&bytes, &mut pos).unwrap(), v);
        }
    }

    #[test]
    fn lengths_match_encodings_for_every_width() {
        for shift in 0..64 {
            for v in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                let mut expected = 1;
                let mut x = v;
                while x >= 0x80 {
                    x >>= 7;
                    expected += 1;
                }
                assert_eq!(unsigned_len(v), expected, "{v:#x}");
            }
        }
    }

    #[test]
    fn overlong_encodings_are_rejected() {
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        let e = get_varint(&six, &mut 0).unwrap_err();
        assert!(e.reason.contains("longer than 5"), "{e:?}");
        let eleven = [0x80; 11];
        let e = get_varlong(&eleven, &mut 0).unwrap_err();
        assert!(e.reason.contains("longer than 10"), "{e:?}");
    }

    #[test]
    fn truncated_encodings_are_rejected_with_position() {
        let e = get_varint(&[0x00, 0x80], &mut 1).unwrap_err();
        assert_eq!(e.position, 1);
        assert!(get_varlong(&[], &mut 0).is_err());
    }

    #[test]
    fn fifth_byte_junk_is_ignored_like_kafka() {
        // 0x7f in the fifth byte sets bits above 31; Kafka keeps the low 32.
        let bytes = [0xfe, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(get_varint(&bytes, &mut 0).unwrap(), i32::MAX);
    }
}
