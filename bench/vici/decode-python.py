# In-memory decode (no socket) with the python vici package's own decoder: length framing as in
# vici.protocol.Transport, then Packet.parse and Message.deserialize for every segment.
# Usage: python decode-python.py <frames json> <repeat> <rounds>
import json
import struct
import sys
import time

from vici.protocol import Message, Packet

frames = [bytes.fromhex(h) for h in json.load(open(sys.argv[1]))["frames"]]
repeat, rounds = int(sys.argv[2]), int(sys.argv[3])
once = b"".join(struct.pack("!I", len(f)) + f for f in frames)
stream = once * repeat
messages = len(frames) * repeat
times = []
cpu_times = []
for _ in range(rounds):
    t0 = time.perf_counter()
    c0 = time.process_time()
    got = 0
    off = 0
    view = memoryview(stream)
    end = len(stream)
    while off < end:
        (length,) = struct.unpack_from("!I", stream, off)
        payload = bytes(view[off + 4 : off + 4 + length])
        off += 4 + length
        p = Packet.parse(payload)
        if p.response_type == Packet.EVENT:
            Message.deserialize(p.payload)
            got += 1
    assert got == messages, (got, messages)
    times.append((time.perf_counter() - t0) * 1000)
    cpu_times.append((time.process_time() - c0) * 1000)
print(json.dumps({"messages": messages, "times": times, "cpuTimes": cpu_times}))
