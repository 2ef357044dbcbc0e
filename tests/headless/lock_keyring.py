#!/usr/bin/python3
"""Locks the Secret Service's default collection (what a screen lock or a fresh login does),
through the org.freedesktop.Secret.Service D-Bus API. Needs Debian's python3-dbus."""
import dbus

bus = dbus.SessionBus()
service = dbus.Interface(bus.get_object("org.freedesktop.secrets", "/org/freedesktop/secrets"),
                         "org.freedesktop.Secret.Service")
alias = service.ReadAlias("default")
locked, _prompt = service.Lock([alias])
print("locked", [str(p) for p in locked])
