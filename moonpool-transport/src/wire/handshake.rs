//! The connect handshake: the first bytes each side sends on a new
//! connection, before any frame.
//!
//! ```text
//! offset  size  field
//! 0       4     magic, b"MPTR"
//! 4       2     protocol version, u16 little-endian
//! 6       2     flags, reserved, 0
//! 8       8     incarnation, u64 little-endian (random per transport instance)
//! 16      1     listen address family: 0 none, 4 IPv4, 6 IPv6
//! 17      16    listen IP (IPv4 in the first 4 bytes, rest zero)
//! 33      2     listen port, u16 little-endian
//! 35      4     CRC-32 of bytes 0..35, u32 little-endian
//! ```
//!
//! Type: [`Handshake`]. Invariants: the layout is frozen across protocol
//! versions (only the version number changes), so any two versions can tell
//! each other apart; checks run in the order magic, checksum, version,
//! address family, so a bit flip anywhere is reported as a checksum error
//! (or bad magic), and a genuine other version as
//! [`WireError::IncompatibleVersion`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::WireError;

/// The handshake's magic bytes.
pub const HANDSHAKE_MAGIC: [u8; 4] = *b"MPTR";
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The handshake's fixed length in bytes.
pub const HANDSHAKE_LEN: usize = 39;

/// What each side announces when a connection opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The sender's protocol version.
    pub version: u16,
    /// A random number drawn when the sender's transport started: a new
    /// incarnation from the same address means the peer restarted.
    pub incarnation: u64,
    /// Where the sender listens, if it does: the address that identifies it
    /// as a peer. `None` for a client that does not accept connections.
    pub listen_addr: Option<SocketAddr>,
}

impl Handshake {
    /// A handshake of this build's protocol version.
    pub fn new(incarnation: u64, listen_addr: Option<SocketAddr>) -> Handshake {
        Handshake {
            version: PROTOCOL_VERSION,
            incarnation,
            listen_addr,
        }
    }

    /// The handshake's bytes.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut b = [0u8; HANDSHAKE_LEN];
        b[0..4].copy_from_slice(&HANDSHAKE_MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[8..16].copy_from_slice(&self.incarnation.to_le_bytes());
        match self.listen_addr {
            None => {}
            Some(SocketAddr::V4(a)) => {
                b[16] = 4;
                b[17..21].copy_from_slice(&a.ip().octets());
                b[33..35].copy_from_slice(&a.port().to_le_bytes());
            }
            Some(SocketAddr::V6(a)) => {
                b[16] = 6;
                b[17..33].copy_from_slice(&a.ip().octets());
                b[33..35].copy_from_slice(&a.port().to_le_bytes());
            }
        }
        let crc = super::frame::crc32(&b[..35]);
        b[35..39].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and validates a handshake. `bytes` must hold exactly
    /// [`HANDSHAKE_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<Handshake, WireError> {
        if bytes.len() != HANDSHAKE_LEN {
            return Err(WireError::HandshakeLength { len: bytes.len() });
        }
        if bytes[0..4] != HANDSHAKE_MAGIC {
            return Err(WireError::BadMagic {
                found: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            });
        }
        let expected = u32::from_le_bytes([bytes[35], bytes[36], bytes[37], bytes[38]]);
        let computed = super::frame::crc32(&bytes[..35]);
        if expected != computed {
            return Err(WireError::HandshakeChecksum { expected, computed });
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != PROTOCOL_VERSION {
            return Err(WireError::IncompatibleVersion {
                found: version,
                ours: PROTOCOL_VERSION,
            });
        }
        let mut inc = [0u8; 8];
        inc.copy_from_slice(&bytes[8..16]);
        let port = u16::from_le_bytes([bytes[33], bytes[34]]);
        let listen_addr = match bytes[16] {
            0 => None,
            4 => Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(bytes[17], bytes[18], bytes[19], bytes[20])),
                port,
            )),
            6 => {
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&bytes[17..33]);
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
            }
            family => return Err(WireError::BadAddressFamily { family }),
        };
        Ok(Handshake {
            version,
            incarnation: u64::from_le_bytes(inc),
            listen_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake::new(
            0xDEAD_BEEF_0123_4567,
            Some("10.1.2.3:4500".parse().expect("addr")),
        )
    }

    #[test]
    fn handshake_round_trips_v4_v6_and_none() {
        for h in [
            sample(),
            Handshake::new(1, Some("[::1]:9".parse().expect("addr"))),
            Handshake::new(2, None),
        ] {
            assert_eq!(Handshake::decode(&h.encode()), Ok(h));
        }
    }

    #[test]
    fn every_single_bit_flip_in_a_handshake_is_rejected() {
        let bytes = sample().encode();
        for bit in 0..HANDSHAKE_LEN * 8 {
            let mut bad = bytes;
            bad[bit / 8] ^= 1 << (bit % 8);
            let err = Handshake::decode(&bad).expect_err("flip accepted");
            assert!(
                matches!(
                    err,
                    WireError::BadMagic { .. } | WireError::HandshakeChecksum { .. }
                ),
                "bit {bit}: {err:?}"
            );
        }
    }

    #[test]
    fn another_protocol_version_is_incompatible() {
        let mut h = sample();
        h.version = PROTOCOL_VERSION + 1;
        assert_eq!(
            Handshake::decode(&h.encode()),
            Err(WireError::IncompatibleVersion {
                found: PROTOCOL_VERSION + 1,
                ours: PROTOCOL_VERSION
            })
        );
    }

    #[test]
    fn bad_magic_is_reported_as_such() {
        let mut bytes = sample().encode();
        bytes[0..4].copy_from_slice(b"GET ");
        assert!(matches!(
            Handshake::decode(&bytes),
            Err(WireError::BadMagic { .. })
        ));
    }

    #[test]
    fn a_truncated_handshake_is_a_length_error() {
        let bytes = sample().encode();
        assert_eq!(
            Handshake::decode(&bytes[..20]),
            Err(WireError::HandshakeLength { len: 20 })
        );
    }

    #[test]
    fn an_unknown_address_family_is_rejected() {
        let mut bytes = sample().encode();
        bytes[16] = 5;
        let crc = crc32fast::hash(&bytes[..35]);
        bytes[35..39].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            Handshake::decode(&bytes),
            Err(WireError::BadAddressFamily { family: 5 })
        );
    }
}
