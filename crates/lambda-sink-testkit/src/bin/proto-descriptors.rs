//! `proto-descriptors INCLUDE_DIR FILE...`: compiles `.proto` files with
//! protox (no protoc needed) and writes their `FileDescriptorSet`, imports
//! included, to stdout. The fixture generator uses it to build Python
//! message classes for Confluent's Protobuf serializer.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

use std::io::Write;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let include = args
        .next()
        .context("usage: proto-descriptors INCLUDE_DIR FILE...")?;
    let files: Vec<String> = args.collect();
    anyhow::ensure!(
        !files.is_empty(),
        "usage: proto-descriptors INCLUDE_DIR FILE..."
    );
    let set = protox::compile(&files, [&include]).context("compiling")?;
    let bytes = prost::Message::encode_to_vec(&set);
    std::io::stdout().write_all(&bytes)?;
    Ok(())
}
