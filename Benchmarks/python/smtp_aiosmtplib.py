"""The aiosmtplib reference for `scripts/bench smtp`: the same message, the same connection counts.

Usage: smtp_aiosmtplib.py PORT MESSAGE_FILE COUNT CONNECTIONS
Sends COUNT messages to 127.0.0.1:PORT over CONNECTIONS concurrent connections (each reused, as
Herald does) and prints `rate=N` (messages per second).
"""
import asyncio
import sys
import time

import aiosmtplib


async def worker(port, message, count):
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False)
    await client.connect()
    for _ in range(count):
        await client.sendmail("bench@example.com", ["sink@example.com"], message)
    await client.quit()


async def main():
    port, path, count, connections = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    message = open(path, "rb").read()
    start = time.perf_counter()
    await asyncio.gather(*(worker(port, message, count // connections) for _ in range(connections)))
    print(f"rate={int(count / (time.perf_counter() - start))}")


asyncio.run(main())
