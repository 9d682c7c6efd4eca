//! Reading a fault plan from a file for `weir-sim --plan FILE`. Three shapes are accepted, so any
//! artefact a run leaves behind can be fed straight back: a bare JSON array of timed faults, a
//! run record, or a corpus entry. The latter two also name a scenario and seed, which the runner
//! uses when the command line does not.

use std::path::Path;

use history::{RunRecord, TimedFault};

use crate::corpus::CorpusEntry;

#[derive(Debug, Clone, PartialEq)]
pub struct PlanFile {
    pub plan: Vec<TimedFault>,
    pub scenario: Option<String>,
    pub seed: Option<u64>,
}

/// Reads and parses `path`; the error is a sentence fit for a usage message.
pub fn load_plan_file(path: &Path) -> Result<PlanFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_plan(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse_plan(text: &str) -> Result<PlanFile, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if value.is_array() {
        let plan = serde_json::from_value(value).map_err(|e| format!("not a fault plan: {e}"))?;
        return Ok(PlanFile { plan, scenario: None, seed: None });
    }
    if value.get("history").is_some() {
        let r: RunRecord = serde_json::from_value(value).map_err(|e| format!("not a run record: {e}"))?;
        return Ok(PlanFile { plan: r.plan, scenario: Some(r.scenario), seed: Some(r.seed) });
    }
    let e: CorpusEntry = serde_json::from_value(value)
        .map_err(|e| format!("neither a fault plan array, a run record nor a corpus entry: {e}"))?;
    let plan = e.plan.ok_or("this corpus entry has no plan (its seed generates it): use --seed alone")?;
    Ok(PlanFile { plan, scenario: Some(e.scenario), seed: Some(e.seed) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    #[test]
    fn three_shapes() {
        let rec = sample("kv", 8);
        let arr = serde_json::to_string(&rec.plan).unwrap();
        assert_eq!(parse_plan(&arr).unwrap(), PlanFile { plan: rec.plan.clone(), scenario: None, seed: None });
        let from_rec = parse_plan(&serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(from_rec, PlanFile { plan: rec.plan.clone(), scenario: Some("kv".into()), seed: Some(8) });
        let entry = CorpusEntry { scenario: "kv".into(), seed: 2, plan: Some(rec.plan.clone()), note: String::new() };
        let from_entry = parse_plan(&serde_json::to_string(&entry).unwrap()).unwrap();
        assert_eq!(from_entry.seed, Some(2));
        assert!(parse_plan(r#"{"scenario":"kv","seed":2}"#).unwrap_err().contains("no plan"));
        assert!(parse_plan("[{\"at_ms\":1,\"type\":\"nope\"}]").is_err());
    }
}
