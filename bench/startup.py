"""Start-up time: from process start to the first successful HTTP answer, on a fresh
data dir each time (so it includes making the first superuser and checking its
password once). Prints the median in milliseconds (one decimal)."""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def once(binary):
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, SWITCHBOARD_SERVER_PORT=str(port),
                   SWITCHBOARD_PATH_DATA=data, SWITCHBOARD_LOGGING_ROOT_LEVEL="warn",
                   SWITCHBOARD_SECURITY_ELASTICPASSWORD="bench-password")
        started = time.perf_counter()
        process = subprocess.Popen([binary, "serve"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = started + 10
            while time.perf_counter() < deadline:
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/api/actions/connector_types",
                        headers={"Authorization": "Basic ZWxhc3RpYzpiZW5jaC1wYXNzd29yZA=="})
                    with urllib.request.urlopen(request, timeout=1) as answer:
                        if answer.status == 200:
                            return (time.perf_counter() - started) * 1000
                except OSError:
                    time.sleep(0.0005)
            raise SystemExit("the server did not answer within 10 s")
        finally:
            process.terminate()
            process.wait()


def main():
    binary, runs = sys.argv[1], int(sys.argv[2])
    print(f"{statistics.median(once(binary) for _ in range(runs)):.1f}")


main()
