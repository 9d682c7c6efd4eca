//! Reports of simulator runs: the JSON record of each run, the summary of a runner invocation
//! (`latest.json` and a self-contained `latest.html`), and the corpus of once-failing seeds and
//! plans that must stay fixed.
//!
//! Plain std I/O on purpose: this is tooling around the simulator, never part of a simulated
//! service, so it does not go through the runtime seam.

pub mod corpus;
pub mod coverage;
pub mod html;
mod html_coverage;
pub mod plan_file;
pub mod record;
pub mod replay;
pub mod run_page;
pub mod summary;
pub mod text;

pub use corpus::{load_corpus, save_corpus_entry, save_corpus_entry_as, CorpusEntry};
pub use plan_file::{load_plan_file, PlanFile};
pub use record::{read_record, record_path, write_record};
pub use replay::replay_command;
pub use run_page::{run_page_path, write_run_page};
pub use coverage::{KindCount, ScenarioStats, SiteCount};
pub use summary::{write_summary, Failure, PropertyRow, Setup, Summary, DETERMINISM};
