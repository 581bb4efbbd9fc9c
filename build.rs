//! Compiles the protos with protox (pure Rust), so a fresh machine needs nothing beyond cargo.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/creditledger/v1/common.proto",
        "proto/creditledger/v1/accounts.proto",
        "proto/creditledger/v1/credits.proto",
        "proto/creditledger/v1/usage.proto",
        "proto/creditledger/v1/events.proto",
        "proto/creditledger/v1/journal.proto",
        "proto/creditledger/v1/keys.proto",
        "proto/creditledger/v1/pricing.proto",
        "proto/creditledger/v1/budgets.proto",
        "proto/creditledger/v1/refills.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Server reflection serves this descriptor set.
    std::fs::write(
        out_dir.join("creditledger_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    // `sqlx::migrate!` embeds the migrations at compile time: a migration added or changed
    // without a change to Rust code must still rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    Ok(())
}
