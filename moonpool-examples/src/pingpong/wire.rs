//! The ping-pong wire format and a cancellation-safe frame reader.
//!
//! Frame: `len: u32 LE | crc32(payload): u32 LE | payload`, with
//! `payload = client: u64 LE | seq: u64 LE | filler: [u8; 16]` (the filler
//! is a function of `seq`, so a pong carries its ping's whole identity).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::PingError;

/// Bytes in a ping or pong payload.
pub const PAYLOAD_LEN: usize = 32;
/// Frames longer than this are rejected before anything is allocated.
pub const FRAME_LEN_MAX: u32 = 1024;
/// Bytes of a frame header (length and checksum).
const HEADER_LEN: usize = 8;
/// Bytes asked of the stream per read.
const READ_CHUNK: usize = 512;

/// Builds the payload of ping `seq` from `client`.
pub fn ping_payload(client: u64, seq: u64) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    p[..8].copy_from_slice(&client.to_le_bytes());
    p[8..16].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in p[16..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    p
}

/// The `(client, seq)` a payload names, if it is a well-formed ping (its
/// filler matches its `seq`).
pub fn parse_payload(payload: &[u8]) -> Option<(u64, u64)> {
    let field = |i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(payload.get(i..i + 8)?.try_into().ok()?))
    };
    let (client, seq) = (field(0)?, field(8)?);
    (payload == ping_payload(client, seq).as_slice()).then_some((client, seq))
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    frame.extend_from_slice(payload);
    w.write_all(&frame).await?;
    w.flush().await
}

/// Reads frames off a stream, keeping what it has read between calls: a
/// [`next_frame`](FrameReader::next_frame) cancelled by a timeout loses no
/// byte, so the stream can be read again afterwards.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// A complete frame at the start of the buffer, checked and removed.
    fn take_frame(&mut self) -> Result<Option<Vec<u8>>, PingError> {
        let Some(header) = self.buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > FRAME_LEN_MAX {
            return Err(PingError::FrameLength(len));
        }
        let end = HEADER_LEN + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..end].to_vec();
        self.buf.drain(..end);
        if crc32fast::hash(&payload) != crc {
            return Err(PingError::Checksum);
        }
        Ok(Some(payload))
    }

    /// The next frame's payload, its length and checksum verified.
    /// Cancellation-safe.
    pub async fn next_frame<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Vec<u8>, PingError> {
        loop {
            if let Some(payload) = self.take_frame()? {
                return Ok(payload);
            }
            let mut chunk = [0u8; READ_CHUNK];
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn corrupted_frame_is_rejected() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &ping_payload(1, 2))
            .await
            .expect("write");
        buf[12] ^= 0x10;
        assert!(matches!(
            FrameReader::new().next_frame(&mut buf.as_slice()).await,
            Err(PingError::Checksum)
        ));
    }

    #[tokio::test]
    async fn absurd_length_is_rejected_before_reading_the_payload() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            FrameReader::new().next_frame(&mut buf.as_slice()).await,
            Err(PingError::FrameLength(u32::MAX))
        ));
    }

    #[tokio::test]
    async fn frames_round_trip_and_one_reader_reads_them_in_turn() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &ping_payload(3, 4))
            .await
            .expect("write");
        write_frame(&mut buf, &ping_payload(3, 5))
            .await
            .expect("write");
        let mut reader = FrameReader::new();
        let mut stream = buf.as_slice();
        let first = reader.next_frame(&mut stream).await.expect("first");
        let second = reader.next_frame(&mut stream).await.expect("second");
        assert_eq!(parse_payload(&first), Some((3, 4)));
        assert_eq!(parse_payload(&second), Some((3, 5)));
        assert!(
            reader.next_frame(&mut stream).await.is_err(),
            "end of stream"
        );
    }

    #[test]
    fn a_payload_names_its_ping_only_if_well_formed() {
        let mut p = ping_payload(7, 9);
        assert_eq!(parse_payload(&p), Some((7, 9)));
        p[20] ^= 1;
        assert_eq!(parse_payload(&p), None);
        assert_eq!(parse_payload(&p[..10]), None);
    }
}
