use super::*;
use proptest::prelude::*;

fn set() -> FlagSet {
    let mut f = FlagSet::new("nsqd");
    f.add(Flag::new("verbose", Kind::Bool, "false", "be loud"));
    f.add(Flag::new("snappy", Kind::Bool, "true", "enable snappy"));
    f.add(Flag::new("tcp-address", Kind::String, "0.0.0.0:4150", "<addr>:<port> to listen on for TCP clients"));
    f.add(Flag::new("mem-queue-size", Kind::Int, "10000", "messages in memory"));
    f.add(Flag::new("msg-timeout", Kind::Duration, "1m0s", "default duration to wait before auto-requeing a message"));
    f.add(Flag::new("lookupd-tcp-address", Kind::String, "", "lookupd TCP address (may be given multiple times)").repeatable());
    f.add(Flag::new("ratio", Kind::Float, "0.25", "a float"));
    f.add(
        Flag::new("tls-required", Kind::Custom { bool_like: true }, "false", "require TLS")
            .validate(|v| if ["true", "false", "tcp-https"].contains(&v) { Ok(()) } else { Err("bad".into()) }),
    );
    f
}

fn args(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn parse(s: &[&str]) -> Result<Parsed, ParseError> {
    set().parse(&args(s))
}

fn err(s: &[&str]) -> String {
    match parse(s) {
        Err(ParseError::Invalid(m)) => m,
        other => panic!("expected an error for {s:?}, got {other:?}"),
    }
}

#[test]
fn one_and_two_dashes_equals_or_separate_values() {
    for a in [
        &["-tcp-address=1.2.3.4:5"][..],
        &["--tcp-address=1.2.3.4:5"],
        &["-tcp-address", "1.2.3.4:5"],
        &["--tcp-address", "1.2.3.4:5"],
    ] {
        let p = parse(a).unwrap();
        assert_eq!(p.str("tcp-address"), "1.2.3.4:5", "{a:?}");
        assert!(p.is_set("tcp-address"));
    }
    let p = parse(&[]).unwrap();
    assert_eq!(p.str("tcp-address"), "0.0.0.0:4150");
    assert!(!p.is_set("tcp-address"));
    assert_eq!(p.int("mem-queue-size"), 10000);
    assert_eq!(p.duration_ns("msg-timeout"), 60_000_000_000);
}

#[test]
fn booleans_are_bare_or_take_an_equals_value() {
    assert!(parse(&["-verbose"]).unwrap().bool("verbose"));
    assert!(!parse(&["-snappy=false"]).unwrap().bool("snappy"));
    assert!(!parse(&["--snappy=0"]).unwrap().bool("snappy"));
    assert!(parse(&["--snappy=T"]).unwrap().bool("snappy"));
    // A separate word after a boolean is not its value: it ends the flags.
    let p = parse(&["-snappy", "false", "-verbose"]).unwrap();
    assert!(p.bool("snappy"));
    assert!(!p.bool("verbose"));
    assert_eq!(p.args, args(&["false", "-verbose"]));
    assert_eq!(err(&["-verbose=yes"]), r#"invalid boolean value "yes" for -verbose: parse error"#);
}

#[test]
fn bool_like_custom_flags() {
    assert_eq!(parse(&["-tls-required"]).unwrap().str("tls-required"), "true");
    assert_eq!(parse(&["-tls-required=tcp-https"]).unwrap().str("tls-required"), "tcp-https");
    assert_eq!(err(&["-tls-required=maybe"]), r#"invalid value "maybe" for flag -tls-required: bad"#);
}

#[test]
fn repeatable_flags_keep_every_value_and_others_the_last() {
    let p = parse(&["-lookupd-tcp-address=a:1", "--lookupd-tcp-address", "b:2", "-mem-queue-size=1", "-mem-queue-size=2"])
        .unwrap();
    assert_eq!(p.all("lookupd-tcp-address"), args(&["a:1", "b:2"]));
    assert_eq!(p.int("mem-queue-size"), 2);
    assert!(parse(&[]).unwrap().all("lookupd-tcp-address").is_empty());
}

#[test]
fn durations_as_go_writes_them() {
    let ok: &[(&str, i64)] = &[
        ("60s", 60_000_000_000),
        ("1m0s", 60_000_000_000),
        ("250ms", 250_000_000),
        ("1h", 3_600_000_000_000),
        ("1.5s", 1_500_000_000),
        (".5s", 500_000_000),
        ("1.s", 1_000_000_000),
        ("0", 0),
        ("-0", 0),
        ("+5s", 5_000_000_000),
        ("-2ms", -2_000_000),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006),
        ("10µs", 10_000),
        ("10μs", 10_000),
        ("2562047h47m16.854775807s", i64::MAX),
        ("-2562047h47m16.854775808s", i64::MIN),
    ];
    for (s, ns) in ok {
        assert_eq!(parse_duration_ns(s), Some(*ns), "{s}");
    }
    for s in ["", "1", "s", ".s", "1x", "1.2.3s", "-", "1s ", " 1s", "2562047h47m16.854775808s", "9999999999999999999h"] {
        assert_eq!(parse_duration_ns(s), None, "{s:?}");
    }
    assert_eq!(err(&["-msg-timeout=60"]), r#"invalid value "60" for flag -msg-timeout: parse error"#);
}

#[test]
fn durations_print_as_go_prints_them() {
    for (ns, s) in [
        (0, "0s"),
        (60_000_000_000, "1m0s"),
        (3_600_000_000_000, "1h0m0s"),
        (900_000_000_000, "15m0s"),
        (2_000_000_000, "2s"),
        (1_500_000_000, "1.5s"),
        (250_000_000, "250ms"),
        (1_500, "1.5µs"),
        (7, "7ns"),
        (-60_000_000_000, "-1m0s"),
    ] {
        assert_eq!(format_duration_ns(ns), s);
    }
}

#[test]
fn integers_as_go_parses_them() {
    for (s, v) in [("10", 10), ("-3", -3), ("+4", 4), ("0x10", 16), ("0o17", 15), ("017", 15), ("0b101", 5), ("0x_1F", 31), ("1_0", -999)] {
        if v == -999 {
            assert!(parse_int(s).is_err(), "{s}");
        } else {
            assert_eq!(parse_int(s), Ok(v), "{s}");
        }
    }
    assert_eq!(parse_int("9223372036854775808"), Err("value out of range".into()));
    assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
    assert_eq!(parse_int("12a"), Err("parse error".into()));
    assert_eq!(err(&["-mem-queue-size=lots"]), r#"invalid value "lots" for flag -mem-queue-size: parse error"#);
    assert_eq!(
        err(&["-mem-queue-size=99999999999999999999"]),
        r#"invalid value "99999999999999999999" for flag -mem-queue-size: value out of range"#
    );
}

#[test]
fn the_errors_go_prints() {
    assert_eq!(err(&["-x"]), "flag provided but not defined: -x");
    assert_eq!(err(&["--nope=1"]), "flag provided but not defined: -nope");
    assert_eq!(err(&["-mem-queue-size"]), "flag needs an argument: -mem-queue-size");
    assert_eq!(err(&["---verbose"]), "bad flag syntax: ---verbose");
    assert_eq!(err(&["-=x"]), "bad flag syntax: -=x");
    assert_eq!(parse(&["-h"]).unwrap_err(), ParseError::Help);
    assert_eq!(parse(&["--help"]).unwrap_err(), ParseError::Help);
    assert_eq!(parse(&["-help=1"]).unwrap_err(), ParseError::Help);
}

#[test]
fn flags_end_at_a_double_dash_or_the_first_argument() {
    let p = parse(&["-verbose", "--", "-snappy=false"]).unwrap();
    assert!(p.bool("snappy"));
    assert_eq!(p.args, args(&["-snappy=false"]));
    let p = parse(&["-", "-verbose"]).unwrap();
    assert!(!p.bool("verbose"));
    assert_eq!(p.args, args(&["-", "-verbose"]));
    // A value that looks like a flag is still a value.
    assert_eq!(parse(&["-tcp-address", "-verbose"]).unwrap().str("tcp-address"), "-verbose");
    // `=` inside the value is kept.
    assert_eq!(parse(&["-tcp-address=a=b"]).unwrap().str("tcp-address"), "a=b");
}

#[test]
fn usage_reads_like_go() {
    let u = set().usage();
    assert!(u.starts_with("Usage of nsqd:\n"));
    assert!(u.contains("  -msg-timeout duration\n    \tdefault duration to wait before auto-requeing a message (default 1m0s)\n"));
    assert!(u.contains("  -tcp-address string\n    \t<addr>:<port> to listen on for TCP clients (default \"0.0.0.0:4150\")\n"));
    assert!(u.contains("  -verbose\n    \tbe loud\n"));
    assert!(u.contains("  -snappy\n    \tenable snappy (default true)\n"));
    assert!(u.contains("  -lookupd-tcp-address value\n"));
    // Sorted by name.
    let names: Vec<&str> = u.lines().filter(|l| l.starts_with("  -")).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn quoting() {
    assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
}

proptest! {
    #[test]
    fn durations_round_trip_through_gos_string(ns in any::<i64>()) {
        prop_assert_eq!(parse_duration_ns(&format_duration_ns(ns)), Some(ns));
    }

    #[test]
    fn integers_round_trip(v in any::<i64>()) {
        prop_assert_eq!(parse_int(&v.to_string()), Ok(v));
        if v >= 0 {
            prop_assert_eq!(parse_int(&format!("0x{v:x}")), Ok(v));
        }
    }

    #[test]
    fn parsing_never_panics(a in proptest::collection::vec("[-=a-z0-9.µ_ ]{0,12}", 0..6)) {
        let _ = set().parse(&a);
        for s in &a {
            let _ = parse_duration_ns(s);
            let _ = parse_int(s);
            let _ = parse_float(s);
        }
    }

    /// Any spelling of the same assignments parses to the same values.
    #[test]
    fn every_syntax_gives_the_same_values(
        size in 0i64..1_000_000,
        ms in 0u64..10_000_000,
        addrs in proptest::collection::vec("[a-z]{1,5}:[0-9]{1,4}", 0..4),
        verbose in any::<bool>(),
        dashes in proptest::collection::vec(any::<bool>(), 8),
        equals in proptest::collection::vec(any::<bool>(), 8),
    ) {
        let mut argv = Vec::new();
        let mut k = 0;
        let mut push = |name: &str, value: String, argv: &mut Vec<String>| {
            let d = if dashes[k % 8] { "--" } else { "-" };
            if equals[k % 8] {
                argv.push(format!("{d}{name}={value}"));
            } else {
                argv.push(format!("{d}{name}"));
                argv.push(value);
            }
            k += 1;
        };
        push("mem-queue-size", size.to_string(), &mut argv);
        push("msg-timeout", format_duration_ns(ms as i64 * 1_000_000), &mut argv);
        for a in &addrs {
            push("lookupd-tcp-address", a.clone(), &mut argv);
        }
        if verbose {
            argv.push("-verbose".into());
        }
        let p = set().parse(&argv).unwrap();
        prop_assert_eq!(p.int("mem-queue-size"), size);
        prop_assert_eq!(p.duration_ns("msg-timeout"), ms as i64 * 1_000_000);
        prop_assert_eq!(p.all("lookupd-tcp-address"), addrs);
        prop_assert_eq!(p.bool("verbose"), verbose);
        prop_assert!(p.args.is_empty());
    }
}
