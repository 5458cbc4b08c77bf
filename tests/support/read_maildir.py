"""Read every message a Maildir holds, as a mail client would, and check it.

Usage: read_maildir.py MAILDIR DNS_TXT_FILE
Prints one JSON object per message: the recipient Postfix delivered it to
(Delivered-To), the Message-ID, whether it came over TLS (Received ... with
ESMTPS or ESMTPSA), the defects Python's `email` package finds, the part
types, and dkimpy's verdict on its signature with the TXT record given.
"""
import email
import email.policy
import json
import mailbox
import sys

import dkim

record = open(sys.argv[2], "rb").read().strip()

for key, message in mailbox.Maildir(sys.argv[1], factory=None).items():
    raw = message.as_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    received = " ".join(str(r) for r in msg.get_all("Received", []))
    print(json.dumps({
        "delivered_to": str(msg.get("Delivered-To", "")),
        "to": str(msg.get("To", "")),
        "message_id": str(msg.get("Message-ID", "")),
        "tls": "with ESMTPS" in received or "with UTF8SMTPS" in received,
        "defects": [f"{type(d).__name__}" for part in msg.walk() for d in part.defects],
        "parts": [p.get_content_type() for p in msg.walk() if not p.is_multipart()],
        "dkim": bool(dkim.verify(raw, dnsfunc=lambda name, timeout=5: record)),
    }, ensure_ascii=False))
