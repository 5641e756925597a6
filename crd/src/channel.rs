// SPDX-License-Identifier: GPL-2.0

//! The authenticated channel between two crds: a TCP connection carrying a
//! Noise `NNpsk0` handshake keyed with the cluster key, then Noise transport
//! messages, each one protocol frame (Documentation/cluster.rst).
//!
//! On the wire, every Noise message is a u16 (big-endian) length and the
//! message. The handshake's two messages carry each side's `Hello`; a peer
//! that does not hold the cluster key fails the first message's check and is
//! dropped before anything it sent is decoded as a request. Transport
//! messages are encrypted and authenticated (ChaCha20-Poly1305) with nonces
//! in order, so a frame cannot be forged, changed, replayed or reordered.

use std::io;
use std::time::Duration;

use crcluster::proto::{Message, MAX_MESSAGE, VERSION};
use snow::{Builder, TransportState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";
/// How long a handshake may take.
pub const HANDSHAKE_TIME: Duration = Duration::from_secs(10);
/// Silence after which a peer is taken for gone (it sends a `Beat` every
/// second while it works on a request).
pub const SILENCE: Duration = Duration::from_secs(10);

/// The cluster key: 32 bytes, written as 64 hex digits in the key file.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    pub fn parse(text: &str) -> Result<Key, String> {
        let hex = text.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("a cluster key is 64 hex digits (32 bytes)".into());
        }
        let mut k = [0u8; 32];
        for (i, byte) in k.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(Key(k))
    }
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

impl Channel {
    /// Connects to a peer and runs the handshake as its initiator.
    pub async fn connect(
        stream: TcpStream,
        key: &Key,
        me: &Message,
    ) -> io::Result<(Channel, Peer)> {
        Self::handshake(stream, key, me, true).await
    }

    /// Runs the handshake as the responder of an accepted connection.
    pub async fn accept(stream: TcpStream, key: &Key, me: &Message) -> io::Result<(Channel, Peer)> {
        Self::handshake(stream, key, me, false).await
    }

    async fn handshake(
        stream: TcpStream,
        key: &Key,
        me: &Message,
        initiator: bool,
    ) -> io::Result<(Channel, Peer)> {
        timeout(HANDSHAKE_TIME, Self::exchange(stream, key, me, initiator))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the handshake timed out"))?
    }

    /// The two handshake messages (`NNpsk0`: the initiator writes first),
    /// each carrying its sender's hello.
    async fn exchange(
        mut stream: TcpStream,
        key: &Key,
        me: &Message,
        initiator: bool,
    ) -> io::Result<(Channel, Peer)> {
        let params = PATTERN
            .parse()
            .map_err(|_| proto_err("bad noise pattern"))?;
        let builder = Builder::new(params).psk(0, &key.0);
        let mut hs = if initiator {
            builder.build_initiator()
        } else {
            builder.build_responder()
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
                    proto_err("it refused the handshake (does it hold the same cluster key?)")
                } else {
                    e
                }
            })?;
            // The payload is encrypted under a key the cluster key enters:
            // without it, this fails and nothing is decoded.
            let n = hs
                .read_message(&msg[..m], &mut buf)
                .map_err(|_| proto_err("the peer does not hold the cluster key"))?;
            peer = Some(hello_of(&buf[..n])?);
        }
        let peer = peer.ok_or_else(|| proto_err("no hello"))?;
        let noise = hs
            .into_transport_mode()
            .map_err(|e| proto_err(e.to_string()))?;
        Ok((Channel { stream, noise, buf }, peer))
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

    /// The next message; `TimedOut` after [`SILENCE`] without one.
    pub async fn recv(&mut self) -> io::Result<Message> {
        let mut msg = Vec::new();
        let m = timeout(SILENCE, read_noise(&mut self.stream, &mut msg))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped answering"))??;
        let n = self
            .noise
            .read_message(&msg[..m], &mut self.buf)
            .map_err(|_| proto_err("a message failed its authentication check"))?;
        Message::decode(&self.buf[..n]).map_err(|e| proto_err(e.to_string()))
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
}
