// SPDX-License-Identifier: GPL-2.0

//! What the hosts of a cr cluster and their tools share: the cluster map
//! (which hosts there are) and the messages of the crd protocol, with their
//! encoding. Pure code: no I/O, no unsafe; every decoder takes hostile bytes
//! (Documentation/cluster.rst).

pub mod map;
pub mod proto;
