"""A DNS server of the test's own, on 127.0.0.1 (dnslib), answering from a
zone file over UDP and TCP: SPF, DKIM, DMARC and MX records right or
wrong, as a test needs them. Never the machine's resolver.

Usage: dns_server.py PORT ZONE_FILE  (prints "ready" once listening)
"""
import os
import sys
import time

from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver

port = int(sys.argv[1])
resolver = ZoneResolver(open(sys.argv[2]).read(), glob=False)
# Silent: the test stops reading our stdout after "ready".
quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
for tcp in (False, True):
    DNSServer(resolver, port=port, address="127.0.0.1", tcp=tcp, logger=quiet).start_thread()
print("ready", flush=True)
sys.stdout = open(os.devnull, "w")
while True:
    time.sleep(1)
