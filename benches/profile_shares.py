#!/usr/bin/env python3
"""Where `wsscope report` spends its time, by stage, from a perf profile with call stacks.

    perf record -e cpu-clock -F 4999 --call-graph dwarf,16384 -o report.perf \\
        target/release/wsscope report CAPTURE --fail-on never > /dev/null
    perf script -i report.perf -F ip,sym > report.stacks
    python3 benches/profile_shares.py report.stacks

A sample counts for the first stage (in the order below) that has a frame on its stack, so
UTF-8 validation of inflated text counts as UTF-8, not inflation. docs/performance.md uses
these shares to show which costs no amount of tuning removes (reading, inflating, validating).
"""
import collections
import re
import sys

STAGES = [
    ("UTF-8 validation", r"simdutf8|Utf8Stream"),
    ("inflation (zlib-rs, preset dictionary included)", r"zlib_rs::|Inflater::"),
    ("reading the file (read(2) and record parsing)", r"ClassicReader::next_packet|LegacyPcapReader|FileSource"),
    ("packet decoding", r"PacketDecoder::decode"),
    ("HTTP handshakes", r"run_http|run_probe"),
    ("report folding and writing", r"ReportBuilder|ReportFormat|sink::report::"),
]


def samples(path):
    stack = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                if stack:
                    yield stack
                stack = []
                continue
            parts = line.split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else "?")
    if stack:
        yield stack


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    counts = collections.Counter()
    total = 0
    for stack in samples(sys.argv[1]):
        total += 1
        for name, pattern in STAGES:
            if any(re.search(pattern, frame) for frame in stack):
                counts[name] += 1
                break
        else:
            counts["everything else (TCP reassembly, frames, unmasking, events, allocation)"] += 1
    if total == 0:
        sys.exit("no samples")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{100 * n / total:5.1f} %  {name}")
    print(f"{total} samples")


if __name__ == "__main__":
    main()
