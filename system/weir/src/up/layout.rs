//! Where `weir up`'s cluster listens: twelve ports in a fixed order. The default layout uses the
//! ports a newcomer expects (nsqd's 4150/4151, nsqlookupd's 4160/4161, Consul's 8500, a proxy's
//! 8080); `--port-base N` lays the twelve out from N instead, and `--port-base 0` takes any free
//! ports (what tests and a second cluster on the same machine want).

use std::net::SocketAddr;

/// The cluster's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub lookup_tcp: SocketAddr,
    pub lookup_http: SocketAddr,
    /// (TCP, HTTP) of each queue node.
    pub queues: [(SocketAddr, SocketAddr); 2],
    pub registries: [SocketAddr; 3],
    pub demo: SocketAddr,
    pub gateway: SocketAddr,
    pub gateway_admin: SocketAddr,
}

/// The default ports, in the order [`Layout::from_ports`] takes them.
pub const DEFAULT_PORTS: [u16; PORTS] = [4160, 4161, 4150, 4151, 4250, 4251, 8500, 8501, 8502, 9000, 8080, 9901];

/// How many ports the cluster needs.
pub const PORTS: usize = 12;

impl Layout {
    /// The layout on `host` with `ports` in the order of [`DEFAULT_PORTS`].
    pub fn from_ports(host: std::net::IpAddr, ports: [u16; PORTS]) -> Layout {
        let a = |i: usize| SocketAddr::new(host, ports[i]);
        Layout {
            lookup_tcp: a(0),
            lookup_http: a(1),
            queues: [(a(2), a(3)), (a(4), a(5))],
            registries: [a(6), a(7), a(8)],
            demo: a(9),
            gateway: a(10),
            gateway_admin: a(11),
        }
    }

    /// Ports `base`, `base + 1`, … in the default order; None when they would pass 65535.
    pub fn from_base(host: std::net::IpAddr, base: u16) -> Option<Layout> {
        base.checked_add(PORTS as u16 - 1)?;
        let mut ports = [0u16; PORTS];
        for (i, p) in ports.iter_mut().enumerate() {
            *p = base + i as u16;
        }
        Some(Layout::from_ports(host, ports))
    }

    /// Every address with what it is, in start order (for tests).
    #[cfg(test)]
    pub fn all(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![
            ("lookup tcp", self.lookup_tcp),
            ("lookup http", self.lookup_http),
            ("queue-1 tcp", self.queues[0].0),
            ("queue-1 http", self.queues[0].1),
            ("queue-2 tcp", self.queues[1].0),
            ("queue-2 http", self.queues[1].1),
            ("registry-1 http", self.registries[0]),
            ("registry-2 http", self.registries[1]),
            ("registry-3 http", self.registries[2]),
            ("demo http", self.demo),
            ("gateway http", self.gateway),
            ("gateway admin", self.gateway_admin),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let host = "127.0.0.1".parse().unwrap();
        let d = Layout::from_ports(host, DEFAULT_PORTS);
        assert_eq!(d.queues[0].1.port(), 4151);
        assert_eq!(d.registries[0].port(), 8500);
        assert_eq!(d.gateway.port(), 8080);
        let b = Layout::from_base(host, 20000).unwrap();
        assert_eq!(b.lookup_tcp.port(), 20000);
        assert_eq!(b.gateway_admin.port(), 20011);
        assert_eq!(Layout::from_base(host, 65530), None);
        let mut ports: Vec<u16> = b.all().iter().map(|(_, a)| a.port()).collect();
        ports.dedup();
        assert_eq!(ports.len(), PORTS, "every address is distinct");
    }
}
