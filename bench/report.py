"""Prints the execute comparison and the process figures against the targets in
product.md. Arguments: nginx runs -- switchboard runs -- bare forwarder runs --
idle_kb peak_kb startup_ms, each run being "rps p50 p99"."""
import statistics
import sys

args = sys.argv[1:]
first = args.index("--")
second = args.index("--", first + 1)
third = args.index("--", second + 1)
nginx = [list(map(float, run.split())) for run in args[:first]]
switchboard = [list(map(float, run.split())) for run in args[first + 1:second]]
bare = [list(map(float, run.split())) for run in args[second + 1:third]]
idle_kb, peak_kb, startup_ms = map(float, args[third + 1:])


def row(name, runs):
    for index, (rps, p50, p99) in enumerate(runs, 1):
        print(f"{name:<22} run {index}: {rps:>9.0f} req/s   p50 {p50:>7.2f} ms   p99 {p99:>7.2f} ms")


print()
row("nginx proxy_pass", nginx)
row("switchboard _execute", switchboard)
row("bare axum+reqwest", bare)
mean = lambda runs, i: statistics.mean(run[i] for run in runs)
rps_ratio = mean(switchboard, 0) / mean(nginx, 0)
p99_ratio = mean(switchboard, 2) / mean(nginx, 2)
print()
print(f"throughput ratio switchboard/nginx: {rps_ratio:.2f}   (target >= 0.60)  {'met' if rps_ratio >= 0.6 else 'MISSED'}")
print(f"p99 ratio switchboard/nginx:        {p99_ratio:.2f}   (target <= 2.00)  {'met' if p99_ratio <= 2 else 'MISSED'}")
print(f"for reference, the stack's floor (examples/bare_forwarder.rs): throughput ratio "
      f"{mean(bare, 0) / mean(nginx, 0):.2f} of nginx; Switchboard reaches "
      f"{mean(switchboard, 0) / mean(bare, 0):.2f} of it")
print(f"idle RSS:      {idle_kb / 1024:6.1f} MB   (target <= 30 MB)   {'met' if idle_kb <= 30 * 1024 else 'MISSED'}")
print(f"peak RSS:      {peak_kb / 1024:6.1f} MB   (target <= 100 MB)  {'met' if peak_kb <= 100 * 1024 else 'MISSED'}")
print(f"start-up:      {startup_ms:6.1f} ms   (target <= 200 ms)  {'met' if startup_ms <= 200 else 'MISSED'}")
