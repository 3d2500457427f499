//! A tap on the simulated network, for an exact bit-flip account.
//!
//! [`TapProviders`] is `SimProviders` with its network wrapped: every
//! stream the transport gets (from `connect` or `accept`) records, per end,
//! the bytes its writes handed to the network and the bytes its reads
//! returned. It observes only: it draws nothing, schedules nothing and
//! returns exactly what the simulated stream returned, so an execution is
//! the same with and without it.
//!
//! After a seed, [`TapLog::flip_account`] pairs the two ends of each
//! connection (by the simulator's connection id) and compares what one end
//! read with what the other wrote. Every differing bit is a bit the
//! simulator flipped on a read. From the *clean* written bytes it knows the
//! wire structure (the 39-byte handshake, then frames of a 4-byte length
//! word, a 4-byte CRC, a 16-byte token and the payload), hence where the
//! transport's checks are:
//!
//! - a flipped handshake byte is checked once the 39 bytes are read;
//! - a flipped length-word byte once the 4 bytes of the word are read
//!   (its check byte);
//! - any other flipped frame byte once the whole frame is read (the CRC).
//!
//! A connection is closed at its first detected corruption, so each
//! reading end can yield at most one detection: exactly one when its first
//! flip's check point lies within the bytes it read, none otherwise (the
//! connection ended inside that frame). Summed over the ends, that is the
//! number of corruptions the transports must have detected, no more and no
//! less. The flips that cannot be detected are counted by reason: a later
//! flip on an end that already failed, or a flip in a frame the
//! connection never finished.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use moonpool_core::{Listener, NetStream, NetworkProvider, Providers};
use moonpool_sim::{ConnectionId, SimListener, SimProviders, SimTcpStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Length of the transport's handshake.
const HANDSHAKE_LEN: usize = moonpool_transport::wire::HANDSHAKE_LEN;
/// Length word + CRC + token.
const FRAME_HEADER_LEN: usize = 24;

/// What one end of one connection did.
#[derive(Debug, Default)]
struct EndLog {
    /// The simulator's connection id (shared by both ends).
    conn: Option<ConnectionId>,
    local: Option<SocketAddr>,
    read: Vec<u8>,
    written: Vec<u8>,
}

/// Every stream end of a seed. Shared by all the seed's [`TapProviders`].
#[derive(Debug, Default)]
pub struct TapLog {
    ends: Vec<EndLog>,
    /// Once frozen, nothing more is recorded (the account is taken at the
    /// moment the transports' counters are read).
    frozen: bool,
    /// Streams whose connection id could not be read (none expected).
    unidentified: u64,
}

/// The flip account of one seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlipAccount {
    /// Bits that differ between what was written and what was read.
    pub flips: u64,
    /// Reading ends whose first flip reached a check: the corruptions the
    /// transports must have detected.
    pub checkable: u64,
    /// Flips on an end after its first flip (the connection was already
    /// condemned by it, or it ended before either was checked).
    pub after_first: u64,
    /// First flips of ends that ended before the flipped part was complete.
    pub unfinished: u64,
    /// Flips in handshakes / in length words / elsewhere in frames.
    pub in_handshake: u64,
    /// See `in_handshake`.
    pub in_length_word: u64,
    /// See `in_handshake`.
    pub in_frame_body: u64,
}

impl FlipAccount {
    /// Field-wise sum.
    pub fn add(&mut self, o: &FlipAccount) {
        self.flips += o.flips;
        self.checkable += o.checkable;
        self.after_first += o.after_first;
        self.unfinished += o.unfinished;
        self.in_handshake += o.in_handshake;
        self.in_length_word += o.in_length_word;
        self.in_frame_body += o.in_frame_body;
    }
}

/// Where a byte sits in the wire structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Handshake,
    LengthWord,
    FrameBody,
}

impl TapLog {
    /// Stops recording.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    fn new_end(&mut self, conn: Option<ConnectionId>, local: Option<SocketAddr>) -> Option<usize> {
        if self.frozen {
            return None;
        }
        if conn.is_none() {
            self.unidentified += 1;
            return None;
        }
        self.ends.push(EndLog {
            conn,
            local,
            ..EndLog::default()
        });
        Some(self.ends.len() - 1)
    }

    /// The flip account, or a description of what does not add up.
    pub fn flip_account(&self) -> Result<FlipAccount, String> {
        if self.unidentified > 0 {
            return Err(format!(
                "{} stream(s) had no connection id",
                self.unidentified
            ));
        }
        let mut by_conn: BTreeMap<Option<ConnectionId>, Vec<&EndLog>> = BTreeMap::new();
        for e in &self.ends {
            by_conn.entry(e.conn).or_default().push(e);
        }
        let mut account = FlipAccount::default();
        for (conn, ends) in &by_conn {
            if ends.len() > 2 {
                return Err(format!("connection {conn:?} has {} ends", ends.len()));
            }
            for (i, reader) in ends.iter().enumerate() {
                if reader.read.is_empty() {
                    continue;
                }
                let Some(writer) = ends.get(1 - i) else {
                    return Err(format!(
                        "connection {conn:?}: an end read {} bytes nobody wrote",
                        reader.read.len()
                    ));
                };
                account.add(&end_account(*conn, reader, writer)?);
            }
        }
        Ok(account)
    }
}

/// The flip account of one reading end against its writer.
fn end_account(
    conn: Option<ConnectionId>,
    reader: &EndLog,
    writer: &EndLog,
) -> Result<FlipAccount, String> {
    let read = &reader.read;
    let written = &writer.written;
    if read.len() > written.len() {
        return Err(format!(
            "connection {conn:?} ({:?}): read {} bytes but the peer wrote {}",
            reader.local,
            read.len(),
            written.len()
        ));
    }
    let mut account = FlipAccount::default();
    let mut first = true;
    let mut frames = FrameWalker::new(written);
    for (at, (r, w)) in read.iter().zip(written).enumerate() {
        let diff = (r ^ w).count_ones() as u64;
        if diff == 0 {
            continue;
        }
        account.flips += diff;
        let (place, checked_at) = frames.locate(at);
        match place {
            Place::Handshake => account.in_handshake += diff,
            Place::LengthWord => account.in_length_word += diff,
            Place::FrameBody => account.in_frame_body += diff,
        }
        if first {
            first = false;
            if checked_at <= read.len() {
                account.checkable += 1;
                account.after_first += diff - 1;
            } else {
                account.unfinished += 1;
                account.after_first += diff - 1;
            }
        } else {
            account.after_first += diff;
        }
    }
    Ok(account)
}

/// Walks the clean byte stream of one direction: a handshake, then frames.
struct FrameWalker<'a> {
    bytes: &'a [u8],
    /// Start of the current frame (after the handshake).
    frame_start: usize,
}

impl<'a> FrameWalker<'a> {
    fn new(bytes: &'a [u8]) -> FrameWalker<'a> {
        FrameWalker {
            bytes,
            frame_start: HANDSHAKE_LEN,
        }
    }

    /// Where byte `at` is and the offset by which the transport has checked
    /// it (the end of the check unit that contains it). `at` must not go
    /// backwards between calls.
    fn locate(&mut self, at: usize) -> (Place, usize) {
        if at < HANDSHAKE_LEN {
            return (Place::Handshake, HANDSHAKE_LEN);
        }
        loop {
            let s = self.frame_start;
            let Some(word) = self.bytes.get(s..s + 4) else {
                // The writer never finished this length word (its
                // connection died): nobody can have read it whole.
                return (Place::LengthWord, s + 4);
            };
            let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            let end = s + FRAME_HEADER_LEN + (word & 0x00FF_FFFF) as usize;
            if at < s + 4 {
                return (Place::LengthWord, s + 4);
            }
            if at < end {
                return (Place::FrameBody, end);
            }
            self.frame_start = end;
        }
    }
}

/// `SimProviders` whose streams are tapped.
#[derive(Clone)]
pub struct TapProviders {
    inner: SimProviders,
    net: TapNetwork,
}

impl TapProviders {
    /// `inner`, recording into `log`.
    pub fn new(inner: SimProviders, log: Rc<RefCell<TapLog>>) -> TapProviders {
        TapProviders {
            net: TapNetwork {
                inner: inner.clone(),
                log,
            },
            inner,
        }
    }
}

impl Providers for TapProviders {
    type Time = SimProviders;
    type Task = SimProviders;
    type Network = TapNetwork;
    type Random = SimProviders;
    type Storage = SimProviders;

    fn time(&self) -> &SimProviders {
        &self.inner
    }
    fn task(&self) -> &SimProviders {
        &self.inner
    }
    fn network(&self) -> &TapNetwork {
        &self.net
    }
    fn random(&self) -> &SimProviders {
        &self.inner
    }
    fn storage(&self) -> &SimProviders {
        &self.inner
    }
}

/// The tapped network.
#[derive(Clone)]
pub struct TapNetwork {
    inner: SimProviders,
    log: Rc<RefCell<TapLog>>,
}

impl NetworkProvider for TapNetwork {
    type Stream = TapStream;
    type Listener = TapListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<TapListener> {
        let inner = self.inner.bind(addr).await?;
        Ok(TapListener {
            inner,
            log: self.log.clone(),
        })
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TapStream> {
        let s = self.inner.connect(addr).await?;
        Ok(TapStream::new(s, self.log.clone()))
    }
}

/// A tapped listener.
pub struct TapListener {
    inner: SimListener,
    log: Rc<RefCell<TapLog>>,
}

impl Listener for TapListener {
    type Stream = TapStream;

    async fn accept(&self) -> io::Result<(TapStream, SocketAddr)> {
        let (s, from) = self.inner.accept().await?;
        Ok((TapStream::new(s, self.log.clone()), from))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A tapped stream end.
pub struct TapStream {
    inner: SimTcpStream,
    log: Rc<RefCell<TapLog>>,
    end: Option<usize>,
}

impl TapStream {
    fn new(inner: SimTcpStream, log: Rc<RefCell<TapLog>>) -> TapStream {
        let conn = inner.connection_id();
        let local = inner.local_addr().ok();
        let end = log.borrow_mut().new_end(conn, local);
        TapStream { inner, log, end }
    }

    fn record(&self, f: impl FnOnce(&mut EndLog)) {
        let Some(i) = self.end else { return };
        let mut log = self.log.borrow_mut();
        if log.frozen {
            return;
        }
        if let Some(e) = log.ends.get_mut(i) {
            f(e);
        }
    }
}

impl AsyncRead for TapStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let got = &buf.filled()[before..];
            if !got.is_empty() {
                self.record(|e| e.read.extend_from_slice(got));
            }
        }
        poll
    }
}

impl AsyncWrite for TapStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.record(|e| e.written.extend_from_slice(&buf[..n]));
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl NetStream for TapStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Vec<u8> {
        let mut f = vec![0u8; FRAME_HEADER_LEN + len];
        f[..4].copy_from_slice(&(len as u32).to_le_bytes());
        f
    }

    fn stream(frames: &[usize]) -> Vec<u8> {
        let mut s = vec![0u8; HANDSHAKE_LEN];
        for len in frames {
            s.extend(frame(*len));
        }
        s
    }

    fn account(written: Vec<u8>, read: Vec<u8>) -> FlipAccount {
        let w = EndLog {
            written,
            ..EndLog::default()
        };
        let r = EndLog {
            read,
            ..EndLog::default()
        };
        end_account(None, &r, &w).expect("account")
    }

    #[test]
    fn a_flip_is_checkable_once_its_unit_is_read() {
        let w = stream(&[10, 5]);
        // A flip in the second frame's payload, whole frame read.
        let mut r = w.clone();
        let second = HANDSHAKE_LEN + FRAME_HEADER_LEN + 10;
        r[second + FRAME_HEADER_LEN + 2] ^= 4;
        let a = account(w.clone(), r.clone());
        assert_eq!((a.flips, a.checkable, a.in_frame_body), (1, 1, 1));
        // The same, cut one byte short: unfinished.
        r.pop();
        let a = account(w.clone(), r);
        assert_eq!((a.flips, a.checkable, a.unfinished), (1, 0, 1));
        // A flip in the second frame's length word: checked at its 4 bytes.
        let mut r = w[..second + 4].to_vec();
        r[second + 1] ^= 1;
        let a = account(w.clone(), r);
        assert_eq!((a.checkable, a.in_length_word), (1, 1));
        // In a length word the writer never finished: unfinished.
        let cut = w[..second + 2].to_vec();
        let mut r = cut.clone();
        r[second + 1] ^= 8;
        let a = account(cut, r);
        assert_eq!((a.checkable, a.unfinished, a.in_length_word), (0, 1, 1));
        // In the handshake, then a second flip later: one detection.
        let mut r = w.clone();
        r[3] ^= 1;
        r[HANDSHAKE_LEN + 30] ^= 2;
        let a = account(w, r);
        assert_eq!(
            (a.flips, a.checkable, a.after_first, a.in_handshake),
            (2, 1, 1, 1)
        );
    }
}
