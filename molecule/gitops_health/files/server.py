"""A throwaway HTTP server for the gitops_health scenario: 127.0.0.1, a free port.

Usage: server.py DIRECTORY SECONDS. Serves DIRECTORY, writes its port and pid to
DIRECTORY/../server.port and server.pid, and exits after SECONDS at the latest.
"""

import functools
import http.server
import os
import sys
import threading
from pathlib import Path

root, seconds = Path(sys.argv[1]), float(sys.argv[2])
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
(root.parent / "server.pid").write_text(f"{os.getpid()}\n")
(root.parent / "server.port").write_text(f"{server.server_address[1]}\n")
threading.Timer(seconds, server.shutdown).start()
server.serve_forever()
