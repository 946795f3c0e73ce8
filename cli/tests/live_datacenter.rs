//! The data center as a process of its own: runs `scripts/interop/datacenter_interop.py`,
//! which puts `aptsim datacenter serve` behind `aptsim proxy smtp --hold --datacenter`, with
//! Python's smtplib sending and Postfix's smtp-sink receiving, and kills the data-center
//! process mid-analysis and starts it again (checks (p1)-(p6) are listed in the script's doc).

mod common;

#[test]
fn a_data_center_process_over_http_judges_dies_and_comes_back() {
    let missing: Vec<String> = ["python3", "smtp-sink"]
        .into_iter()
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    // Debian: apt-get install postfix python3; smtp-sink comes with postfix.
    common::require(&missing, "the data-center interop test");
    common::run_interop_script("datacenter_interop.py");
}
