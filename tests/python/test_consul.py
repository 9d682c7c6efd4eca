"""Consul's face of `weir registry`, driven by py-consul (the client library, unchanged).

Each test starts one `weir registry --http-address=127.0.0.1:0` with a fast sweep. Waits are
bounded polls for what must eventually happen (no speed is asserted); TTLs are small to keep the
wall time short.
"""
import json
import threading

import consul

from support import http
from weir_proc import wait_until

# A fast sweep, and self-preservation off: with one or two instances, one that stops renewing is
# already "too few renewals" and the registry would rightly keep it instead of evicting it.
SWEEP = ["--sweep-interval=100ms", "--self-preservation-min-renewals=1000000"]
EVENTUALLY_S = 30


def start(ctx):
    reg = ctx.start_registry(SWEEP)
    return reg, consul.Consul(host="127.0.0.1", port=reg.http_port)


def service_ids(nodes):
    return sorted(n["Service"]["ID"] for n in nodes)


def check_status(nodes, service_id):
    for n in nodes:
        if n["Service"]["ID"] == service_id:
            return [c["Status"] for c in n["Checks"] if c["ServiceID"] == service_id][0]
    return None


def test_ttl_check_pass_warn_fail_and_passing_filter(ctx):
    """A service registered with a TTL check starts critical (listed, but hidden by `passing`);
    ttl_pass/warn/fail move it; health entries carry the node's serfHealth check and the check id
    `service:<id>`; the index header is at least 1."""
    _, c = start(ctx)
    assert c.agent.service.register("web", service_id="web-1", address="127.0.0.1", port=8080, tags=["v1"],
                                    check=consul.Check.ttl("30s")) is True
    index, nodes = c.health.service("web")
    assert int(index) >= 1
    assert service_ids(nodes) == ["web-1"]
    assert [ch["CheckID"] for ch in nodes[0]["Checks"]] == ["serfHealth", "service:web-1"]
    assert check_status(nodes, "web-1") == "critical"
    assert c.health.service("web", passing=True)[1] == []

    for verb, status, visible in (("ttl_pass", "passing", True), ("ttl_warn", "warning", False),
                                  ("ttl_fail", "critical", False), ("ttl_pass", "passing", True)):
        assert getattr(c.agent.check, verb)("service:web-1", notes="from py-consul") is True
        assert check_status(c.health.service("web")[1], "web-1") == status, verb
        assert bool(c.health.service("web", passing=True)[1]) == visible, verb

    _, services = c.catalog.services()
    assert services == {"consul": [], "web": ["v1"]}, services
    _, entries = c.catalog.service("web")
    assert [(e["ServiceID"], e["ServicePort"]) for e in entries] == [("web-1", 8080)]
    assert "web-1" in c.agent.services()
    assert c.status.leader().endswith(":8300")


def test_blocking_query_returns_on_a_change_and_times_out_without_one(ctx):
    """`health.service(index=, wait=)` returns as soon as the service changes, with a larger index;
    with no change it returns at the wait with the same index."""
    _, c = start(ctx)
    c.agent.service.register("db", service_id="db-1", port=5432, check=consul.Check.ttl("30s"))
    index, _ = c.health.service("db")

    result = {}

    def blocked():
        result["answer"] = c.health.service("db", index=index, wait="60s")

    t = threading.Thread(target=blocked, daemon=True)
    t.start()
    c.agent.check.ttl_pass("service:db-1")
    t.join(EVENTUALLY_S)
    assert not t.is_alive(), "the blocking query did not return on the change"
    new_index, nodes = result["answer"]
    assert int(new_index) > int(index), (new_index, index)
    assert check_status(nodes, "db-1") == "passing"

    same_index, nodes = c.health.service("db", index=new_index, wait="500ms")
    assert same_index == new_index
    assert service_ids(nodes) == ["db-1"]


def test_deregister_and_unknown_ids(ctx):
    _, c = start(ctx)
    c.agent.service.register("api", service_id="api-1", port=1)
    c.agent.service.register("api", service_id="api-2", port=2)
    assert service_ids(c.health.service("api")[1]) == ["api-1", "api-2"]
    assert c.agent.service.deregister("api-1") is True
    assert service_ids(c.health.service("api")[1]) == ["api-2"]
    # Consul answers 404 for an unknown id, which py-consul reports as False.
    assert c.agent.service.deregister("api-1") is False
    assert c.agent.check.ttl_pass("service:nope") is False


def test_an_instance_that_stops_passing_its_ttl_turns_critical_then_leaves(ctx):
    """A TTL check not updated within its TTL turns critical (hidden by `passing`, still listed);
    after DeregisterCriticalServiceAfter the service is removed."""
    _, c = start(ctx)
    check = consul.Check.ttl("1s")
    check["DeregisterCriticalServiceAfter"] = "1s"
    c.agent.service.register("job", service_id="job-1", port=9, check=check)
    c.agent.check.ttl_pass("service:job-1")
    assert service_ids(c.health.service("job", passing=True)[1]) == ["job-1"]
    wait_until(lambda: check_status(c.health.service("job")[1], "job-1") == "critical", EVENTUALLY_S,
               "job-1's check to turn critical after its TTL")
    wait_until(lambda: c.health.service("job")[1] == [], EVENTUALLY_S,
               "job-1 to be deregistered after DeregisterCriticalServiceAfter")


def test_consul_registrations_are_visible_through_eureka_and_the_native_api(ctx):
    reg, c = start(ctx)
    c.agent.service.register("shop", service_id="shop-1", address="10.1.2.3", port=8081,
                             check=consul.Check.ttl("30s"))
    c.agent.check.ttl_pass("service:shop-1")
    status, body = http(reg, "GET", "/api/services/shop")
    assert status == 200, (status, body)
    native = json.loads(body)["instances"]
    assert [(i["id"], i["address"], i["port"], i["status"]) for i in native] == [("shop-1", "10.1.2.3", 8081, "passing")]

    import asyncio
    from py_eureka_client import eureka_basic
    app = asyncio.run(eureka_basic.get_application("http://%s/eureka/" % reg.http_address, "SHOP"))
    assert [(i.instanceId, i.ipAddr, i.port.port, i.status) for i in app.instances] == [("shop-1", "10.1.2.3", 8081, "UP")]
