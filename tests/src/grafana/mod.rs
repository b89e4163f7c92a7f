//! The Grafana dashboards of `dashboards/` as data: loading them
//! (`dashboard`), checking their structure (`structure`), turning a
//! panel's query into the SQL ClickHouse receives from Grafana and the
//! ClickHouse data source plugin (`expand`) and checking the answer
//! against what the panel draws (`frame`).

pub mod dashboard;
pub mod expand;
pub mod frame;
pub mod structure;
