use super::*;

const GOOD: &str = r#"
[gateway]
max_body_bytes = 1048576

[admin]
listen = "127.0.0.1:9901"

[[listener]]
name = "public"
listen = "127.0.0.1:8080"

[[route]]
name = "api"
host = "*.example.com"
path_prefix = "/api"
upstreams = ["127.0.0.1:9001 weight=5", "127.0.0.1:9002 max_fails=3 fail_timeout_ms=5000"]
balancer = "consistent_hash"
hash_key = "header:x-user"
middleware = ["request_id", "rate_limit", "retry"]
rate_limit = { client_per_s = 10, client_burst = 20 }

[[route]]
name = "orders"
service = "orders"

[services.orders]
upstreams = ["127.0.0.1:9100"]
"#;

#[test]
fn a_full_file_parses() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.settings.max_body_bytes, 1_048_576);
    assert_eq!(c.admin, Some("127.0.0.1:9901".parse().unwrap()));
    assert_eq!(c.routes.len(), 2);
    let api = &c.routes[0];
    assert_eq!(api.host, Some(HostMatch::Suffix(".example.com".into())));
    assert!(api.host.as_ref().unwrap().matches("a.example.com"));
    let Target::Static(set) = &api.target else { panic!() };
    assert_eq!((set[0].weight, set[1].max_fails, set[1].fail_timeout_ms), (5, 3, 5000));
    assert_eq!(api.middleware, vec![Middleware::RequestId, Middleware::RateLimit, Middleware::Retry]);
    assert_eq!(api.rate_limit.per_client.unwrap().burst, 20.0);
    assert_eq!(c.routes[1].target, Target::Service("orders".into()));
    assert_eq!(c.services["orders"][0].addr, "127.0.0.1:9100");
}

fn error_of(text: &str) -> ConfigError {
    parse(text).expect_err("must be rejected")
}

#[test]
fn errors_name_the_line_and_the_field() {
    let bad_balancer = GOOD.replace("balancer = \"consistent_hash\"", "balancer = \"fastest\"");
    let e = error_of(&bad_balancer);
    assert_eq!((e.line, e.field.as_str()), (Some(17), "balancer"), "{e}");
    assert!(e.message.contains("fastest"), "{e}");

    let bad_upstream = GOOD.replace("127.0.0.1:9002 max_fails=3", "127.0.0.1:9002 max_fail=3");
    let e = error_of(&bad_upstream);
    assert_eq!((e.line, e.field.as_str()), (Some(16), "route.upstreams"), "{e}");

    let unknown_key = GOOD.replace("strip_prefix", "x").replace("balancer = \"consistent_hash\"", "balancer = \"consistent_hash\"\nbalncer = 1");
    let e = error_of(&unknown_key);
    assert_eq!(e.line, Some(18), "{e}");
    assert!(e.message.contains("balncer"), "{e}");

    let bad_mw = GOOD.replace("\"rate_limit\", \"retry\"", "\"rate_limit\", \"retyr\"");
    let e = error_of(&bad_mw);
    assert_eq!((e.line, e.field.as_str()), (Some(19), "route.middleware"), "{e}");
    assert!(e.to_string().starts_with("config line 19, field `route.middleware`"), "{e}");

    let bad_listen = GOOD.replace("127.0.0.1:8080", "localhost-8080");
    assert_eq!(error_of(&bad_listen).line, Some(10));

    let no_target = GOOD.replace("service = \"orders\"", "");
    assert_eq!(error_of(&no_target).field, "route.upstreams");

    let syntax = GOOD.replace("[gateway]", "[gateway");
    assert_eq!(error_of(&syntax).line, Some(2));
}

#[test]
fn the_documented_example_parses() {
    let c = parse(include_str!("example.toml")).unwrap();
    assert_eq!(c.routes.len(), 3);
    assert_eq!(c.routes[0].middleware.len(), 8);
    assert_eq!(c.routes[0].response_headers.remove, vec![http::header::SERVER]);
}

#[test]
fn registry_section_is_parsed_and_checked() {
    let ok = "[registry]\naddresses = [\"10.0.0.1:4500\", \"http://reg2:4500\"]\nkeepalive_ms = 2000\nmax_fails = 3\n\n\
              [[route]]\nname = \"orders\"\nservice = \"orders\"\n";
    let c = parse(ok).unwrap();
    let r = c.registry.unwrap();
    assert_eq!(r.addresses, vec!["10.0.0.1:4500".to_string(), "http://reg2:4500".to_string()]);
    assert_eq!((r.keepalive_ms, r.max_fails, r.wait_ms), (2_000, 3, 30_000));

    let bad_addr = "[registry]\naddresses = [\n  \"10.0.0.1:4500\",\n  \"nope\",\n]\n";
    let e = parse(bad_addr).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (Some(4), "registry.addresses"), "{e}");

    let empty = "[registry]\naddresses = []\n";
    assert_eq!(parse(empty).unwrap_err().field, "registry.addresses");

    let zero = "[registry]\naddresses = [\"r:1\"]\nwait_ms = 0\n";
    assert_eq!(parse(zero).unwrap_err().field, "registry.wait_ms");

    let unknown = "[registry]\naddresses = [\"r:1\"]\nbogus = 1\n";
    assert!(parse(unknown).unwrap_err().message.contains("bogus"));

    let both = "[registry]\naddresses = [\"r:1\"]\n\n[services.orders]\nupstreams = [\"127.0.0.1:1\"]\n";
    assert_eq!(parse(both).unwrap_err().field, "registry");
}
