// SPDX-License-Identifier: GPL-2.0

//! The cluster map: one line per host, `ID NAME ADDRESS KEY`, as MOSIX's
//! map lists its nodes (Documentation/cluster.rst).
//!
//! ```text
//! # id  name  address[:port]   public host key (crd pubkey)
//! 1     cr1   10.77.0.1        4c3e...(64 hex digits)
//! 2     cr2   10.77.0.2:7070   9a01...
//! 3     cr3   [fd00::3]:7070   07bd...
//! ```
//!
//! Ids go from 1 to [`MAX_HOST`] (0 means "this host" in a cluster pid),
//! names are host names (letters, digits, `-` and `.`, 1 to 63 bytes, not
//! all digits, so a name never reads as an id), addresses are IPv4 or IPv6
//! literals (no name lookups: the map must not depend on DNS) with an
//! optional port ([`DEFAULT_PORT`]), keys are the host's public X25519 key
//! (64 hex digits), which its crd proves it holds in every handshake. Ids,
//! names, addresses and keys are each unique. `#` starts a comment; blank
//! lines are ignored.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The highest host id.
pub const MAX_HOST: u16 = 65535;
/// The port crd listens on when the map names none.
pub const DEFAULT_PORT: u16 = 7070;
/// Hosts a map may list.
pub const MAX_HOSTS: usize = 4096;
/// The longest map file read.
pub const MAX_MAP_BYTES: usize = 1 << 20;

/// One host of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub id: u16,
    pub name: String,
    pub addr: SocketAddr,
    /// Its public host key.
    pub key: [u8; 32],
}

/// The hosts of the cluster, in the map's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Map {
    pub hosts: Vec<Host>,
}

/// Why a map is refused: the line (from 1) and what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub struct MapError {
    pub line: usize,
    pub what: String,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.what)
        } else {
            write!(f, "line {}: {}", self.line, self.what)
        }
    }
}

impl std::error::Error for MapError {}

/// A host given as a command line gives it: its id or its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostRef {
    Id(u16),
    Name(String),
}

impl fmt::Display for HostRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostRef::Id(id) => write!(f, "{id}"),
            HostRef::Name(n) => f.write_str(n),
        }
    }
}

impl HostRef {
    /// `2` is host 2, `cr2` the host named so.
    pub fn parse(s: &str) -> Result<HostRef, String> {
        if !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<u16>()
                .map(HostRef::Id)
                .map_err(|_| format!("no host {s}: host ids go from 0 to {MAX_HOST}"));
        }
        valid_name(s)?;
        Ok(HostRef::Name(s.to_owned()))
    }
}

fn valid_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !s.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a host name (letters, digits, '-' and '.', at most 63, not all digits)"
        ))
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err(format!("{s}: port 0"));
        }
        return Ok(a);
    }
    // No port: a bare IPv4 or IPv6 literal (an IPv6 one with a port is
    // written [addr]:port).
    match s.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, DEFAULT_PORT)),
        Err(_) => Err(format!(
            "{s:?} is not an address (an IPv4 or IPv6 literal, with :PORT or [IPv6]:PORT)"
        )),
    }
}

/// 32 bytes written as 64 hex digits (a key).
pub fn parse_key(s: &str) -> Result<[u8; 32], String> {
    let hex = s.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{s:?} is not a key (64 hex digits)"));
    }
    let mut k = [0u8; 32];
    for (i, byte) in k.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(k)
}

/// A key as 64 hex digits.
pub fn key_hex(k: &[u8; 32]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

impl Map {
    /// Parses a map file's text.
    pub fn parse(text: &str) -> Result<Map, MapError> {
        let err = |line: usize, what: String| MapError { line, what };
        if text.len() > MAX_MAP_BYTES {
            return Err(err(0, format!("the map is over {MAX_MAP_BYTES} bytes")));
        }
        let mut map = Map::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("");
            let words: Vec<&str> = content.split_ascii_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            let [id, name, addr, key] = words[..] else {
                return Err(err(
                    line,
                    "want four fields: ID NAME ADDRESS KEY (the host's public key: crd pubkey)"
                        .into(),
                ));
            };
            let id = match HostRef::parse(id) {
                Ok(HostRef::Id(id)) if id > 0 => id,
                _ => {
                    return Err(err(
                        line,
                        format!("{id:?} is not a host id (1 to {MAX_HOST})"),
                    ))
                }
            };
            valid_name(name).map_err(|w| err(line, w))?;
            let addr = parse_addr(addr).map_err(|w| err(line, w))?;
            let key = parse_key(key).map_err(|w| err(line, w))?;
            if let Some(h) = map.hosts.iter().find(|h| h.id == id) {
                return Err(err(line, format!("host id {id} is {} already", h.name)));
            }
            if map.hosts.iter().any(|h| h.name == name) {
                return Err(err(line, format!("host name {name} is used already")));
            }
            if let Some(h) = map.hosts.iter().find(|h| h.addr == addr) {
                return Err(err(
                    line,
                    format!("address {addr} is host {}'s already", h.id),
                ));
            }
            if let Some(h) = map.hosts.iter().find(|h| h.key == key) {
                return Err(err(line, format!("that key is host {}'s already", h.id)));
            }
            if map.hosts.len() == MAX_HOSTS {
                return Err(err(line, format!("a map lists at most {MAX_HOSTS} hosts")));
            }
            map.hosts.push(Host {
                id,
                name: name.to_owned(),
                addr,
                key,
            });
        }
        if map.hosts.is_empty() {
            return Err(err(0, "the map lists no host".into()));
        }
        Ok(map)
    }

    pub fn by_id(&self, id: u16) -> Option<&Host> {
        self.hosts.iter().find(|h| h.id == id)
    }

    pub fn by_name(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn find(&self, r: &HostRef) -> Option<&Host> {
        match r {
            HostRef::Id(id) => self.by_id(*id),
            HostRef::Name(n) => self.by_name(n),
        }
    }
}

/// For the fuzz targets: parses `data` as a map (no input may panic).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_map(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = Map::parse(text) {
            assert!(!m.hosts.is_empty() && m.hosts.iter().all(|h| h.id > 0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key number `n`, as the map writes it.
    fn k(n: u8) -> String {
        key_hex(&[n; 32])
    }

    #[test]
    fn parses() {
        let text = format!(
            "# the test cluster\n1 cr1 10.77.0.1 {}\n\n 2\tcr2  10.77.0.2:7000 {} # two\n3 cr-3.lan [fd00::3]:9 {}\n4 c4 fd00::4 {}\n",
            k(1),
            k(2),
            k(3),
            k(4).to_uppercase()
        );
        let m = Map::parse(&text).unwrap();
        assert_eq!(m.hosts.len(), 4);
        assert_eq!(m.by_id(1).unwrap().addr, "10.77.0.1:7070".parse().unwrap());
        assert_eq!(m.by_id(1).unwrap().key, [1; 32]);
        assert_eq!(m.by_id(4).unwrap().key, [4; 32]);
        assert_eq!(m.by_name("cr2").unwrap().addr.port(), 7000);
        assert_eq!(m.by_id(3).unwrap().name, "cr-3.lan");
        assert_eq!(m.by_id(4).unwrap().addr, "[fd00::4]:7070".parse().unwrap());
        assert_eq!(m.find(&HostRef::parse("cr2").unwrap()).unwrap().id, 2);
        assert_eq!(m.find(&HostRef::parse("3").unwrap()).unwrap().id, 3);
        assert!(m.find(&HostRef::parse("9").unwrap()).is_none());
    }

    #[test]
    fn refuses() {
        let (k1, k2) = (k(1), k(2));
        for (text, line, what) in [
            (String::new(), 0, "no host"),
            ("# nothing\n".into(), 0, "no host"),
            ("1 cr1\n".into(), 1, "four fields"),
            ("1 cr1 10.0.0.1\n".into(), 1, "four fields"),
            (format!("1 cr1 10.0.0.1 {k1} extra\n"), 1, "four fields"),
            (format!("0 cr0 10.0.0.1 {k1}\n"), 1, "not a host id"),
            (format!("65536 big 10.0.0.1 {k1}\n"), 1, "not a host id"),
            (format!("-1 neg 10.0.0.1 {k1}\n"), 1, "not a host id"),
            (format!("x1 cr1 10.0.0.1 {k1}\n"), 1, "not a host id"),
            (format!("1 12 10.0.0.1 {k1}\n"), 1, "not a host name"),
            (format!("1 a_b 10.0.0.1 {k1}\n"), 1, "not a host name"),
            (format!("1 cr1 cr1.example {k1}\n"), 1, "not an address"),
            (format!("1 cr1 10.0.0.1:0 {k1}\n"), 1, "port 0"),
            (format!("1 cr1 10.0.0.1:99999 {k1}\n"), 1, "not an address"),
            ("1 cr1 10.0.0.1 0f0f\n".into(), 1, "not a key"),
            (format!("1 cr1 10.0.0.1 {}zz\n", &k1[..62]), 1, "not a key"),
            (
                format!("1 cr1 10.0.0.1 {k1}\n1 cr2 10.0.0.2 {k2}\n"),
                2,
                "is cr1 already",
            ),
            (
                format!("1 cr1 10.0.0.1 {k1}\n2 cr1 10.0.0.2 {k2}\n"),
                2,
                "used already",
            ),
            (
                format!("1 cr1 10.0.0.1 {k1}\n2 cr2 10.0.0.1:7070 {k2}\n"),
                2,
                "host 1's already",
            ),
            (
                format!("1 cr1 10.0.0.1 {k1}\n2 cr2 10.0.0.2 {k1}\n"),
                2,
                "that key is host 1's already",
            ),
        ] {
            let e = Map::parse(&text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.what.contains(what), "{text:?}: {e}");
        }
    }

    #[test]
    fn host_refs() {
        assert_eq!(HostRef::parse("2"), Ok(HostRef::Id(2)));
        assert_eq!(HostRef::parse("cr2"), Ok(HostRef::Name("cr2".into())));
        assert!(HostRef::parse("70000").is_err());
        assert!(HostRef::parse("").is_err());
        assert!(HostRef::parse("a b").is_err());
    }
}
