//! Which instances exist and which connection renews which: the same for both systems.

use std::ops::Range;

#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub instances: usize,
    pub services: usize,
    pub connections: usize,
}

impl Layout {
    pub fn service(&self, s: usize) -> String {
        format!("svc-{s:03}")
    }

    /// Instance `i`'s (service, id).
    pub fn instance(&self, i: usize) -> (String, String) {
        (self.service(i % self.services), format!("inst-{i:05}"))
    }

    /// The instances connection `c` registers and renews: a contiguous, near-equal share.
    pub fn share(&self, c: usize) -> Range<usize> {
        assert!(c < self.connections && self.connections <= self.instances, "connection {c} of {}", self.connections);
        let per = self.instances / self.connections;
        let extra = self.instances % self.connections;
        let start = c * per + c.min(extra);
        start..start + per + usize::from(c < extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_instance_once() {
        let l = Layout { instances: 10_007, services: 100, connections: 64 };
        let mut next = 0;
        for c in 0..l.connections {
            let s = l.share(c);
            assert_eq!(s.start, next);
            assert!(s.len() == 156 || s.len() == 157);
            next = s.end;
        }
        assert_eq!(next, l.instances);
    }
}
