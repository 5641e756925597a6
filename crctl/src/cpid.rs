// SPDX-License-Identifier: GPL-2.0

//! Cluster process ids as users write them: `HOST:PID` (decimal), or `PID`
//! alone for a process of this host (host 0). The module's form is one u64
//! (`uapi::cpid`): the host in the high 32 bits.

use core::fmt;
use core::str::FromStr;

use crate::uapi;

/// The highest host id (Documentation/design.rst, cluster-wide process ids).
pub const MAX_HOST: u32 = 65535;
/// The highest pid a `pid_t` holds (Linux gives at most `PID_MAX_LIMIT`,
/// 4194304 on 64-bit: a higher one names no process, which is said later).
pub const MAX_PID: u32 = i32::MAX as u32;

/// A process of the cluster: `host` 0 is this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterPid {
    pub host: u32,
    pub pid: u32,
}

impl ClusterPid {
    /// The id the module takes (`CR_CPID`).
    pub fn raw(self) -> u64 {
        uapi::cpid(self.host, self.pid)
    }

    /// A process of this host.
    pub fn is_local(self) -> bool {
        self.host == 0
    }
}

/// Why a string is not a cluster pid.
#[derive(Debug, PartialEq, Eq)]
pub enum CpidError {
    /// Not `PID` or `HOST:PID` with decimal digits only.
    Form,
    /// The host id is above [`MAX_HOST`].
    Host,
    /// The pid is 0 or above [`MAX_PID`].
    Pid,
}

impl fmt::Display for CpidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpidError::Form => {
                f.write_str("not a process id: write PID, or HOST:PID for a process of host HOST")
            }
            CpidError::Host => write!(
                f,
                "no such host: host ids go from 0 (this host) to {MAX_HOST}"
            ),
            CpidError::Pid => write!(f, "no such pid: pids go from 1 to {MAX_PID}"),
        }
    }
}

impl std::error::Error for CpidError {}

/// A decimal number of at most 10 digits (no sign, space or other base).
fn number(s: &str) -> Result<u64, CpidError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CpidError::Form);
    }
    s.parse().map_err(|_| CpidError::Form)
}

impl FromStr for ClusterPid {
    type Err = CpidError;

    fn from_str(s: &str) -> Result<Self, CpidError> {
        let (host, pid) = match s.split_once(':') {
            Some((h, p)) => (number(h)?, number(p)?),
            None => (0, number(s)?),
        };
        if host > u64::from(MAX_HOST) {
            return Err(CpidError::Host);
        }
        if pid == 0 || pid > u64::from(MAX_PID) {
            return Err(CpidError::Pid);
        }
        Ok(ClusterPid {
            host: host as u32,
            pid: pid as u32,
        })
    }
}

impl fmt::Display for ClusterPid {
    /// `PID` for this host, `HOST:PID` for another.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_local() {
            write!(f, "{}", self.pid)
        } else {
            write!(f, "{}:{}", self.host, self.pid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        assert_eq!("51".parse(), Ok(ClusterPid { host: 0, pid: 51 }));
        assert_eq!("0:51".parse(), Ok(ClusterPid { host: 0, pid: 51 }));
        assert_eq!("2:51".parse(), Ok(ClusterPid { host: 2, pid: 51 }));
        assert_eq!(
            "65535:2147483647".parse(),
            Ok(ClusterPid {
                host: MAX_HOST,
                pid: MAX_PID
            })
        );
        let c: ClusterPid = "3:7".parse().unwrap();
        assert_eq!(c.raw(), (3u64 << 32) | 7);
        assert_eq!(c.to_string(), "3:7");
        assert_eq!("0:7".parse::<ClusterPid>().unwrap().to_string(), "7");
    }

    #[test]
    fn refused() {
        for s in [
            "",
            ":",
            "1:",
            ":1",
            "1:2:3",
            "a",
            "1:a",
            "-1",
            "+1",
            " 1",
            "1 ",
            "0x10",
            "1.0",
            "١",
            "12345678901",
            "1:12345678901",
        ] {
            assert_eq!(s.parse::<ClusterPid>(), Err(CpidError::Form), "{s:?}");
        }
        assert_eq!("65536:1".parse::<ClusterPid>(), Err(CpidError::Host));
        assert_eq!("4294967295:1".parse::<ClusterPid>(), Err(CpidError::Host));
        assert_eq!("0".parse::<ClusterPid>(), Err(CpidError::Pid));
        assert_eq!("1:0".parse::<ClusterPid>(), Err(CpidError::Pid));
        assert_eq!("2147483648".parse::<ClusterPid>(), Err(CpidError::Pid));
        assert_eq!("4194305".parse::<ClusterPid>().map(|c| c.pid), Ok(4194305));
    }
}
