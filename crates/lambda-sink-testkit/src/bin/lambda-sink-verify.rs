//! `lambda-sink-verify TOPIC PARTITIONS CONNECTOR_ID [FUNCTION]`: the
//! zero-loss verifier for a finished run, against the services in
//! `LAMBDA_SINK_TEST_*` (see `scripts/services.sh env`). Prints the verdict
//! as JSON; exits 1 when a record was lost.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

use anyhow::Context;
use lambda_sink_testkit::Services;
use lambda_sink_testkit::verify::Run;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: lambda-sink-verify TOPIC PARTITIONS CONNECTOR_ID [FUNCTION]";
    let (topic, partitions, connector) = match args.as_slice() {
        [t, p, c, ..] => (t.as_str(), p.parse::<i32>().context(usage)?, c.as_str()),
        _ => anyhow::bail!(usage),
    };
    let run = Run {
        topic,
        partitions,
        connector,
        function: args.get(3).map(String::as_str),
    };
    let verdict = Services::from_env().verify(&run).await?;
    println!("{}", serde_json::to_string_pretty(&verdict)?);
    eprintln!("{}", verdict.summary());
    if verdict.lost_count > 0 {
        std::process::exit(1);
    }
    Ok(())
}
