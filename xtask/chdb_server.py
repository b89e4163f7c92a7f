"""A local ClickHouse server from the engine embedded in chdb-core (pinned).

Usage: python chdb_server.py DATA_DIR
Run it with the working directory holding config.xml (listen_host, http_port,
tcp_port), under setsid (SYSTEM SHUTDOWN signals the whole process group).
The listeners live while the query below runs, i.e. until the process is
stopped (SIGTERM). See shared/clickhouse-local.md; used by
`cargo xtask clickhouse` and by the tests' LocalClickHouse.
"""

import sys

# A private API of chdb-core 26.9.0: chdb.connect() sessions cannot start
# listeners ("start_servers_callback is not set").
from chdb import _chdb

# One row per second, forever: keeps the listeners up at ~0.4 % CPU.
FOREVER = (
    "SELECT sleepEachRow(1) FROM numbers(1000000000000000) "
    "SETTINGS max_block_size = 1 FORMAT Null"
)


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: chdb_server.py DATA_DIR", file=sys.stderr)
        return 2
    data = sys.argv[1]
    # One query per process: a second _chdb.query fails ("EventNotifier is
    # initialized twice").
    print(f"chdb_server: data {data}", flush=True)
    # The output format given here becomes the HTTP interface's
    # default_format: TabSeparated, as on clickhouse-server.
    _chdb.query(
        f"SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; {FOREVER}",
        "TabSeparated",
        path=data,
    )
    print("chdb_server: the endless query returned", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
