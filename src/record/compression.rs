//! Compression codecs, framed exactly as Kafka frames them.
//!
//! * gzip: an RFC 1952 stream (concatenated members are read too).
//! * snappy: the xerial snappy-java stream framing Kafka's Java client
//!   writes: the 16-byte header `82 'SNAPPY' 00`, int32 version 1, int32
//!   compatible version 1, then blocks of `int32 BE length + raw snappy`
//!   of at most 32 KiB of input each. A stream without the header is read
//!   as one raw snappy block, as snappy-java does.
//! * lz4: the LZ4 frame format with independent 64 KiB blocks and no
//!   checksums (FLG `0x60`, BD `0x40`), the only layout Kafka's reader is
//!   guaranteed to accept.
//! * zstd: a standard zstd frame.
//!
//! Each codec is a cargo feature; asking for a codec that is not compiled
//! in is [`Error::CompressionUnavailable`](crate::Error::CompressionUnavailable).
//! Decompression stops with an error past 256 MiB, so a
//! small hostile batch cannot make the reader allocate without bound.

use super::{Compression, DecodeError};
use crate::error::{Error, Result};

/// The most bytes one batch may decompress to (256 MiB).
#[cfg(any(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]
pub(crate) const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

pub(crate) fn is_available(codec: Compression) -> bool {
    match codec {
        Compression::None => true,
        Compression::Gzip => cfg!(feature = "gzip"),
        Compression::Snappy => cfg!(feature = "snappy"),
        Compression::Lz4 => cfg!(feature = "lz4"),
        Compression::Zstd => cfg!(feature = "zstd"),
    }
}

/// Compresses `input` with `codec`, appending the stream to `out`.
pub(crate) fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            enc.write_all(input)
                .map_err(|e| compress_failed(codec, e))?;
            enc.finish().map_err(|e| compress_failed(codec, e))?;
            Ok(())
        }
        #[cfg(feature = "snappy")]
        Compression::Snappy => xerial::compress(input, out).map_err(|e| compress_failed(codec, e)),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            use std::io::Write;
            let info = FrameInfo::new()
                .block_size(BlockSize::Max64KB)
                .block_mode(BlockMode::Independent)
                .block_checksums(false)
                .content_checksum(false);
            let mut enc = FrameEncoder::with_frame_info(info, out);
            enc.write_all(input)
                .map_err(|e| compress_failed(codec, e))?;
            enc.finish().map_err(|e| compress_failed(codec, e))?;
            Ok(())
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            let compressed =
                zstd::bulk::compress(input, 3).map_err(|e| compress_failed(codec, e))?;
            out.extend_from_slice(&compressed);
            Ok(())
        }
        #[allow(
            unreachable_patterns,
            reason = "reachable only when a codec's cargo feature is off"
        )]
        codec => Err(Error::CompressionUnavailable { codec }),
    }
}

#[cfg(any(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]
fn compress_failed(codec: Compression, e: impl std::fmt::Display) -> Error {
    Error::invalid_record(format!("{codec} compression failed: {e}"))
}

#[cfg(any(feature = "snappy", feature = "zstd"))]
fn decompress_failed(codec: Compression, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::new(0, format!("{codec} decompression failed: {e}"))
}

/// Decompresses `input` (a whole compressed records region) into `out`.
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(input), out, codec),
        #[cfg(feature = "snappy")]
        Compression::Snappy => {
            xerial::decompress(input, out).map_err(|e| decompress_failed(codec, e))
        }
        #[cfg(feature = "lz4")]
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(input), out, codec),
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| decompress_failed(codec, e))?;
            read_bounded(decoder, out, codec)
        }
        #[allow(
            unreachable_patterns,
            reason = "reachable only when a codec's cargo feature is off"
        )]
        codec => Err(DecodeError::unavailable(codec)),
    }
}

#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
fn read_bounded(
    reader: impl std::io::Read,
    out: &mut Vec<u8>,
    codec: Compression,
) -> Result<(), DecodeError> {
    use std::io::Read;
    let start = out.len();
    reader
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(out)
        .map_err(|e| DecodeError::new(0, format!("{codec} decompression failed: {e}")))?;
    if out.len() - start > MAX_DECOMPRESSED_BYTES {
        return Err(DecodeError::new(
            0,
            format!("{codec} records decompress to more than {MAX_DECOMPRESSED_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The xerial snappy-java stream framing.
#[cfg(feature = "snappy")]
mod xerial {
    use super::MAX_DECOMPRESSED_BYTES;

    const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
    const HEADER_LEN: usize = 16;
    /// snappy-java's default block size.
    const BLOCK: usize = 32 * 1024;

    pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), snap::Error> {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&1i32.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        let mut encoder = snap::raw::Encoder::new();
        for chunk in input.chunks(BLOCK) {
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            let start = out.len();
            out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
            let n = encoder.compress(chunk, &mut out[start..])?;
            out.truncate(start + n);
            out[len_at..start].copy_from_slice(&(n as i32).to_be_bytes());
        }
        Ok(())
    }

    pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        if input.len() < HEADER_LEN || input[..MAGIC.len()] != MAGIC {
            // No xerial header: one raw snappy block.
            return raw_block(input, out);
        }
        let mut pos = HEADER_LEN;
        while pos < input.len() {
            let Some(len) = input.get(pos..pos + 4) else {
                return Err(format!("truncated block length at byte {pos}"));
            };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            let block = usize::try_from(len)
                .ok()
                .and_then(|l| input.get(pos + 4..pos + 4 + l))
                .ok_or_else(|| format!("block length {len} at byte {pos} runs past the end"))?;
            raw_block(block, out)?;
            pos += 4 + block.len();
        }
        Ok(())
    }

    /// Bytes of output one byte of a snappy block can make at most: a
    /// 3-byte copy element makes up to 64 bytes, a literal no more than
    /// it holds. With margin.
    const MAX_EXPANSION: usize = 32;

    fn raw_block(block: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let len = snap::raw::decompress_len(block).map_err(|e| e.to_string())?;
        // The length is the block's own claim: a few damaged bytes must
        // not make a read allocate (and zero) hundreds of megabytes.
        if len > block.len().saturating_mul(MAX_EXPANSION) {
            return Err(format!(
                "a block of {} bytes claims to decompress to {len} bytes",
                block.len()
            ));
        }
        let start = out.len();
        if start + len > MAX_DECOMPRESSED_BYTES {
            return Err(format!(
                "records decompress to more than {MAX_DECOMPRESSED_BYTES} bytes"
            ));
        }
        out.resize(start + len, 0);
        let n = snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| e.to_string())?;
        out.truncate(start + n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "snappy")]
    #[test]
    fn a_snappy_block_claiming_more_than_it_can_hold_is_refused_before_any_allocation() {
        // The varint 200,000,000 and one byte of block.
        let mut block = Vec::new();
        let mut n = 200_000_000u32;
        while n >= 0x80 {
            block.push((n as u8) | 0x80);
            n >>= 7;
        }
        block.extend([n as u8, 0]);
        let mut out = Vec::new();
        let e = decompress(Compression::Snappy, &block, &mut out).unwrap_err();
        assert!(
            e.reason.contains("claims to decompress to 200000000"),
            "{e:?}"
        );
        assert_eq!(out.capacity(), 0);
        // A block that expands as far as snappy allows still decompresses.
        let zeros = vec![0u8; 1 << 20];
        let mut packed = Vec::new();
        compress(Compression::Snappy, &zeros, &mut packed).unwrap();
        let mut back = Vec::new();
        decompress(Compression::Snappy, &packed, &mut back).unwrap();
        assert_eq!(back, zeros);
    }

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_available_codec_round_trips() {
        let input = sample();
        for codec in ALL.into_iter().filter(|c| c.is_available()) {
            let mut compressed = Vec::new();
            compress(codec, &input, &mut compressed).unwrap();
            let mut out = Vec::new();
            decompress(codec, &compressed, &mut out).unwrap();
            assert_eq!(out, input, "{codec}");
        }
    }

    #[test]
    fn unavailable_codecs_are_a_clear_error() {
        for codec in ALL.into_iter().filter(|c| !c.is_available()) {
            let e = compress(codec, b"x", &mut Vec::new()).unwrap_err();
            assert!(matches!(e, Error::CompressionUnavailable { codec: c } if c == codec));
            let e = decompress(codec, b"x", &mut Vec::new()).unwrap_err();
            assert_eq!(e.unavailable, Some(codec));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in ALL
            .into_iter()
            .filter(|c| c.is_available() && *c != Compression::None)
        {
            for garbage in [
                &b""[..],
                b"\x00",
                b"\xff\xff\xff\xff\xff\xff",
                &sample()[..300],
            ] {
                let _ = decompress(codec, garbage, &mut Vec::new());
            }
        }
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_frame_header_is_the_one_kafka_writes() {
        let mut out = Vec::new();
        compress(Compression::Lz4, b"hello hello hello", &mut out).unwrap();
        assert_eq!(&out[..4], &[0x04, 0x22, 0x4d, 0x18], "frame magic");
        assert_eq!(
            out[4], 0x60,
            "FLG: version 1, independent blocks, no checksums"
        );
        assert_eq!(out[5], 0x40, "BD: 64 KiB blocks");
    }

    #[cfg(feature = "snappy")]
    #[test]
    fn snappy_uses_xerial_framing_and_reads_raw_blocks() {
        let input = sample();
        let mut out = Vec::new();
        compress(Compression::Snappy, &input, &mut out).unwrap();
        assert_eq!(&out[..8], b"\x82SNAPPY\x00");
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"raw block")
            .unwrap();
        let mut back = Vec::new();
        decompress(Compression::Snappy, &raw, &mut back).unwrap();
        assert_eq!(back, b"raw block");
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn decompression_is_bounded() {
        // A small stream that inflates past the limit is refused.
        let zeros = vec![0u8; 1 << 20];
        let mut member = Vec::new();
        compress(Compression::Gzip, &zeros, &mut member).unwrap();
        let members = MAX_DECOMPRESSED_BYTES / zeros.len() + 1;
        let bomb: Vec<u8> = member
            .iter()
            .copied()
            .cycle()
            .take(member.len() * members)
            .collect();
        let e = decompress(Compression::Gzip, &bomb, &mut Vec::new()).unwrap_err();
        assert!(e.reason.contains("more than"), "{}", e.reason);
    }
}
