//! TLS through the seam: the rustls crypto provider and clock every TLS config in the system uses.
//!
//! Why rt owns this: a TLS handshake draws randomness (hello randoms, session ids, the ephemeral
//! key share) and reads the wall clock (certificate validity). rustls' stock *ring* provider takes
//! both from the OS, so under the simulator a TLS connection would differ from one run of a seed
//! to the next. Build every `ClientConfig` and `ServerConfig` with [`client_builder`] /
//! [`server_builder`] and the choice is made here, once:
//!
//! | | production | simulation (`cfg(madsim)`) |
//! |---|---|---|
//! | `secure_random` | *ring*'s OS source | [`crate::rand`] (the run's seed) |
//! | key exchange | *ring*'s X25519, P-256, P-384 | X25519 only, its private key from [`crate::rand`] |
//! | private keys | any *ring* supports | Ed25519 only |
//! | time | `SystemTime::now()` | [`crate::clock::wall`] (the node's skewed wall clock) |
//!
//! The simulated provider differs from production only where *ring* would reach the OS: *ring*
//! generates an ephemeral key share from its own `SystemRandom` (not from the provider's
//! `secure_random`), so the simulated X25519 group hands *ring* 32 seeded bytes instead; and
//! ECDSA and RSA-PSS signatures draw a random nonce or salt from the OS inside *ring*, so the
//! simulated key provider accepts only Ed25519 keys, whose signatures are deterministic
//! (the simulator's certificates are Ed25519, see `scenarios`). Cipher suites, signature
//! verification and everything else are *ring*'s own.

use std::sync::Arc;

pub use tokio_rustls::rustls;
use rustls::crypto::CryptoProvider;
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, ConfigBuilder, ServerConfig, WantsVerifier};

/// The crypto provider of this build (see the module documentation).
pub fn provider() -> Arc<CryptoProvider> {
    #[cfg(not(madsim))]
    {
        Arc::new(rustls::crypto::ring::default_provider())
    }
    #[cfg(madsim)]
    {
        Arc::new(sim::provider())
    }
}

/// The clock rustls checks certificate validity and ticket ages against.
pub fn time_provider() -> Arc<dyn TimeProvider> {
    Arc::new(WallClock)
}

/// The node's wall clock ([`crate::clock::wall`]) as rustls' time source.
#[derive(Debug)]
pub struct WallClock;

impl TimeProvider for WallClock {
    fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
        // Outside any simulated run (a plain unit test of the simulator build) there is no node
        // clock: the host's.
        #[cfg(madsim)]
        let now = if madsim::runtime::Handle::try_current().is_ok() { crate::clock::wall() } else { std::time::SystemTime::now() };
        #[cfg(not(madsim))]
        let now = crate::clock::wall();
        let since_epoch = now.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(rustls::pki_types::UnixTime::since_unix_epoch(since_epoch))
    }
}

/// A `ServerConfig` builder on this build's provider and clock, with the given protocol versions.
pub fn server_builder(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<ConfigBuilder<ServerConfig, WantsVerifier>, rustls::Error> {
    ServerConfig::builder_with_details(provider(), time_provider()).with_protocol_versions(versions)
}

/// A `ClientConfig` builder on this build's provider and clock (TLS 1.2 and 1.3).
pub fn client_builder() -> Result<ConfigBuilder<ClientConfig, WantsVerifier>, rustls::Error> {
    ClientConfig::builder_with_details(provider(), time_provider()).with_safe_default_protocol_versions()
}

#[cfg(madsim)]
mod sim {
    use rustls::crypto::{
        ActiveKeyExchange, CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, SharedSecret, SupportedKxGroup,
    };
    use rustls::pki_types::PrivateKeyDer;
    use rustls::sign::SigningKey;
    use rustls::{Error, NamedGroup, PeerMisbehaved, SignatureAlgorithm};
    use std::sync::Arc;

    use super::rustls;

    /// *ring*'s default provider with the run's randomness (see the module documentation).
    pub(super) fn provider() -> CryptoProvider {
        CryptoProvider {
            kx_groups: vec![&SeededX25519],
            secure_random: &SeededRandom,
            key_provider: &Ed25519Only,
            ..rustls::crypto::ring::default_provider()
        }
    }

    /// Randomness from the simulator's seeded generator — or, outside any simulated run (a
    /// plain unit test of the simulator build, where there is no seed to follow), *ring*'s OS
    /// source, as in production.
    fn fill(buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        if madsim::runtime::Handle::try_current().is_ok() {
            crate::rand::fill(buf);
            Ok(())
        } else {
            use ring::rand::SecureRandom as _;
            ring::rand::SystemRandom::new().fill(buf).map_err(|_| GetRandomFailed)
        }
    }

    #[derive(Debug)]
    struct SeededRandom;

    impl SecureRandom for SeededRandom {
        fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
            fill(buf)
        }
    }

    /// *ring*'s key loading, refusing keys whose signatures would draw OS randomness.
    #[derive(Debug)]
    struct Ed25519Only;

    impl KeyProvider for Ed25519Only {
        fn load_private_key(&self, key_der: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, Error> {
            let key = rustls::crypto::ring::default_provider().key_provider.load_private_key(key_der)?;
            if key.algorithm() != SignatureAlgorithm::ED25519 {
                return Err(Error::General(
                    "simulated TLS takes only Ed25519 keys: ECDSA and RSA-PSS signatures draw OS randomness inside ring".into(),
                ));
            }
            Ok(key)
        }
    }

    /// X25519 with its ephemeral private key drawn from the run's seed.
    #[derive(Debug)]
    struct SeededX25519;

    impl SupportedKxGroup for SeededX25519 {
        fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
            let mut seed = [0u8; 32];
            fill(&mut seed)?;
            // ring's X25519 key generation fills exactly 32 bytes once from the generator it is
            // given; its `SecureRandom` trait is sealed, and this fixed-bytes generator is the one
            // ring exports for deterministic use.
            #[allow(deprecated)]
            let rng = ring::test::rand::FixedSliceRandom { bytes: &seed };
            let priv_key = ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::X25519, &rng)
                .map_err(|_| GetRandomFailed)?;
            let pub_key = priv_key.compute_public_key().map_err(|_| GetRandomFailed)?;
            Ok(Box::new(X25519Exchange { priv_key, pub_key: pub_key.as_ref().to_vec() }))
        }

        fn name(&self) -> NamedGroup {
            NamedGroup::X25519
        }
    }

    struct X25519Exchange {
        priv_key: ring::agreement::EphemeralPrivateKey,
        pub_key: Vec<u8>,
    }

    impl ActiveKeyExchange for X25519Exchange {
        fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
            if peer.len() != 32 {
                return Err(PeerMisbehaved::InvalidKeyShare.into());
            }
            let peer_key = ring::agreement::UnparsedPublicKey::new(&ring::agreement::X25519, peer);
            ring::agreement::agree_ephemeral(self.priv_key, &peer_key, |secret| SharedSecret::from(secret))
                .map_err(|_| PeerMisbehaved::InvalidKeyShare.into())
        }

        fn pub_key(&self) -> &[u8] {
            &self.pub_key
        }

        fn group(&self) -> NamedGroup {
            NamedGroup::X25519
        }
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
