"""Verify DKIM signatures offline with dkimpy, a verifier we did not write.

Usage: dkim_verify.py DNS_TXT_FILE EML...
DNS_TXT_FILE holds the TXT record published at <selector>._domainkey.<domain>
(`v=DKIM1; k=rsa; p=...`). Prints one JSON object per file:
{"file": ..., "ok": true|false, "signature": the DKIM-Signature header}.
"""
import email
import email.policy
import json
import sys

import dkim

record = open(sys.argv[1], "rb").read().strip()


def dns(name, timeout=5):
    return record


for path in sys.argv[2:]:
    raw = open(path, "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    print(json.dumps({
        "file": path,
        "ok": bool(dkim.verify(raw, dnsfunc=dns)),
        "signature": str(msg.get("DKIM-Signature", "")),
    }))
