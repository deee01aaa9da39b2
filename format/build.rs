//! Compiles the manifest's `.proto` files in `spec/proto/` (the single definition) into
//! Rust with prost. protox parses them, so no system `protoc` is needed.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/proto");
    let files = [
        "vouch/v1/common.proto",
        "vouch/v1/descriptor.proto",
        "vouch/v1/manifest.proto",
        "vouch/v1/job.proto",
        "vouch/v1/encryption.proto",
        "vouch/v1/schedule.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = match protox::compile(files, [&root]) {
        Ok(fds) => fds,
        Err(e) => {
            eprintln!("error: compiling {}: {e:?}", root.display());
            std::process::exit(1);
        }
    };
    let mut config = prost_build::Config::new();
    config.btree_map(["."]);
    if let Err(e) = config.compile_fds(fds) {
        eprintln!("error: generating Rust from the manifest protos: {e}");
        std::process::exit(1);
    }
}
