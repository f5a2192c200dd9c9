"""Reads wrk --latency output; prints "requests_per_second p50_ms p99_ms"."""
import re
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def millis(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]


output = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
p50 = millis(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
p99 = millis(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
print(f"{rps:.0f} {p50:.2f} {p99:.2f}")
