//! The codecs are pure: what one side encodes in any batches, the other decodes to the same bytes
//! whatever way the network splits it; garbage is an error, never a panic or a huge allocation.

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;

/// Encodes `batches` (each flushed), feeds the result to a decoder in pieces cut at `cuts`, and
/// returns everything decoded.
fn roundtrip(snappy: bool, level: Option<u32>, batches: &[Vec<u8>], cuts: &[usize]) -> Vec<u8> {
    let (mut enc, _) = codecs(snappy, level);
    let (_, mut dec) = codecs(snappy, level);
    let mut wire = BytesMut::new();
    for b in batches {
        enc.encode(b, &mut wire).unwrap();
    }
    let wire = wire.freeze();
    let mut raw = BytesMut::new();
    let mut out = BytesMut::new();
    let mut pos = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(wire.len());
    points.sort_unstable();
    for p in points {
        raw.extend_from_slice(&wire[pos..p.max(pos)]);
        pos = p.max(pos);
        while dec.decode(&mut raw, &mut out, DECODE_STEP_BYTES).unwrap() > 0 {}
    }
    assert!(raw.is_empty(), "every byte was decodable");
    out.to_vec()
}

fn batches() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Repetitive and random bytes, so both stored and compressed snappy chunks occur.
    let batch = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (any::<u8>(), 0usize..150_000).prop_map(|(b, n)| vec![b; n]),
    ];
    proptest::collection::vec(batch, 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn snappy_roundtrips(batches in batches(), cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        prop_assert_eq!(roundtrip(true, None, &batches, &cuts), batches.concat());
    }

    #[test]
    fn deflate_roundtrips(batches in batches(), cuts in proptest::collection::vec(any::<usize>(), 0..8), level in 0u32..12) {
        prop_assert_eq!(roundtrip(false, Some(level), &batches, &cuts), batches.concat());
    }

    #[test]
    fn garbage_is_an_error_or_waits(snappy in any::<bool>(), data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let (_, mut dec) = codecs(snappy, Some(6));
        let mut raw = BytesMut::from(&data[..]);
        let mut out = BytesMut::new();
        for _ in 0..64 {
            match dec.decode(&mut raw, &mut out, DECODE_STEP_BYTES) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        prop_assert!(out.len() <= 64 * (DECODE_STEP_BYTES + 65536));
    }
}

#[test]
fn a_deflate_bomb_is_decoded_a_step_at_a_time() {
    let (mut enc, mut dec) = codecs(false, Some(9));
    let mut wire = BytesMut::new();
    enc.encode(&vec![0u8; 8 << 20], &mut wire).unwrap();
    assert!(wire.len() < 64 * 1024, "8 MiB of zeros compress to {} bytes", wire.len());
    let mut out = BytesMut::new();
    let first = dec.decode(&mut wire, &mut out, DECODE_STEP_BYTES).unwrap();
    assert!((DECODE_STEP_BYTES..2 * DECODE_STEP_BYTES).contains(&first), "one step made {first} bytes");
    let mut total = first;
    loop {
        out.clear();
        match dec.decode(&mut wire, &mut out, DECODE_STEP_BYTES).unwrap() {
            0 => break,
            n => total += n,
        }
    }
    assert_eq!(total, 8 << 20);
}

#[test]
fn snappy_matches_nsqds_ok_frame() {
    // nsqd's compressed `OK` response frame as the golden upgrade probe shows it: the stream
    // identifier, then one stored chunk (a 10-byte block does not compress).
    let mut ok = BytesMut::new();
    wire::frame::encode_response(wire::frame::OK, &mut ok);
    let (mut enc, _) = codecs(true, None);
    let mut out = BytesMut::new();
    enc.encode(&ok, &mut out).unwrap();
    let expected = [
        0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y', 0x01, 0x0e, 0x00, 0x00, 0x26, 0x98, 0x2b, 0xcf, 0, 0, 0, 6, 0, 0, 0, 0,
        b'O', b'K',
    ];
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn snappy_refuses_bad_crc_and_data_before_the_identifier() {
    let (mut enc, _) = codecs(true, None);
    let mut wire = BytesMut::new();
    enc.encode(b"hello hello hello hello", &mut wire).unwrap();
    let mut bad = wire.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let (_, mut dec) = codecs(true, None);
    assert!(dec.decode(&mut bad, &mut BytesMut::new(), DECODE_STEP_BYTES).is_err());
    let mut headless = BytesMut::from(&wire[STREAM_IDENTIFIER_LEN..]);
    let (_, mut dec) = codecs(true, None);
    assert!(dec.decode(&mut headless, &mut BytesMut::new(), DECODE_STEP_BYTES).is_err());
}

const STREAM_IDENTIFIER_LEN: usize = snappy::STREAM_IDENTIFIER.len();

/// Level 0 asked for: a stored batch lost its last byte when the compressor's output buffer was
/// 16 KiB (found by `deflate_roundtrips`); levels are now 1..=9 and the buffer 32 KiB, and the
/// flush is drained until the compressor has nothing left.
#[test]
fn deflate_flush_longer_than_one_output_buffer() {
    for n in [31746usize, 65535, 65536, 200_000] {
        let got = roundtrip(false, Some(0), &[vec![0u8; n]], &[]);
        assert_eq!(got.len(), n, "n={n}");
        let mut d = flate2::Decompress::new(false);
        let (mut enc, _) = codecs(false, Some(0));
        let mut wire = BytesMut::new();
        enc.encode(&vec![7u8; n], &mut wire).unwrap();
        let mut out = Vec::with_capacity(n + 1024);
        d.decompress_vec(&wire, &mut out, flate2::FlushDecompress::Sync).unwrap();
        assert_eq!(out, vec![7u8; n], "flate2's own inflater reads every byte, n={n}");
    }
}

