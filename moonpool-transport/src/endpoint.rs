//! Endpoints: where a message goes.
//!
//! An [`Endpoint`] is a peer address plus a 128-bit [`Token`] naming one
//! receiver inside that peer's transport (a request stream, or a pending
//! reply). Tokens come in two kinds:
//! - **well-known** tokens, `Token::well_known(n)`, fixed numbers agreed in
//!   advance, used to bootstrap (a cluster's coordinator interface, a ping
//!   service). Their high 64 bits are all ones.
//! - **random** tokens, drawn from the random provider, for everything
//!   created at run time (reply endpoints, dynamically created services).
//!   Their top bit is always clear, so they never collide with well-known
//!   ones.
//!
//! Token 0 of the well-known range is reserved for the transport's own
//! control messages (pings, "endpoint not found").
//!
//! `EndpointMap` maps tokens to receivers with a fixed-key hasher: lookups
//! only, never iterated, so no order leaks into behaviour.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::rc::Rc;

use moonpool_core::RandomProvider;
use serde::{Deserialize, Serialize};

/// A 128-bit endpoint name. Serialized as 16 little-endian bytes (fixed
/// size: random tokens gain nothing from varints).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(u128);

impl Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_bytes().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Token, D::Error> {
        <[u8; 16]>::deserialize(d).map(Token::from_bytes)
    }
}

const WELL_KNOWN_HIGH: u128 = (u64::MAX as u128) << 64;

impl Token {
    /// The token of the transport's control messages (well-known index 0).
    pub(crate) const CONTROL: Token = Token(WELL_KNOWN_HIGH);

    /// The well-known token number `index`. Index 0 is reserved for the
    /// transport itself; services use 1 and up.
    pub const fn well_known(index: u32) -> Token {
        Token(WELL_KNOWN_HIGH | index as u128)
    }

    /// A fresh random token (127 random bits) from `random`.
    pub fn random<R: RandomProvider>(random: &R) -> Token {
        Token::random_salted(random, 0)
    }

    /// A fresh random token with `salt` mixed in: a transport salts its
    /// tokens with its own identity (address, start time), so processes
    /// forced to the same seed still draw distinct tokens.
    pub(crate) fn random_salted<R: RandomProvider>(random: &R, salt: u128) -> Token {
        let hi = random.next_u64();
        let lo = random.next_u64();
        let v = ((u128::from(hi) << 64) | u128::from(lo)) ^ salt;
        Token(v & !(1u128 << 127))
    }

    /// Whether this is a well-known token.
    pub const fn is_well_known(self) -> bool {
        self.0 & WELL_KNOWN_HIGH == WELL_KNOWN_HIGH
    }

    /// The token as a number.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// A token from a number (for tests and tools).
    pub const fn from_u128(v: u128) -> Token {
        Token(v)
    }

    /// The token's 16 wire bytes, little-endian.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// The key that pairs this token's marks in the simulator's timeline
    /// picture (both halves folded).
    pub(crate) const fn mark_key(self) -> u64 {
        (self.0 as u64) ^ ((self.0 >> 64) as u64)
    }

    /// The token of 16 wire bytes.
    pub const fn from_bytes(b: [u8; 16]) -> Token {
        Token(u128::from_le_bytes(b))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_well_known() {
            write!(f, "Token(wk:{})", self.0 as u64)
        } else {
            write!(f, "Token({:032x})", self.0)
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A receiver somewhere on the network: a peer address and a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// The listen address of the transport that owns the receiver.
    pub addr: SocketAddr,
    /// The receiver's name inside that transport.
    pub token: Token,
}

impl Endpoint {
    /// The endpoint `token` at `addr`.
    pub const fn new(addr: SocketAddr, token: Token) -> Endpoint {
        Endpoint { addr, token }
    }

    /// The well-known endpoint number `index` at `addr`.
    pub const fn well_known(addr: SocketAddr, index: u32) -> Endpoint {
        Endpoint {
            addr,
            token: Token::well_known(index),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:?}", self.addr, self.token)
    }
}

/// Who sent a frame: the peer (its listen address, or the socket address
/// of a client that does not listen) and the incarnation of its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sender {
    pub(crate) addr: SocketAddr,
    pub(crate) incarnation: u64,
}

/// Something that accepts the payloads of frames sent to its token.
pub(crate) trait Receiver {
    /// Handles one payload that arrived from `from`.
    fn deliver(&self, payload: &[u8], from: Sender);

    /// The transport shut down: nothing more will be delivered.
    fn close(&self) {}
}

/// Folds a token into a hash: tokens are random already.
#[derive(Default)]
pub(crate) struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = ((v as u64) ^ ((v >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Tokens to receivers. Lookups only, except the sorted drain at shutdown.
#[derive(Default)]
pub(crate) struct EndpointMap {
    map: HashMap<Token, Rc<dyn Receiver>, BuildHasherDefault<TokenHasher>>,
}

impl EndpointMap {
    /// Registers `receiver` under `token`; false if the token is taken.
    pub(crate) fn insert(&mut self, token: Token, receiver: Rc<dyn Receiver>) -> bool {
        if self.map.contains_key(&token) {
            return false;
        }
        self.map.insert(token, receiver);
        true
    }

    pub(crate) fn remove(&mut self, token: Token) {
        self.map.remove(&token);
    }

    pub(crate) fn get(&self, token: Token) -> Option<Rc<dyn Receiver>> {
        self.map.get(&token).cloned()
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, token: Token) -> bool {
        self.map.contains_key(&token)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Removes every receiver, returned in token order (so shutdown wakes
    /// tasks in the same order on every run).
    pub(crate) fn clear(&mut self) -> Vec<Rc<dyn Receiver>> {
        let mut all: Vec<(Token, Rc<dyn Receiver>)> = self.map.drain().collect();
        all.sort_by_key(|(t, _)| *t);
        all.into_iter().map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Clone)]
    struct Seq(Rc<Cell<u64>>);
    impl RandomProvider for Seq {
        fn next_u64(&self) -> u64 {
            self.0.set(self.0.get().wrapping_add(1));
            u64::MAX - self.0.get() + 1
        }
    }

    #[test]
    fn random_tokens_never_look_well_known() {
        let r = Seq(Rc::new(Cell::new(0)));
        for _ in 0..100 {
            assert!(!Token::random(&r).is_well_known());
        }
        assert!(Token::well_known(7).is_well_known());
        assert!(Token::CONTROL.is_well_known());
    }

    #[test]
    fn tokens_serialize_as_sixteen_bytes() {
        use moonpool_core::{Codec, PostcardCodec};
        let t = Token::from_u128(u128::MAX - 5);
        let bytes = PostcardCodec.to_vec(&t).expect("encode");
        assert_eq!(bytes, t.to_bytes().to_vec());
        assert_eq!(PostcardCodec.decode::<Token>(&bytes), Ok(t));
    }

    #[test]
    fn token_bytes_round_trip() {
        let t = Token::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        assert_eq!(Token::from_bytes(t.to_bytes()), t);
    }

    #[test]
    fn a_taken_token_cannot_be_registered_twice() {
        struct Nop;
        impl Receiver for Nop {
            fn deliver(&self, _: &[u8], _: Sender) {}
        }
        let mut m = EndpointMap::default();
        assert!(m.insert(Token::well_known(3), Rc::new(Nop)));
        assert!(!m.insert(Token::well_known(3), Rc::new(Nop)));
        m.remove(Token::well_known(3));
        assert!(!m.contains(Token::well_known(3)));
    }
}
