"""Eureka's face of `weir registry`, driven by py-eureka-client (the client library, unchanged).

The client registers with JSON and reads XML (it sends no `Accept`); an XML registration as
Eureka's Java client can send is posted by hand. The client's own heartbeat thread is held off
(a one-hour renewal interval) and each heartbeat is sent explicitly, so the tests decide when
renewals happen; waits are bounded polls (no speed is asserted).
"""
import asyncio
import json

import consul
from py_eureka_client import eureka_basic
from py_eureka_client.eureka_client import EurekaClient

from support import http
from weir_proc import wait_until

import py_eureka_client.logger
# The client logs every refused heartbeat with a traceback; the 404 test provokes one on purpose.
py_eureka_client.logger.set_level("ERROR")

# A fast sweep, and self-preservation off: with one or two instances, one that stops renewing is
# already "too few renewals" and the registry would rightly keep it instead of evicting it.
SWEEP = ["--sweep-interval=100ms", "--self-preservation-min-renewals=1000000"]
EVENTUALLY_S = 30


def url(reg):
    return "http://%s/eureka/" % reg.http_address


def client(reg, app="orders", port=8080, duration_s=90):
    return EurekaClient(eureka_server=url(reg), app_name=app, instance_ip="127.0.0.1", instance_host="localhost",
                        instance_port=port, renewal_interval_in_secs=3600, duration_in_secs=duration_s,
                        metadata={"zone": "a"})


def instance_id(port=8080, app="orders"):
    return "127.0.0.1:%s:%d" % (app, port)


def apps(reg):
    return asyncio.run(eureka_basic.get_applications(url(reg)))


async def statuses(reg, app="ORDERS"):
    a = (await eureka_basic.get_applications(url(reg))).get_application(app)
    return {i.instanceId: i.status for i in a.instances}


def test_register_heartbeat_status_override_delta_and_cancel(ctx):
    reg = ctx.start_registry(SWEEP)

    async def main():
        c = client(reg)
        await c.start()
        full = await eureka_basic.get_applications(url(reg))
        assert full.appsHashcode == "UP_1_", full.appsHashcode
        app = full.get_application("ORDERS")
        [inst] = app.instances
        assert (inst.instanceId, inst.ipAddr, inst.port.port, inst.port.enabled, inst.status) == \
            (instance_id(), "127.0.0.1", 8080, True, "UP")
        assert inst.metadata["zone"] == "a"
        assert inst.leaseInfo.durationInSecs == 90
        one = await eureka_basic.get_app_instance(url(reg), "ORDERS", instance_id())
        assert one.hostName == "localhost"
        assert [i.instanceId for i in (await eureka_basic.get_application(url(reg), "orders")).instances] == [instance_id()]

        await c.send_heartbeat()
        delta = await eureka_basic.get_delta(url(reg))
        assert delta.appsHashcode == "UP_1_"
        assert [i.actionType for a in delta.applications for i in a.instances] == ["ADDED"]

        await c.status_update("OUT_OF_SERVICE")
        one = await eureka_basic.get_app_instance(url(reg), "ORDERS", instance_id())
        assert (one.status, one.overriddenstatus) == ("OUT_OF_SERVICE", "OUT_OF_SERVICE")
        assert (await eureka_basic.get_applications(url(reg))).appsHashcode == "OUT_OF_SERVICE_1_"
        await c.delete_status_override()
        one = await eureka_basic.get_app_instance(url(reg), "ORDERS", instance_id())
        assert (one.status, one.overriddenstatus) == ("UP", "UNKNOWN")

        await c.stop()  # registers DOWN, then cancels
        full = await eureka_basic.get_applications(url(reg))
        assert full.applications == [], [a.name for a in full.applications]

    asyncio.run(main())


def test_a_heartbeat_that_gets_404_registers_again(ctx):
    """The registry forgets the instance (here: an operator's DELETE); the client's next heartbeat
    gets 404 and it registers again, as Eureka clients do."""
    reg = ctx.start_registry(SWEEP)

    async def main():
        c = client(reg, port=8081)
        await c.start()
        status, _ = http(reg, "DELETE", "/eureka/apps/ORDERS/%s" % instance_id(8081))
        assert status == 200
        status, _ = http(reg, "PUT", "/eureka/apps/ORDERS/%s" % instance_id(8081))
        assert status == 404
        await c.send_heartbeat()
        assert await statuses(reg) == {instance_id(8081): "UP"}
        await c.stop()

    asyncio.run(main())


def test_an_instance_that_stops_renewing_expires_after_its_lease(ctx):
    reg = ctx.start_registry(SWEEP)

    async def main():
        c = client(reg, port=8082, duration_s=2)
        await c.start()
        for _ in range(3):
            await c.send_heartbeat()
            await asyncio.sleep(0.5)
        assert await statuses(reg) == {instance_id(8082): "UP"}

    asyncio.run(main())
    wait_until(lambda: apps(reg).applications == [], EVENTUALLY_S, "the silent instance's lease to expire")


def test_xml_registration_as_the_java_client_sends_it(ctx):
    reg = ctx.start_registry(SWEEP)
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<instance>
  <instanceId>billing-1</instanceId><hostName>billing-host</hostName><app>BILLING</app>
  <ipAddr>10.0.0.5</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>
  <port enabled="true">7000</port><securePort enabled="false">443</securePort><countryId>1</countryId>
  <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
  <leaseInfo><renewalIntervalInSecs>30</renewalIntervalInSecs><durationInSecs>90</durationInSecs></leaseInfo>
  <metadata class="java.util.Collections$EmptyMap"/>
  <vipAddress>billing</vipAddress><secureVipAddress>billing</secureVipAddress>
  <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
  <lastUpdatedTimestamp>1700000000000</lastUpdatedTimestamp><lastDirtyTimestamp>1700000000000</lastDirtyTimestamp>
</instance>"""
    import urllib.request
    req = urllib.request.Request("%sapps/BILLING" % url(reg), data=body, method="POST",
                                 headers={"Content-Type": "application/xml"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204
    inst = asyncio.run(eureka_basic.get_app_instance(url(reg), "BILLING", "billing-1"))
    assert (inst.hostName, inst.ipAddr, inst.port.port, inst.vipAddress, inst.status) == \
        ("billing-host", "10.0.0.5", 7000, "billing", "UP")
    # JSON for a client that asks for it.
    req = urllib.request.Request("%sapps/BILLING" % url(reg), headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        doc = json.loads(r.read())
    assert doc["application"]["instance"][0]["port"] == {"$": 7000, "@enabled": "true"}


def test_eureka_registrations_are_visible_through_consul_and_the_native_api(ctx):
    reg = ctx.start_registry(SWEEP)

    async def main():
        c = client(reg, app="pay", port=9090)
        await c.start()
        return c

    c = asyncio.run(main())
    status, body = http(reg, "GET", "/api/services/pay")
    assert status == 200, (status, body)
    native = json.loads(body)["instances"]
    assert [(i["id"], i["port"], i["status"]) for i in native] == [(instance_id(9090, "pay"), 9090, "passing")]
    cons = consul.Consul(host="127.0.0.1", port=reg.http_port)
    _, nodes = cons.health.service("pay", passing=True)
    assert [(n["Service"]["ID"], n["Service"]["Address"], n["Service"]["Port"]) for n in nodes] == \
        [(instance_id(9090, "pay"), "127.0.0.1", 9090)]
    asyncio.run(c.status_update("OUT_OF_SERVICE"))
    assert cons.health.service("pay", passing=True)[1] == [], "out of service is not passing"
    asyncio.run(c.stop())
    assert cons.health.service("pay")[1] == []
