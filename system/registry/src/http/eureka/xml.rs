//! Eureka's XML, mapped to and from the value tree of [`super::json`]: an object's `@name` keys are
//! attributes, its `$` key is text, other keys are child elements (an array under a key is that
//! element repeated). So `<port enabled="true">8080</port>` is `{"$": "8080", "@enabled": "true"}`
//! and `<application>` repeated inside `<applications>` is its `application` array. Eureka's XML
//! spells the override `overriddenstatus`; py-eureka-client reads only XML.
//!
//! Parsing uses roxmltree, which refuses DTDs (no entity expansion) and is bounded here by a node
//! limit on top of the body size limit.

use serde_json::{Map, Value};

use super::error::EurekaError;

/// Most XML nodes one body may have.
pub const NODES_MAX: u32 = 20_000;

/// Writes `value` as the element `name`, preceded by an XML declaration.
pub fn document(name: &str, value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    element(&mut out, name, value);
    out
}

fn xml_name(key: &str) -> &str {
    match key {
        "overriddenStatus" => "overriddenstatus",
        other => other,
    }
}

fn element(out: &mut String, name: &str, value: &Value) {
    let name = xml_name(name);
    match value {
        Value::Array(items) => {
            for item in items {
                element(out, name, item);
            }
        }
        Value::Object(m) => {
            out.push('<');
            out.push_str(name);
            for (k, v) in m.iter().filter(|(k, _)| k.starts_with('@')) {
                out.push(' ');
                out.push_str(&k[1..]);
                out.push_str("=\"");
                escape_into(out, &scalar(v));
                out.push('"');
            }
            let children: Vec<_> = m.iter().filter(|(k, _)| !k.starts_with('@')).collect();
            if children.is_empty() {
                out.push_str("/>");
                return;
            }
            out.push('>');
            for (k, v) in children {
                if k == "$" {
                    escape_into(out, &scalar(v));
                } else {
                    element(out, k, v);
                }
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        scalar_value => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            escape_into(out, &scalar(scalar_value));
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// Parses an XML body into `{root_name: value}`.
pub fn parse(text: &str) -> Result<Value, EurekaError> {
    let opts = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: NODES_MAX };
    let doc = roxmltree::Document::parse_with_options(text, opts)
        .map_err(|e| EurekaError::bad_request(format!("malformed XML: {e}")))?;
    let root = doc.root_element();
    let mut m = Map::new();
    m.insert(root.tag_name().name().to_string(), node_value(root, 0)?);
    Ok(Value::Object(m))
}

/// Deepest element nesting accepted (an instance needs 4).
const DEPTH_MAX: usize = 16;

fn node_value(node: roxmltree::Node, depth: usize) -> Result<Value, EurekaError> {
    if depth > DEPTH_MAX {
        return Err(EurekaError::bad_request("XML nested too deeply"));
    }
    let children: Vec<_> = node.children().filter(|c| c.is_element()).collect();
    let text: String = node.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
    let attrs: Vec<_> = node.attributes().collect();
    if children.is_empty() && attrs.is_empty() {
        return Ok(Value::String(text.trim().to_string()));
    }
    let mut m = Map::new();
    for a in attrs {
        m.insert(format!("@{}", a.name()), Value::String(a.value().to_string()));
    }
    if !text.trim().is_empty() {
        m.insert("$".to_string(), Value::String(text.trim().to_string()));
    }
    for c in children {
        let key = c.tag_name().name().to_string();
        let v = node_value(c, depth + 1)?;
        match m.get_mut(&key) {
            None => {
                m.insert(key, v);
            }
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
        }
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::eureka::json::{applications_value, instance_value, parse_instance, tests::sample};
    use crate::http::eureka::status::EurekaStatus;
    use serde_json::json;

    /// What Eureka's Java client sends when configured for XML.
    const JAVA_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<instance>
  <instanceId>10.0.0.5:billing:7000</instanceId>
  <hostName>billing-host</hostName>
  <app>BILLING</app>
  <ipAddr>10.0.0.5</ipAddr>
  <status>UP</status>
  <overriddenstatus>UNKNOWN</overriddenstatus>
  <port enabled="true">7000</port>
  <securePort enabled="false">443</securePort>
  <countryId>1</countryId>
  <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
    <name>MyOwn</name>
  </dataCenterInfo>
  <leaseInfo>
    <renewalIntervalInSecs>10</renewalIntervalInSecs>
    <durationInSecs>30</durationInSecs>
  </leaseInfo>
  <metadata>
    <zone>a &amp; b</zone>
  </metadata>
  <homePageUrl>http://billing-host:7000/</homePageUrl>
  <vipAddress>billing</vipAddress>
  <secureVipAddress/>
  <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
  <lastUpdatedTimestamp>1700000000000</lastUpdatedTimestamp>
  <lastDirtyTimestamp>1700000000000</lastDirtyTimestamp>
</instance>"#;

    #[test]
    fn parses_a_java_xml_registration() {
        let v = parse(JAVA_XML).unwrap();
        let i = parse_instance(&v, "billing").unwrap();
        assert_eq!(i.instance_id, "10.0.0.5:billing:7000");
        assert_eq!(i.app, "BILLING");
        assert_eq!(i.port.port, 7000);
        assert!(i.port.enabled);
        assert!(!i.secure_port.enabled);
        assert_eq!(i.lease_info.duration_secs, 30);
        assert_eq!(i.lease_info.renewal_interval_secs, 10);
        assert_eq!(i.metadata.get("zone").map(String::as_str), Some("a & b"));
        assert_eq!(i.secure_vip_address, "");
        assert_eq!(i.status, EurekaStatus::Up);
    }

    #[test]
    fn renders_what_py_eureka_client_parses() {
        let mut i = sample();
        i.overridden_status = EurekaStatus::OutOfService;
        let doc = document("applications", &applications_value(3, "OUT_OF_SERVICE_1_", &[("MY-APP".into(), vec![i])]));
        assert!(doc.starts_with("<?xml"));
        assert!(doc.contains("<versions__delta>3</versions__delta>"));
        assert!(doc.contains("<apps__hashcode>OUT_OF_SERVICE_1_</apps__hashcode>"));
        assert!(doc.contains("<application><name>MY-APP</name><instance>"));
        assert!(doc.contains(r#"<port enabled="true">8080</port>"#), "{doc}");
        assert!(doc.contains("<overriddenstatus>OUT_OF_SERVICE</overriddenstatus>"));
        assert!(doc.contains(r#"<dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name>"#));
        assert!(doc.contains("<management.port>8080</management.port>"));
        // And it reads back.
        let back = parse(&doc).unwrap();
        assert_eq!(back["applications"]["application"]["instance"]["port"], json!({"@enabled": "true", "$": "8080"}));
    }

    #[test]
    fn escaping_and_empty_maps() {
        let mut i = sample();
        i.metadata = [("k".to_string(), "<a href=\"x\">&</a>".to_string())].into();
        let doc = document("instance", &instance_value(&i));
        assert!(doc.contains("<k>&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;</k>"));
        let again = parse_instance(&parse(&doc).unwrap(), "MY-APP").unwrap();
        assert_eq!(again.metadata, i.metadata);
        i.metadata.clear();
        let doc = document("instance", &instance_value(&i));
        assert!(doc.contains(r#"<metadata class="java.util.Collections$EmptyMap"/>"#));
    }

    #[test]
    fn hostile_xml_is_a_400() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><instance>&lol;</instance>"#;
        assert_eq!(parse(bomb).unwrap_err().status, 400);
        assert_eq!(parse("<instance>").unwrap_err().status, 400);
        assert_eq!(parse("not xml").unwrap_err().status, 400);
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(parse(&deep).unwrap_err().status, 400);
    }
}
