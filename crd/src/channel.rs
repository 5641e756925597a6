// SPDX-License-Identifier: GPL-2.0

//! The authenticated channel between two crds: a TCP connection carrying a
//! Noise `IKpsk1` handshake (each host's static key, listed in the map, and
//! the cluster key as the pre-shared key), then Noise transport messages,
//! each one protocol frame (Documentation/cluster.rst).
//!
//! On the wire, every Noise message is a u16 (big-endian) length and the
//! message. The handshake's two messages carry each side's `Hello`. The
//! initiator knows the responder's public key from the map: only the host
//! holding its private key can read the first message and answer. The first
//! message carries the initiator's public key and proves it holds the
//! private one; the responder takes it only if it is the map's key of the
//! host the hello names. A peer without the cluster key, or with a host key
//! that is not the map's for the host it claims to be, fails the first
//! message and is dropped before anything it sent is decoded as a request
//! (the hello is read only from a message the cluster key and a host key of
//! the map authenticate). Transport
//! messages are encrypted and authenticated (ChaCha20-Poly1305) with nonces
//! in order, so a frame cannot be forged, changed, replayed or reordered.

use std::io;
use std::time::Duration;

use crcluster::map::Map;
use crcluster::proto::{Message, MAX_MESSAGE, VERSION};
use snow::{Builder, TransportState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const PATTERN: &str = "Noise_IKpsk1_25519_ChaChaPoly_BLAKE2s";
/// How long a handshake may take.
pub const HANDSHAKE_TIME: Duration = Duration::from_secs(10);
/// Silence after which a peer is taken for gone (it sends a `Beat` every
/// second while it works on a request).
pub const SILENCE: Duration = Duration::from_secs(10);

/// A secret key: 32 bytes, written as 64 hex digits in its file.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    pub fn parse(text: &str) -> Result<Key, String> {
        crcluster::map::parse_key(text)
            .map(Key)
            .map_err(|_| "a key is 64 hex digits (32 bytes)".into())
    }

    /// The public X25519 key of this one, as a host key.
    pub fn public(&self) -> [u8; 32] {
        use snow::resolvers::{CryptoResolver, DefaultResolver};
        let mut pk = [0u8; 32];
        if let Some(mut dh) = DefaultResolver.resolve_dh(&snow::params::DHChoice::Curve25519) {
            dh.set(&self.0);
            pk.copy_from_slice(dh.pubkey());
        }
        pk
    }
}

/// This crd's keys: the cluster's (shared by every host) and its host's
/// (private; its public key is this host's in the map).
#[derive(Clone)]
pub struct Keys {
    pub cluster: Key,
    pub host: Key,
}

/// Who the peer said it is (in its handshake message, which the key
/// authenticates).
#[derive(Clone, Debug)]
pub struct Peer {
    pub host: u16,
    pub name: String,
}

pub struct Channel {
    stream: TcpStream,
    noise: TransportState,
    buf: Vec<u8>,
    /// Bytes read but not yet a whole Noise message (what makes
    /// [`Channel::recv`] safe to cancel).
    inbuf: Vec<u8>,
}

fn proto_err(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

async fn read_noise(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let n = u16::from_be_bytes(len) as usize;
    buf.resize(n, 0);
    stream.read_exact(&mut buf[..n]).await?;
    Ok(n)
}

async fn write_noise(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(2 + msg.len());
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    stream.write_all(&out).await
}

fn hello_of(payload: &[u8]) -> io::Result<Peer> {
    match Message::decode(payload) {
        Ok(Message::Hello {
            version,
            host,
            name,
        }) => {
            if version != VERSION {
                return Err(proto_err(format!(
                    "the peer speaks protocol version {version}, this crd {VERSION}"
                )));
            }
            Ok(Peer { host, name })
        }
        Ok(_) => Err(proto_err("the peer's handshake carries no hello")),
        Err(e) => Err(proto_err(e.to_string())),
    }
}

/// Whose key the other side must prove it holds: the initiator names the
/// host it dials (its key from the map); the responder learns the peer's
/// key from its first message and checks it against the map's entry for
/// the host the hello names.
#[derive(Clone, Copy)]
pub enum Expect<'a> {
    /// The initiator's: the responder's public key.
    Host(&'a [u8; 32]),
    /// The responder's: the map.
    Map(&'a Map),
}

impl Channel {
    /// Connects to the peer whose public host key is `peer_key` and runs
    /// the handshake as its initiator.
    pub async fn connect(
        stream: TcpStream,
        keys: &Keys,
        peer_key: &[u8; 32],
        me: &Message,
    ) -> io::Result<(Channel, Peer)> {
        Self::handshake(stream, keys, me, Expect::Host(peer_key)).await
    }

    /// Runs the handshake as the responder of an accepted connection: the
    /// peer must hold the key `map` lists for the host it says it is.
    pub async fn accept(
        stream: TcpStream,
        keys: &Keys,
        map: &Map,
        me: &Message,
    ) -> io::Result<(Channel, Peer)> {
        Self::handshake(stream, keys, me, Expect::Map(map)).await
    }

    async fn handshake(
        stream: TcpStream,
        keys: &Keys,
        me: &Message,
        expect: Expect<'_>,
    ) -> io::Result<(Channel, Peer)> {
        timeout(HANDSHAKE_TIME, Self::exchange(stream, keys, me, expect))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the handshake timed out"))?
    }

    /// The two handshake messages (`IKpsk1`: the initiator writes first),
    /// each carrying its sender's hello.
    async fn exchange(
        mut stream: TcpStream,
        keys: &Keys,
        me: &Message,
        expect: Expect<'_>,
    ) -> io::Result<(Channel, Peer)> {
        let params = PATTERN
            .parse()
            .map_err(|_| proto_err("bad noise pattern"))?;
        let builder = Builder::new(params)
            .local_private_key(&keys.host.0)
            .psk(1, &keys.cluster.0);
        let initiator = matches!(expect, Expect::Host(_));
        let mut hs = match expect {
            Expect::Host(k) => builder.remote_public_key(k).build_initiator(),
            Expect::Map(_) => builder.build_responder(),
        }
        .map_err(|e| proto_err(e.to_string()))?;
        let mut buf = vec![0u8; 65535];
        let mut peer = None;
        for writes in [initiator, !initiator] {
            if writes {
                let n = hs
                    .write_message(&me.encode(), &mut buf)
                    .map_err(|e| proto_err(e.to_string()))?;
                write_noise(&mut stream, &buf[..n]).await?;
                continue;
            }
            let mut msg = Vec::new();
            let m = read_noise(&mut stream, &mut msg).await.map_err(|e| {
                if initiator && e.kind() == io::ErrorKind::UnexpectedEof {
                    proto_err("it refused the handshake (does it hold the same cluster key, and is this host's key the one its map lists?)")
                } else {
                    e
                }
            })?;
            // The payload is encrypted under keys the cluster key and both
            // host keys enter: without them, this fails and nothing is
            // decoded.
            let n = hs.read_message(&msg[..m], &mut buf).map_err(|_| {
                proto_err(if initiator {
                    "the peer does not hold the cluster key or its host key"
                } else {
                    "the peer does not hold the cluster key, or not the host key it shows"
                })
            })?;
            let hello = hello_of(&buf[..n])?;
            if let Expect::Map(map) = expect {
                // The responder: the key it proved it holds must be the
                // map's for the host it says it is.
                let theirs = hs.get_remote_static().unwrap_or_default();
                match map.by_id(hello.host) {
                    Some(h) if h.key[..] == *theirs => {}
                    _ => {
                        return Err(proto_err(format!(
                            "a peer that says it is host {} ({}) does not hold that host's key",
                            hello.host, hello.name
                        )))
                    }
                }
            }
            peer = Some(hello);
        }
        let peer = peer.ok_or_else(|| proto_err("no hello"))?;
        let noise = hs
            .into_transport_mode()
            .map_err(|e| proto_err(e.to_string()))?;
        let inbuf = Vec::new();
        Ok((
            Channel {
                stream,
                noise,
                buf,
                inbuf,
            },
            peer,
        ))
    }

    pub async fn send(&mut self, m: &Message) -> io::Result<()> {
        let frame = m.encode();
        if frame.len() > MAX_MESSAGE {
            return Err(proto_err("a message longer than a frame"));
        }
        let n = self
            .noise
            .write_message(&frame, &mut self.buf)
            .map_err(|e| proto_err(e.to_string()))?;
        let out = self.buf[..n].to_vec();
        write_noise(&mut self.stream, &out).await
    }

    /// The next message; `TimedOut` after [`SILENCE`] without one. Safe
    /// to cancel (in a `select!`): what was read of a message meanwhile
    /// stays for the next call. (A loop that calls it again and again keeps
    /// its own watch on the silence: each call starts its own timeout.)
    pub async fn recv(&mut self) -> io::Result<Message> {
        let msg = timeout(SILENCE, self.next_noise())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped answering"))??;
        let n = self
            .noise
            .read_message(&msg, &mut self.buf)
            .map_err(|_| proto_err("a message failed its authentication check"))?;
        Message::decode(&self.buf[..n]).map_err(|e| proto_err(e.to_string()))
    }
}

impl Channel {
    /// The next Noise message: a u16 length and the bytes. Reads only with
    /// `read_buf`, which reads nothing if cancelled.
    async fn next_noise(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let [a, b, rest @ ..] = &self.inbuf[..] {
                let n = u16::from_be_bytes([*a, *b]) as usize;
                if rest.len() >= n {
                    let msg = rest[..n].to_vec();
                    self.inbuf.drain(..2 + n);
                    return Ok(msg);
                }
            }
            self.inbuf.reserve(1 << 16);
            if self.stream.read_buf(&mut self.inbuf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let k = Key::parse(&"0f".repeat(32)).unwrap();
        assert_eq!(k.0, [0x0f; 32]);
        assert!(Key::parse(&"0f".repeat(31)).is_err());
        assert!(Key::parse(&"zz".repeat(32)).is_err());
        assert!(Key::parse(&format!("{}\n", "ab".repeat(32))).is_ok());
    }

    #[test]
    fn public_keys() {
        // RFC 7748, 6.1: Alice's private and public keys.
        let k =
            Key::parse("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").unwrap();
        assert_eq!(
            crcluster::map::key_hex(&k.public()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }
}
