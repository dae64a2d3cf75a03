//! Writes the capture a `pipeline_large` input expands to, to look at it with wsscope, tcpdump
//! or Wireshark: `cargo run --manifest-path fuzz/Cargo.toml --example expand -- INPUT OUT.pcap`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, out] = &args[..] else {
        eprintln!("usage: expand INPUT OUT.pcap");
        std::process::exit(2);
    };
    let data = std::fs::read(input).expect("reading the input");
    let capture = wsscope_fuzz::pipeline_large::build(&data);
    std::fs::write(out, &capture).expect("writing the capture");
    eprintln!("{out}: {} bytes", capture.len());
}
