# The official python `vici` package (PyPI): Session.listen() registers list-sa and ike-updown
# and yields every event decoded; time until `n` events. Usage: python client-python.py <socket> <n>
import json
import socket
import sys
import time

import vici

path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.connect(path)
session = vici.Session(s)
t0 = time.perf_counter()
c0 = time.process_time()
got = 0
for _label, _msg in session.listen(["list-sa", "ike-updown"]):
    got += 1
    if got == n:
        break
ms = (time.perf_counter() - t0) * 1000
cpu_ms = (time.process_time() - c0) * 1000
print(json.dumps({"messages": got, "ms": ms, "cpuMs": cpu_ms, "dropped": 0}))
