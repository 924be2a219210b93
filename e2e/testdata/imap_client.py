#!/usr/bin/env python3
"""IMAP client for mailproxy's e2e tests, using only Python's imaplib.

usage: imap_client.py HOST PORT USER PASS

Logs in, selects INBOX, fetches message 1 and logs out, printing one
"key: value" line per step for the Go test to check. A refused login prints
"login-error: <server text>" and exits 0: the test decides what it expects.
"""
import imaplib
import socket
import sys


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    socket.setdefaulttimeout(20)
    m = imaplib.IMAP4(host, port)
    print("greeting:", m.welcome.decode())
    try:
        typ, data = m.login(user, password)
    except imaplib.IMAP4.error as e:
        msg = e.args[0]
        if isinstance(msg, bytes):
            msg = msg.decode()
        print("login-error:", msg)
        return
    print("login:", typ, data[0].decode())
    typ, data = m.select("INBOX")
    print("select:", typ, data[0].decode())
    typ, data = m.fetch("1", "(RFC822)")
    body = data[0][1].decode()
    print("fetch:", typ, len(body))
    for line in body.splitlines():
        if line.startswith("Subject:"):
            print("subject:", line[len("Subject:"):].strip())
    typ, data = m.logout()
    print("logout:", typ)


if __name__ == "__main__":
    main()
