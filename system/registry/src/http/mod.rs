//! The registry's HTTP faces.

pub mod consul;
pub mod eureka;
