//! What the suite does with each Kafka API: the versions the decoder reads
//! (every request `kafka-protocol` defines), whether the reference broker
//! answers it, whether sessions send it. `kafka-fuzz apis` prints it;
//! `docs/apis.md` is its output, checked by a test.

use std::fmt::Write;

use crate::harness::input::SESSION_APIS;
use crate::server::broker::{ANSWERED_APIS, SASL_APIS};
use crate::server::wire::SUPPORTED_APIS;

/// The markdown table, one row per API in api key order, and a total line.
pub fn api_coverage_table() -> String {
    let mark = |yes: bool| if yes { "yes" } else { "" };
    let mut table = String::from(
        "| key | API | versions decoded | answered by the broker | sent in sessions |\n|---:|---|---|---|---|\n",
    );
    let (mut versions, mut answered, mut in_sessions) = (0, 0, 0);
    for api in SUPPORTED_APIS {
        let is_answered = ANSWERED_APIS.contains(&api.key);
        let answered_with_sasl = SASL_APIS.contains(&api.key);
        let in_session = SESSION_APIS.contains(&api.key);
        versions += i32::from(api.versions.max - api.versions.min) + 1;
        answered += usize::from(is_answered || answered_with_sasl);
        in_sessions += usize::from(in_session);
        writeln!(
            table,
            "| {} | {} | {}–{} | {} | {} |",
            api.key as i16,
            api.name,
            api.versions.min,
            api.versions.max,
            if answered_with_sasl {
                "with `serve --sasl-user`"
            } else {
                mark(is_answered)
            },
            mark(in_session)
        )
        .expect("writing to a String");
    }
    writeln!(
        table,
        "\n{} APIs, {versions} API versions decoded; {answered} APIs answered; {in_sessions} sent in sessions.",
        SUPPORTED_APIS.len()
    )
    .expect("writing to a String");
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_holds_the_table() {
        let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/apis.md")).expect("docs/apis.md");
        assert!(
            page.contains(&api_coverage_table()),
            "docs/apis.md is stale: put `kafka-fuzz apis` under its last heading"
        );
    }

    #[test]
    fn every_api_has_a_row() {
        let table = api_coverage_table();
        assert_eq!(
            table.lines().filter(|line| line.starts_with("| ")).count(),
            1 + SUPPORTED_APIS.len()
        );
        assert!(table.contains("| 0 | Produce | 3–13 | yes | yes |"));
        assert!(table.contains("| 52 | Vote | "));
    }
}
