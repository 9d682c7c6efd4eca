use super::*;
use crate::session::ClientState;
use bytes::BufMut;
use proptest::prelude::*;

fn small() -> Limits {
    Limits {
        max_msg_size: 100,
        max_body_size: 200,
        max_rdy_count: 2500,
        max_req_timeout_ms: 3_600_000,
        max_line_len: 64,
    }
}

fn session(state: ClientState) -> SessionView {
    SessionView {
        state,
        ..SessionView::default()
    }
}

/// Decodes everything in `input` in server mode with a fixed session and
/// returns the events and the terminal error text, if any.
fn server_run(input: &[u8], s: SessionView, limits: Limits) -> (Vec<ServerEvent>, Option<String>) {
    let mut d = CommandDecoder::new(limits);
    let mut buf = BytesMut::from(input);
    let mut events = Vec::new();
    loop {
        match d.decode_server(&mut buf, &s) {
            Ok(Some(e)) => events.push(e),
            Ok(None) => return (events, None),
            Err(e) => return (events, Some(e.to_string())),
        }
    }
}

/// The first error for `input` from a fresh connection in `state`.
fn first_error(input: &[u8], state: ClientState) -> String {
    server_run(input, session(state), Limits::default())
        .1
        .unwrap_or_else(|| "no error".into())
}

fn with_body(line: &str, body: &[u8]) -> Vec<u8> {
    let mut v = line.as_bytes().to_vec();
    v.push(b'\n');
    v.extend_from_slice(&i32::try_from(body.len()).unwrap().to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn one(input: &[u8]) -> Command {
    let mut d = CommandDecoder::new(Limits::default());
    let mut buf = BytesMut::from(input);
    let c = d.decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty(), "left over: {buf:?}");
    c
}

#[test]
fn golden_error_texts_from_a_fresh_connection() {
    use ClientState::*;
    let cases: Vec<(Vec<u8>, ClientState, &str)> = vec![
        (b"ASDF\n".to_vec(), Init, "E_INVALID invalid command ASDF"),
        (b"\n".to_vec(), Init, "E_INVALID invalid command "),
        (with_body("PUB bad!t", b"x"), Init, "E_BAD_TOPIC PUB topic name \"bad!t\" is not valid"),
        (b"PUB\n".to_vec(), Init, "E_INVALID PUB insufficient number of parameters"),
        (with_body("PUB t2", b""), Init, "E_BAD_MESSAGE PUB invalid message body size 0"),
        (with_body("DPUB t2 -1", b"x"), Init, "E_INVALID DPUB could not parse timeout -1"),
        (
            with_body("DPUB t2 3600001", b"x"),
            Init,
            "E_INVALID DPUB timeout 3600001 out of range 0-3600000",
        ),
        (b"FIN 0000000000000000\n".to_vec(), Init, "E_INVALID cannot FIN in current state"),
        (b"CLS\n".to_vec(), Init, "E_INVALID cannot CLS in current state"),
        (b"SUB t1 bad!c\n".to_vec(), Init, "E_BAD_CHANNEL SUB channel name \"bad!c\" is not valid"),
        (b"SUB t1\n".to_vec(), Init, "E_INVALID SUB insufficient number of parameters"),
        (b"TOUCH 0000000000000000\n".to_vec(), Init, "E_INVALID cannot TOUCH in current state"),
        (
            with_body(&format!("PUB {}", "a".repeat(65)), b"x"),
            Init,
            "E_BAD_TOPIC PUB topic name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is not valid",
        ),
        (
            with_body("PUB t#ephemeralx", b"x"),
            Init,
            "E_BAD_TOPIC PUB topic name \"t#ephemeralx\" is not valid",
        ),
        (b"IDENTIFY\n\x00\x00\x00\x00".to_vec(), Init, "E_BAD_BODY IDENTIFY invalid body size 0"),
        (b"RDY 1\n".to_vec(), Init, "E_INVALID cannot RDY in current state"),
        (b"SUB t1 c1\n".to_vec(), Subscribed, "E_INVALID cannot SUB in current state"),
        (b"FIN abc\n".to_vec(), Subscribed, "E_INVALID invalid message ID"),
        (b"FIN\n".to_vec(), Subscribed, "E_INVALID FIN insufficient number of params"),
        (b"TOUCH\n".to_vec(), Closing, "E_INVALID TOUCH insufficient number of params"),
        (
            b"REQ 0000000000000000\n".to_vec(),
            Subscribed,
            "E_INVALID REQ insufficient number of params",
        ),
        (
            b"REQ 0000000000000000 -5\n".to_vec(),
            Subscribed,
            "E_INVALID REQ could not parse timeout -5",
        ),
        (b"RDY x\n".to_vec(), Subscribed, "E_INVALID RDY could not parse count x"),
        (b"RDY 2501\n".to_vec(), Subscribed, "E_INVALID RDY count 2501 out of range 0-2500"),
        (
            b"RDY 18446744073709551615\n".to_vec(),
            Subscribed,
            "E_INVALID RDY count -1 out of range 0-2500",
        ),
        (b"AUTH x\n".to_vec(), Init, "E_INVALID AUTH invalid number of parameters"),
        (with_body("AUTH", b""), Init, "E_BAD_BODY AUTH invalid body size 0"),
        (with_body("AUTH", b"s"), Subscribed, "E_INVALID cannot AUTH in current state"),
        (with_body("IDENTIFY", b"{}"), Subscribed, "E_INVALID cannot IDENTIFY in current state"),
        (b"MPUB\n".to_vec(), Init, "E_INVALID MPUB insufficient number of parameters"),
        (
            b"MPUB x!\n".to_vec(),
            Init,
            "E_BAD_TOPIC E_BAD_TOPIC MPUB topic name \"x!\" is not valid",
        ),
        (b"DPUB t\n".to_vec(), Init, "E_INVALID DPUB insufficient number of parameters"),
        (b"pub t\n".to_vec(), Init, "E_INVALID invalid command pub"),
    ];
    for (input, state, want) in cases {
        assert_eq!(
            first_error(&input, state),
            want,
            "input {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

#[test]
fn state_checks_precede_parse_errors() {
    // nsqd says "cannot RDY" before looking at the count, and "cannot FIN"
    // before looking at the id.
    assert_eq!(
        first_error(b"RDY garbage\n", ClientState::Init),
        "E_INVALID cannot RDY in current state"
    );
    assert_eq!(
        first_error(b"FIN x\n", ClientState::Init),
        "E_INVALID cannot FIN in current state"
    );
    let no_hb = SessionView {
        heartbeats_enabled: false,
        ..SessionView::default()
    };
    let (_, e) = server_run(b"SUB\n", no_hb, Limits::default());
    assert_eq!(
        e.as_deref(),
        Some("E_INVALID cannot SUB with heartbeats disabled")
    );
    // In the permissive decoder the parse error shows instead.
    let mut d = CommandDecoder::new(Limits::default());
    let err = d
        .decode(&mut BytesMut::from(&b"RDY garbage\n"[..]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "E_INVALID RDY could not parse count garbage"
    );
}

#[test]
fn message_too_big_is_reported_before_the_body_arrives() {
    let mut d = CommandDecoder::new(small());
    let mut buf = BytesMut::from(&b"PUB t\n\x00\x00\x00\x69"[..]);
    let err = d.decode(&mut buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "E_BAD_MESSAGE PUB message too big 105 > 100"
    );
    let mut d = CommandDecoder::new(small());
    let err = d
        .decode(&mut BytesMut::from(&b"DPUB t 5\n\x00\x00\x00\x69"[..]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "E_BAD_MESSAGE DPUB message too big 105 > 100"
    );
    let mut d = CommandDecoder::new(small());
    let err = d
        .decode(&mut BytesMut::from(&b"MPUB t\n\x00\x00\x00\xc9"[..]))
        .unwrap_err();
    assert_eq!(err.to_string(), "E_BAD_BODY MPUB body too big 201 > 200");
    let mut d = CommandDecoder::new(small());
    let err = d
        .decode(&mut BytesMut::from(&b"IDENTIFY\n\x00\x00\x00\xc9"[..]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "E_BAD_BODY IDENTIFY body too big 201 > 200"
    );
    let mut d = CommandDecoder::new(small());
    let err = d
        .decode(&mut BytesMut::from(&b"IDENTIFY\n\xff\xff\xff\xfe"[..]))
        .unwrap_err();
    assert_eq!(err.to_string(), "E_BAD_BODY IDENTIFY invalid body size -2");
    let mut d = CommandDecoder::new(small());
    let err = d
        .decode(&mut BytesMut::from(&b"MPUB t\n\xff\xff\xff\xfe"[..]))
        .unwrap_err();
    assert_eq!(err.to_string(), "E_BAD_BODY MPUB invalid body size -2");
}

#[test]
fn decodes_every_command() {
    let id = MessageId::from_u64(0x18a2_ec53_0da6_9000);
    assert_eq!(one(b"NOP\n"), Command::Nop);
    assert_eq!(one(b"CLS\n"), Command::Cls);
    assert_eq!(one(b"RDY\n"), Command::Rdy(1));
    assert_eq!(one(b"RDY \n"), Command::Rdy(0));
    assert_eq!(one(b"RDY 2500\r\n"), Command::Rdy(2500));
    assert_eq!(
        one(b"SUB t1 c1#ephemeral extra\n"),
        Command::Sub {
            topic: "t1".into(),
            channel: "c1#ephemeral".into()
        }
    );
    assert_eq!(one(b"FIN 18a2ec530da69000\n"), Command::Fin(id));
    assert_eq!(one(b"TOUCH 18a2ec530da69000\n"), Command::Touch(id));
    assert_eq!(
        one(b"REQ 18a2ec530da69000 99999999999\n"),
        Command::Req {
            id,
            timeout_ms: 99_999_999_999
        }
    );
    // An empty timeout reads as 0.
    assert_eq!(
        one(b"REQ 18a2ec530da69000 \n"),
        Command::Req { id, timeout_ms: 0 }
    );
    // Any 16 bytes are an id.
    assert_eq!(
        one(b"FIN \x00\x01zzzzzzzzzzzzzz\n"),
        Command::Fin(MessageId(*b"\x00\x01zzzzzzzzzzzzzz"))
    );
    assert_eq!(
        one(&with_body("PUB t2", b"hello-t2")),
        Command::Pub {
            topic: "t2".into(),
            body: Bytes::from_static(b"hello-t2")
        }
    );
    assert_eq!(
        one(&with_body("DPUB t2 0", b"x")),
        Command::Dpub {
            topic: "t2".into(),
            defer_ms: 0,
            body: Bytes::from_static(b"x")
        }
    );
    assert_eq!(
        one(&with_body("IDENTIFY", b"{}")),
        Command::Identify(Bytes::from_static(b"{}"))
    );
    assert_eq!(
        one(&with_body("AUTH", b"secret")),
        Command::Auth(Bytes::from_static(b"secret"))
    );
    assert_eq!(
        one(b"MPUB t2\n\x00\x00\x00\x0f\x00\x00\x00\x02\x00\x00\x00\x01x\x00\x00\x00\x02yy"),
        Command::Mpub {
            topic: "t2".into(),
            bodies: vec![Bytes::from_static(b"x"), Bytes::from_static(b"yy")]
        }
    );
    // Only one trailing \r is dropped; a lone \r line is an empty command.
    let mut d = CommandDecoder::new(Limits::default());
    assert_eq!(
        d.decode(&mut BytesMut::from(&b"\r\n"[..]))
            .unwrap_err()
            .to_string(),
        "E_INVALID invalid command "
    );
}

#[test]
fn rdy_is_ignored_while_closing_whatever_its_count() {
    let (events, err) = server_run(
        b"RDY garbage\nRDY 99999\nNOP\n",
        session(ClientState::Closing),
        Limits::default(),
    );
    assert_eq!(events, vec![ServerEvent::Command(Command::Nop)]);
    assert_eq!(err, None);
}

#[test]
fn server_mode_pauses_mpub_before_its_body() {
    let mut d = CommandDecoder::new(Limits::default());
    let s = SessionView::default();
    let mut buf = BytesMut::from(&b"MPUB t2\n"[..]);
    assert_eq!(
        d.decode_server(&mut buf, &s).unwrap(),
        Some(ServerEvent::MpubHeader { topic: "t2".into() })
    );
    assert_eq!(d.decode_server(&mut buf, &s).unwrap(), None);
    assert_eq!(
        d.eof_error().map(|e| e.to_string()).as_deref(),
        Some("E_BAD_BODY MPUB failed to read body size")
    );
    buf.extend_from_slice(b"\x00\x00\x00\x09\x00\x00\x00\x01\x00\x00\x00\x01z");
    assert_eq!(
        d.decode_server(&mut buf, &s).unwrap(),
        Some(ServerEvent::Command(Command::Mpub {
            topic: "t2".into(),
            bodies: vec![Bytes::from_static(b"z")]
        }))
    );
    assert!(d.is_idle());
    // An invalid body after a valid topic: the header came first.
    let (events, err) = server_run(
        b"MPUB t3\n\x00\x00\x00\x04\x00\x00\x00\x00",
        s,
        Limits::default(),
    );
    assert_eq!(events, vec![ServerEvent::MpubHeader { topic: "t3".into() }]);
    assert_eq!(
        err.as_deref(),
        Some("E_BAD_BODY MPUB invalid message count 0")
    );
}

#[test]
fn mpub_body_errors() {
    let run = |body: &[u8]| {
        let mut input = b"MPUB t\n".to_vec();
        input.extend_from_slice(body);
        server_run(&input, SessionView::default(), small()).1
    };
    assert_eq!(
        run(b"\x00\x00\x00\x00").as_deref(),
        Some("E_BAD_BODY MPUB invalid body size 0")
    );
    assert_eq!(
        run(b"\x00\x00\x00\x04\x00\x00\x00\x28").as_deref(),
        Some("E_BAD_BODY MPUB invalid message count 40")
    );
    assert_eq!(
        run(b"\x00\x00\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00").as_deref(),
        Some("E_BAD_MESSAGE MPUB invalid message(0) body size 0")
    );
    assert_eq!(
        run(b"\x00\x00\x00\x08\x00\x00\x00\x01\x00\x00\x00\x65").as_deref(),
        Some("E_BAD_MESSAGE MPUB message too big 101 > 100")
    );
    // Declared body too short for its content.
    assert_eq!(
        run(b"\x00\x00\x00\x02").as_deref(),
        Some("E_BAD_BODY MPUB failed to read message count")
    );
    assert_eq!(
        run(b"\x00\x00\x00\x06\x00\x00\x00\x01").as_deref(),
        Some("E_BAD_MESSAGE MPUB failed to read message(0) body size")
    );
    assert_eq!(
        run(b"\x00\x00\x00\x09\x00\x00\x00\x01\x00\x00\x00\x02").as_deref(),
        Some("E_BAD_MESSAGE MPUB failed to read message body")
    );
}

#[test]
fn mpub_leftover_inside_the_declared_body_is_the_next_command() {
    // Declared 13 bytes, messages use 9, "NOP\n" follows inside the body.
    let input = b"MPUB t\n\x00\x00\x00\x0d\x00\x00\x00\x01\x00\x00\x00\x01zNOP\n";
    let mut d = CommandDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&input[..]);
    assert!(matches!(
        d.decode(&mut buf).unwrap(),
        Some(Command::Mpub { .. })
    ));
    assert_eq!(d.decode(&mut buf).unwrap(), Some(Command::Nop));
}

#[test]
fn eof_errors_by_stage() {
    let eof = |input: &[u8]| {
        let mut d = CommandDecoder::new(Limits::default());
        let mut buf = BytesMut::from(input);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        d.eof_error().map(|e| e.to_string())
    };
    assert_eq!(eof(b""), None);
    assert_eq!(eof(b"PUB t"), None);
    assert_eq!(
        eof(b"PUB t\n\x00\x00").as_deref(),
        Some("E_BAD_MESSAGE PUB failed to read message body size")
    );
    assert_eq!(
        eof(b"PUB t\n\x00\x00\x00\x05ab").as_deref(),
        Some("E_BAD_MESSAGE PUB failed to read message body")
    );
    assert_eq!(
        eof(b"DPUB t 1\n").as_deref(),
        Some("E_BAD_MESSAGE DPUB failed to read message body size")
    );
    assert_eq!(
        eof(b"IDENTIFY\n").as_deref(),
        Some("E_BAD_BODY IDENTIFY failed to read body size")
    );
    assert_eq!(
        eof(b"IDENTIFY\n\x00\x00\x00\x05{").as_deref(),
        Some("E_BAD_BODY IDENTIFY failed to read body")
    );
    assert_eq!(
        eof(b"AUTH\n\x00\x00\x00\x05s").as_deref(),
        Some("E_BAD_BODY AUTH failed to read body")
    );
    assert_eq!(
        eof(b"MPUB t\n\x00\x00\x00\x10").as_deref(),
        Some("E_BAD_BODY MPUB failed to read message count")
    );
    assert_eq!(
        eof(b"MPUB t\n\x00\x00\x00\x10\x00\x00\x00\x02\x00\x00\x00\x01a").as_deref(),
        Some("E_BAD_MESSAGE MPUB failed to read message(1) body size")
    );
    assert_eq!(
        eof(b"MPUB t\n\x00\x00\x00\x10\x00\x00\x00\x01\x00\x00\x00\x08a").as_deref(),
        Some("E_BAD_MESSAGE MPUB failed to read message body")
    );
}

#[test]
fn overlong_lines_close_silently() {
    let mut d = CommandDecoder::new(small());
    // 63 bytes + '\n' = 64 fits.
    let mut ok = vec![b'a'; 63];
    ok.push(b'\n');
    let err = d.decode(&mut BytesMut::from(&ok[..])).unwrap_err();
    assert!(err.protocol_error().is_some(), "a 64-byte line is parsed");
    let mut d = CommandDecoder::new(small());
    let mut buf = BytesMut::from(&[b'a'; 63][..]);
    assert_eq!(d.decode(&mut buf).unwrap(), None);
    buf.put_u8(b'b');
    assert_eq!(
        d.decode(&mut buf),
        Err(CommandError::LineTooLong { limit: 64 })
    );
    assert_eq!(d.eof_error(), None);
}

#[test]
fn errors_are_sticky() {
    let mut d = CommandDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&b"FOO\nNOP\n"[..]);
    let e1 = d.decode(&mut buf).unwrap_err();
    let e2 = d.decode(&mut buf).unwrap_err();
    assert_eq!(e1, e2);
    assert_eq!(e1.protocol_error().map(|e| e.fatal), Some(true));
}

#[test]
fn partial_line_scanning_resumes() {
    let mut d = CommandDecoder::new(Limits::default());
    let mut buf = BytesMut::new();
    for chunk in [&b"SU"[..], b"B t", b"1 c1", b"\nRD", b"Y 3\n"] {
        buf.extend_from_slice(chunk);
        while let Some(c) = d.decode(&mut buf).unwrap() {
            match c {
                Command::Sub { .. } | Command::Rdy(3) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(buf.is_empty());
}

// ---------------------------------------------------------------------------
// Properties.

fn name() -> impl Strategy<Value = String> {
    ("[.a-zA-Z0-9_-]{1,54}", any::<bool>())
        .prop_map(|(n, e)| if e { format!("{n}#ephemeral") } else { n })
}

fn body(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 1..max).prop_map(Bytes::from)
}

fn hex_id() -> impl Strategy<Value = MessageId> {
    any::<u64>().prop_map(MessageId::from_u64)
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        body(50).prop_map(Command::Identify),
        body(20).prop_map(Command::Auth),
        (name(), name()).prop_map(|(topic, channel)| Command::Sub { topic, channel }),
        (0u64..=2500).prop_map(Command::Rdy),
        hex_id().prop_map(Command::Fin),
        hex_id().prop_map(Command::Touch),
        (hex_id(), any::<u64>()).prop_map(|(id, timeout_ms)| Command::Req { id, timeout_ms }),
        Just(Command::Cls),
        Just(Command::Nop),
        (name(), body(100)).prop_map(|(topic, body)| Command::Pub { topic, body }),
        (name(), 0u64..=3_600_000, body(100)).prop_map(|(topic, defer_ms, body)| Command::Dpub {
            topic,
            defer_ms,
            body
        }),
        (name(), proptest::collection::vec(body(30), 1..6))
            .prop_map(|(topic, bodies)| Command::Mpub { topic, bodies }),
    ]
}

fn decode_all_permissive(wire: &[u8], cuts: &[usize]) -> Result<Vec<Command>, CommandError> {
    let mut d = CommandDecoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut at = 0;
    let mut points = cuts.to_vec();
    points.push(wire.len());
    points.sort_unstable();
    for p in points {
        buf.extend_from_slice(&wire[at..p]);
        at = p;
        while let Some(c) = d.decode(&mut buf)? {
            got.push(c);
        }
    }
    assert!(buf.is_empty());
    Ok(got)
}

proptest! {
    #[test]
    fn encode_decode_is_identity(cmds in proptest::collection::vec(command(), 0..12)) {
        let mut wire = BytesMut::new();
        for c in &cmds { c.encode(&mut wire); }
        prop_assert_eq!(decode_all_permissive(&wire, &[]).unwrap(), cmds);
    }

    #[test]
    fn split_points_do_not_matter(cmds in proptest::collection::vec(command(), 1..10),
                                  cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let mut wire = BytesMut::new();
        for c in &cmds { c.encode(&mut wire); }
        let points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        prop_assert_eq!(decode_all_permissive(&wire, &points).unwrap(), cmds);
    }

    #[test]
    fn byte_by_byte_equals_whole(cmds in proptest::collection::vec(command(), 1..5)) {
        let mut wire = BytesMut::new();
        for c in &cmds { c.encode(&mut wire); }
        let every: Vec<usize> = (0..wire.len()).collect();
        prop_assert_eq!(decode_all_permissive(&wire, &every).unwrap(), cmds);
    }

    /// Arbitrary bytes never panic, every outcome is stable under splitting,
    /// and while waiting the decoder never holds more than one limit's worth.
    #[test]
    fn arbitrary_input_is_safe(data in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'\n'), Just(b' '), Just(0u8)], 0..400),
            cut in any::<prop::sample::Index>(),
            state in prop_oneof![Just(ClientState::Init), Just(ClientState::Subscribed), Just(ClientState::Closing)]) {
        let limits = small();
        let bound = limits.max_line_len.max(200).max(100);
        let s = session(state);
        let whole = {
            let mut d = CommandDecoder::new(limits.clone());
            let mut buf = BytesMut::from(&data[..]);
            let mut out = Vec::new();
            let end = loop {
                match d.decode_server(&mut buf, &s) {
                    Ok(Some(e)) => out.push(e),
                    Ok(None) => { prop_assert!(buf.len() < bound); break None }
                    Err(e) => break Some(e),
                }
            };
            (out, end)
        };
        let split = {
            let at = cut.index(data.len() + 1);
            let mut d = CommandDecoder::new(limits.clone());
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut end = None;
            'outer: for part in [&data[..at], &data[at..]] {
                buf.extend_from_slice(part);
                loop {
                    match d.decode_server(&mut buf, &s) {
                        Ok(Some(e)) => out.push(e),
                        Ok(None) => { prop_assert!(buf.len() < bound); break }
                        Err(e) => { end = Some(e); break 'outer }
                    }
                }
            }
            (out, end)
        };
        prop_assert_eq!(whole, split);
    }

    /// A PUB whose declared size exceeds the limit fails with only the
    /// 4 size bytes present: the body is never awaited.
    #[test]
    fn oversized_pub_fails_without_the_body(size in 101i32..i32::MAX) {
        let mut d = CommandDecoder::new(small());
        let mut buf = BytesMut::from(&b"PUB t\n"[..]);
        buf.put_i32(size);
        let err = d.decode(&mut buf).unwrap_err();
        prop_assert_eq!(err.to_string(), format!("E_BAD_MESSAGE PUB message too big {size} > 100"));
        prop_assert!(buf.is_empty());
    }
}

/// A server keeps published bodies for as long as their messages wait, so in server mode the
/// decoder copies them out of the read buffer (MPUB bodies packed five 200 B to a chunk); in
/// permissive mode (clients, the null queue) they stay slices of it.
#[test]
fn server_mode_copies_published_bodies_out_of_the_read_buffer() {
    let mut list = Vec::new();
    list.extend_from_slice(&12i32.to_be_bytes());
    for i in 0..12u8 {
        list.extend_from_slice(&200i32.to_be_bytes());
        list.extend_from_slice(&[i; 200]);
    }
    let mut input = with_body("MPUB t", &list);
    input.extend_from_slice(&with_body("PUB t", b"hello"));
    let s = SessionView::default();
    for server in [true, false] {
        let mut d = CommandDecoder::new(Limits::default());
        let mut buf = BytesMut::with_capacity(input.len());
        buf.extend_from_slice(&input);
        let base = buf.as_ptr() as usize;
        let end = base + buf.capacity();
        let in_buf = |b: &Bytes| (base..end).contains(&(b.as_ptr() as usize));
        let mut bodies = Vec::new();
        loop {
            let event = if server { d.decode_server(&mut buf, &s) } else { d.decode(&mut buf).map(|c| c.map(ServerEvent::Command)) };
            match event.unwrap() {
                Some(ServerEvent::Command(Command::Mpub { bodies: b, .. })) => bodies.extend(b),
                Some(ServerEvent::Command(Command::Pub { body, .. })) => bodies.push(body),
                Some(_) => {}
                None => break,
            }
        }
        assert_eq!(bodies.len(), 13);
        assert_eq!(&bodies[12][..], b"hello");
        assert!(bodies[..12].iter().enumerate().all(|(i, b)| b[..] == [i as u8; 200][..]));
        if server {
            assert!(!bodies.iter().any(in_buf), "a server's body points into the read buffer");
            let chunk_starts = bodies[..12].windows(2).filter(|w| w[0].as_ptr().wrapping_add(200) != w[1].as_ptr()).count();
            assert_eq!(chunk_starts, 2, "12 bodies of 200 B in chunks of five");
        } else {
            assert!(bodies.iter().all(in_buf), "permissive mode slices the read buffer");
        }
    }
}
