#!/usr/bin/env python3
"""TLS clients for mailproxy's e2e tests, from Python's standard library.

usage: tls_clients.py MODE HOST PORT CAFILE USER PASS

MODE is imap-ssl, imap-starttls, pop3-ssl, pop3-stls, smtp-ssl or
smtp-starttls. The certificate is verified against CAFILE. One
"key: value" line per step for the Go test to check.
"""
import imaplib
import poplib
import smtplib
import socket
import ssl
import sys


def main():
    mode, host, port, cafile, user, password = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
    socket.setdefaulttimeout(20)
    ctx = ssl.create_default_context(cafile=cafile)
    if mode.startswith("imap"):
        if mode == "imap-ssl":
            m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx)
        else:
            m = imaplib.IMAP4(host, port)
            typ, _ = m.starttls(ssl_context=ctx)
            print("starttls:", typ)
        typ, data = m.login(user, password)
        print("login:", typ)
        typ, data = m.select("INBOX")
        print("select:", typ, data[0].decode())
        typ, data = m.fetch("1", "(RFC822)")
        for line in data[0][1].decode().splitlines():
            if line.startswith("Subject:"):
                print("subject:", line[len("Subject:"):].strip())
        m.logout()
    elif mode.startswith("pop3"):
        if mode == "pop3-ssl":
            p = poplib.POP3_SSL(host, port, context=ctx)
        else:
            p = poplib.POP3(host, port)
            print("stls:", p.stls(context=ctx).decode().split()[0])
        p.user(user)
        print("login:", p.pass_(password).decode().split()[0])
        print("stat:", p.stat()[0])
        p.quit()
    else:
        if mode == "smtp-ssl":
            s = smtplib.SMTP_SSL(host, port, context=ctx)
            s.ehlo("py.example")
        else:
            s = smtplib.SMTP(host, port)
            s.ehlo("py.example")
            code, _ = s.starttls(context=ctx)
            print("starttls:", code)
            s.ehlo("py.example")
        code, _ = s.login(user, password)
        print("login:", code)
        r = s.sendmail("a@example.org", ["b@example.org"], "Subject: py\r\n\r\nhello\r\n")
        print("sent:", r)
        s.quit()


if __name__ == "__main__":
    main()
