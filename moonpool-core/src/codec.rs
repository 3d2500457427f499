//! Codecs: turning serde messages into bytes and back.
//!
//! Messages always cross the (simulated or real) network as bytes, so
//! serialization bugs are found in simulation too. The default,
//! [`PostcardCodec`], is compact (varint integers, no field names), fast,
//! and has a documented, stable wire format (postcard 1.x).
//!
//! Decoding is strict: bytes left over after the value are an error, never
//! silently ignored, so a frame that was cut or padded cannot decode into a
//! plausible but wrong value.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The value could not be serialized.
    #[error("encode failed: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected type.
    #[error("decode failed: {0}")]
    Decode(String),
    /// A value decoded, but bytes were left over.
    #[error("{remaining} trailing bytes after the decoded value")]
    TrailingBytes {
        /// How many bytes were left.
        remaining: usize,
    },
}

/// Encodes and decodes serde values.
pub trait Codec: Clone + 'static {
    /// Appends the encoding of `value` to `out`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T, out: &mut Vec<u8>)
    -> Result<(), CodecError>;

    /// Decodes exactly one `T` from all of `bytes`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;

    /// Encodes `value` into a new buffer.
    fn to_vec<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        self.encode(value, &mut out)?;
        Ok(out)
    }
}

/// The default codec: postcard's compact binary format.
#[derive(Clone, Copy, Debug, Default)]
pub struct PostcardCodec;

impl Codec for PostcardCodec {
    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let buf = std::mem::take(out);
        match postcard::to_extend(value, buf) {
            Ok(buf) => {
                *out = buf;
                Ok(())
            }
            Err(e) => Err(CodecError::Encode(e.to_string())),
        }
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let (value, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| CodecError::Decode(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CodecError::TrailingBytes {
                remaining: rest.len(),
            });
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Put {
        key: String,
        value: Vec<u8>,
        version: u64,
    }

    #[test]
    fn postcard_round_trips_a_struct() {
        let msg = Put {
            key: "k".into(),
            value: vec![1, 2, 3],
            version: 300,
        };
        let bytes = PostcardCodec.to_vec(&msg).expect("encode");
        assert_eq!(PostcardCodec.decode::<Put>(&bytes), Ok(msg));
    }

    #[test]
    fn encode_appends_to_existing_bytes() {
        let mut out = vec![0xAA];
        PostcardCodec.encode(&7u32, &mut out).expect("encode");
        assert_eq!(out, vec![0xAA, 7]);
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = PostcardCodec.to_vec(&5u32).expect("encode");
        bytes.push(0);
        assert_eq!(
            PostcardCodec.decode::<u32>(&bytes),
            Err(CodecError::TrailingBytes { remaining: 1 })
        );
    }

    #[test]
    fn truncated_input_is_a_decode_error() {
        let bytes = PostcardCodec
            .to_vec(&Put {
                key: "key".into(),
                value: vec![9; 10],
                version: 1,
            })
            .expect("encode");
        assert!(matches!(
            PostcardCodec.decode::<Put>(&bytes[..bytes.len() - 3]),
            Err(CodecError::Decode(_))
        ));
    }
}
